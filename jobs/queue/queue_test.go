package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, b := range queuetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			queuetest.RunConformance(t, b)
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	r := queuetest.Miniredis(t)
	newQueue := func(j queue.Jitter) *queue.Queue {
		q, err := queue.New(r.Client, queue.Config{Prefix: r.Prefix, Jitter: j, Logger: queuetest.Logger(t)})
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		return q
	}
	exact := newQueue(queue.JitterNone)
	tests := []struct {
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{0, 0, time.Second},
		{1, 0, time.Second},
		{2, 0, 2 * time.Second},
		{3, 0, 4 * time.Second},
		{9, 0, 256 * time.Second},
		{10, 0, 5 * time.Minute},
		{1000, 0, 5 * time.Minute},
		{3, 10 * time.Second, 10 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{10, time.Hour, time.Hour},
	}
	for _, tt := range tests {
		if got := exact.Backoff(tt.n, tt.retryAfter); got != tt.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tt.n, tt.retryAfter, got, tt.want)
		}
	}

	jittered := []struct {
		jitter queue.Jitter
		low    func(d time.Duration) time.Duration
	}{
		{queue.JitterEqual, func(d time.Duration) time.Duration { return d / 2 }},
		{queue.JitterFull, func(time.Duration) time.Duration { return 0 }},
	}
	for _, j := range jittered {
		q := newQueue(j.jitter)
		for n := 1; n <= 12; n++ {
			ceiling := exact.Backoff(n, 0)
			seen := map[time.Duration]bool{}
			for range 50 {
				got := q.Backoff(n, 0)
				if got < j.low(ceiling) || got > ceiling {
					t.Errorf("Backoff(%d, 0) with jitter %d = %v, want in [%v, %v]", n, j.jitter, got, j.low(ceiling), ceiling)
				}
				seen[got] = true
			}
			if len(seen) < 2 {
				t.Errorf("Backoff(%d, 0) with jitter %d = always %v, want random", n, j.jitter, seen)
			}
			if got := q.Backoff(n, 10*time.Minute); got != 10*time.Minute {
				t.Errorf("Backoff(%d, 10m) with jitter %d = %v, want 10m", n, j.jitter, got)
			}
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	r := queuetest.Miniredis(t)
	tests := []struct {
		name string
		cfg  queue.Config
	}{
		{"unknown kind", queue.Config{Concurrency: map[queue.Kind]int{"render": 1}}},
		{"tiny visibility timeout", queue.Config{VisibilityTimeout: time.Millisecond}},
		{"negative max deliveries", queue.Config{MaxDeliveries: -1}},
		{"negative block", queue.Config{Block: -time.Second}},
		{"negative max len", queue.Config{MaxLen: -1}},
		{"backoff max under base", queue.Config{BackoffBase: time.Minute, BackoffMax: time.Second}},
	}
	for _, tt := range tests {
		tt.cfg.Prefix = r.Prefix
		if _, err := queue.New(r.Client, tt.cfg); err == nil {
			t.Errorf("New(%s) = nil error, want one", tt.name)
		}
	}
}

func TestUnknownKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := queuetest.Miniredis(t)
	q, err := queue.New(r.Client, queue.Config{Prefix: r.Prefix})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	const bad queue.Kind = "render"
	tests := []struct {
		name string
		call func() error
	}{
		{"Enqueue", func() error { _, err := q.Enqueue(ctx, queue.Task{Kind: bad, JobID: 1}); return err }},
		{"Schedule", func() error { return q.Schedule(ctx, queue.Task{Kind: bad, JobID: 1}, time.Now()) }},
		{"DeadLetters", func() error { _, err := q.DeadLetters(ctx, bad, 0); return err }},
		{"Replay", func() error { return q.Replay(ctx, bad, "1-1") }},
		{"ReplayAll", func() error { _, err := q.ReplayAll(ctx, bad); return err }},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, queue.ErrUnknownKind) {
			t.Errorf("%s(%q) = %v, want %v", tt.name, bad, err, queue.ErrUnknownKind)
		}
	}
}

// TestRunTwice: a second Run while one runs (called from that Run's own
// handler, so certainly while it runs) returns ErrRunning, and leaves the
// first running.
func TestRunTwice(t *testing.T) {
	t.Parallel()
	r := queuetest.Miniredis(t)
	q, err := queue.New(r.Client, queue.Config{Prefix: r.Prefix, Block: 50 * time.Millisecond, Logger: queuetest.Logger(t)})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := q.Enqueue(ctx, queue.Task{Kind: queue.KindSubmit, JobID: 1}); err != nil {
		t.Fatalf("Enqueue() error: %v", err)
	}
	nop := func(context.Context, queue.Task) error { return nil }
	second := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- q.Run(ctx, 0, func(ctx context.Context, _ queue.Task) error {
			second <- q.Run(ctx, 0, nop, nil)
			return nil
		}, nil)
	}()
	select {
	case err := <-second:
		if !errors.Is(err, queue.ErrRunning) {
			t.Errorf("second Run() = %v, want %v", err, queue.ErrRunning)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no second Run returned within 5s (the task not handled, or the second Run running)")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

// notifyHandler passes records on, and signals on ch (without waiting)
// each one whose message is msg.
type notifyHandler struct {
	slog.Handler
	msg string
	ch  chan<- struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h notifyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return notifyHandler{h.Handler.WithAttrs(as), h.msg, h.ch}
}

func (h notifyHandler) WithGroup(name string) slog.Handler {
	return notifyHandler{h.Handler.WithGroup(name), h.msg, h.ch}
}

// TestRunSurvivesRedisRestart stops Redis under a running Run, empties it
// and starts it again, as a restart without persistence does (miniredis
// only: the tests cannot restart the real one). Run keeps retrying, then
// recreates its group and handles new work.
func TestRunSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	redisErrors := make(chan struct{}, 1)
	q, err := queue.New(rdb, queue.Config{
		Prefix:            "vg",
		VisibilityTimeout: 200 * time.Millisecond,
		PollInterval:      20 * time.Millisecond,
		Block:             100 * time.Millisecond,
		Logger:            slog.New(notifyHandler{queuetest.Logger(t).Handler(), "redis error; retrying", redisErrors}),
	})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	handled := make(chan int64, 10)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- q.Run(runCtx, time.Second, func(_ context.Context, task queue.Task) error {
			handled <- task.JobID
			return nil
		}, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
	waitJob := func(want int64) {
		t.Helper()
		select {
		case got := <-handled:
			if got != want {
				t.Errorf("handled job %d, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("job %d not handled", want)
		}
	}

	if _, err := q.Enqueue(ctx, queue.Task{Kind: queue.KindSubmit, JobID: 1}); err != nil {
		t.Fatalf("Enqueue() error: %v", err)
	}
	waitJob(1)

	m.Close()
	for range 3 { // Run meets refused connections, and goes on trying
		select {
		case <-redisErrors:
		case <-time.After(5 * time.Second):
			t.Fatal("Run logged no Redis error within 5s of Redis going away")
		}
	}
	if _, err := q.Enqueue(ctx, queue.Task{Kind: queue.KindSubmit, JobID: 2}); err == nil {
		t.Fatal("Enqueue() with Redis down = nil error, want one")
	}
	m.FlushAll()
	// miniredis v2.40's Close cancels m.Ctx and Restart does not renew it,
	// so blocking commands (XREADGROUP BLOCK) would never reply again.
	m.Ctx, m.CtxCancel = context.WithCancel(context.Background())
	if err := m.Restart(); err != nil {
		t.Fatalf("restart miniredis: %v", err)
	}
	if _, err := q.Enqueue(ctx, queue.Task{Kind: queue.KindSubmit, JobID: 3}); err != nil {
		t.Fatalf("Enqueue() after the restart error: %v", err)
	}
	waitJob(3)
}

// TestRetryMovesWhenDue runs on the bubble's clock, with miniredis served
// in memory: a task scheduled Backoff(3) ahead (4s, no jitter) reaches its
// handler when that time comes, at the mover's tick (every PollInterval,
// 1s), and not before. Due retries are decided by Config.Now (the caller's
// clock, passed to the script), not by Redis's TIME.
func TestRetryMovesWhenDue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, rdb := queuetest.InBubble(t)
		q, err := queue.New(rdb, queue.Config{
			Prefix: "vg", Jitter: queue.JitterNone, Logger: queuetest.Logger(t),
		})
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		handled := make(chan queue.Task, 1)
		stop := runInBubble(t, q, func(_ context.Context, task queue.Task) error {
			handled <- task
			return nil
		})
		defer stop()

		wait := q.Backoff(3, 0)
		if wait != 4*time.Second {
			t.Fatalf("Backoff(3, 0) = %v, want 4s", wait)
		}
		ctx := context.Background()
		if err := q.Schedule(ctx, queue.Task{Kind: queue.KindPoll, JobID: 7, Attempt: 3}, time.Now().Add(wait)); err != nil {
			t.Fatalf("Schedule() error: %v", err)
		}
		time.Sleep(wait - time.Millisecond)
		synctest.Wait()
		select {
		case task := <-handled:
			t.Fatalf("task %+v handled %v before it was due", task, time.Millisecond)
		default:
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		select {
		case task := <-handled:
			if task.JobID != 7 || task.Attempt != 3 || task.Kind != queue.KindPoll {
				t.Errorf("handled %+v, want poll of job 7, attempt 3", task)
			}
		default:
			t.Fatal("the task was not handled when it fell due")
		}
	})
}

// TestVisibilityTimeout runs on the bubble's clock, with miniredis served
// in memory (whose idle times, by which the claim script chooses, then
// follow that clock too): an entry whose handler failed is delivered again
// once it has been idle for VisibilityTimeout (at the next claim, every
// PollInterval), not before.
func TestVisibilityTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const visibility, poll = 30 * time.Second, time.Second
		_, rdb := queuetest.InBubble(t)
		q, err := queue.New(rdb, queue.Config{
			Prefix: "vg", VisibilityTimeout: visibility, PollInterval: poll, Logger: queuetest.Logger(t),
		})
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		var deliveries []time.Time
		stop := runInBubble(t, q, func(_ context.Context, task queue.Task) error {
			deliveries = append(deliveries, time.Now())
			if task.Deliveries == 1 {
				return errors.New("transient")
			}
			return nil
		})
		defer stop()
		if _, err := q.Enqueue(context.Background(), queue.Task{Kind: queue.KindSubmit, JobID: 1}); err != nil {
			t.Fatalf("Enqueue() error: %v", err)
		}
		time.Sleep(visibility + 2*poll)
		synctest.Wait()
		if len(deliveries) != 2 {
			t.Fatalf("delivered %d times, want 2", len(deliveries))
		}
		if gap := deliveries[1].Sub(deliveries[0]); gap < visibility || gap > visibility+poll {
			t.Errorf("delivered again %v after the failure, want in [%v, %v]", gap, visibility, visibility+poll)
		}
	})
}

// runInBubble runs q with h until the returned function is called, which
// waits for Run to return.
func runInBubble(t *testing.T, q *queue.Queue, h queue.Handler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, 0, h, nil) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	}
}
