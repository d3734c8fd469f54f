package queuetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/keyspace"
	"github.com/vidgate/vidgate/jobs/queue"
)

// Timings of the suite: short, so that it runs in seconds.
const (
	visibility = 200 * time.Millisecond
	poll       = 20 * time.Millisecond
	block      = 100 * time.Millisecond
	// patience is the longest a test waits for something that must happen.
	patience = 5 * time.Second
)

// RunConformance runs every test of the suite against b, in parallel.
func RunConformance(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, r Redis)
	}{
		{"EnqueueHandledOnce", testEnqueueHandledOnce},
		{"HandlerErrorRedelivered", testHandlerErrorRedelivered},
		{"DeadConsumerTakenOver", testDeadConsumerTakenOver},
		{"SilentConsumerTakenOver", testSilentConsumerTakenOver},
		{"LongHandlerNotTakenOver", testLongHandlerNotTakenOver},
		{"DeadLetterAndReplay", testDeadLetterAndReplay},
		{"DeadLetterFuncErrorRetried", testDeadLetterFuncErrorRetried},
		{"MalformedEntryDeadLettered", testMalformedEntryDeadLettered},
		{"Schedule", testSchedule},
		{"Concurrency", testConcurrency},
		{"GracefulShutdown", testGracefulShutdown},
		{"RedisLosesData", testRedisLosesData},
		{"PrefixesIsolated", testPrefixesIsolated},
		{"Stats", testStats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, b.Open(t))
		})
	}
}

func testEnqueueHandledOnce(t *testing.T, r Redis) {
	ctx := context.Background()
	q := newQueue(t, r, config(t, r, "c1"))
	rec := &recorder{}
	start(t, q, time.Second, rec.handler(nil), nil)

	task := queue.Task{Kind: queue.KindIngest, JobID: 42, Attempt: 2, Data: map[string]string{"request": "r-1"}}
	id, err := q.Enqueue(ctx, task)
	if err != nil {
		t.Fatalf("Enqueue(%+v) error: %v", task, err)
	}
	got := rec.waitN(t, 1)[0]
	want := task
	want.ID, want.Deliveries = id, 1
	if !reflect.DeepEqual(got, want) {
		t.Errorf("handled task = %+v, want %+v", got, want)
	}
	eventually(t, "entry acknowledged", func() bool { return pendingCount(t, r, queue.KindIngest) == 0 })
	// Long enough for a redelivery, had the entry not been acknowledged.
	time.Sleep(2*visibility + 5*poll)
	if n := len(rec.all()); n != 1 {
		t.Errorf("handler calls = %d, want 1", n)
	}
	if n := pendingCount(t, r, queue.KindIngest); n != 0 {
		t.Errorf("XPENDING(%s) count = %d, want 0", streamKey(r.Prefix, queue.KindIngest), n)
	}
	if n := r.Client.XLen(ctx, streamKey(r.Prefix, queue.KindIngest)).Val(); n != 0 {
		t.Errorf("XLEN(%s) = %d, want 0 (acknowledged entries are deleted)", streamKey(r.Prefix, queue.KindIngest), n)
	}
}

func testHandlerErrorRedelivered(t *testing.T, r Redis) {
	q := newQueue(t, r, config(t, r, "c1"))
	rec := &recorder{}
	start(t, q, time.Second, rec.handler(func(task queue.Task) error {
		switch task.Deliveries {
		case 1:
			return errors.New("transient")
		case 2:
			panic("handler bug")
		}
		return nil
	}), nil)

	id := enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: 1})
	got := rec.waitN(t, 3)
	for i, task := range got {
		if task.ID != id || task.Deliveries != int64(i+1) {
			t.Errorf("delivery %d = (id %s, deliveries %d), want (%s, %d)", i+1, task.ID, task.Deliveries, id, i+1)
		}
	}
	eventually(t, "entry acknowledged", func() bool { return pendingCount(t, r, queue.KindSubmit) == 0 })
}

// testDeadConsumerTakenOver stops a Run whose handler blocks, with no grace:
// the handler is canceled, its entry stays pending, and another consumer
// takes it over after the visibility timeout, as its second delivery (the
// dead consumer's heartbeats did not count).
func testDeadConsumerTakenOver(t *testing.T, r Redis) {
	ctx := context.Background()
	qa := newQueue(t, r, config(t, r, "a"))
	started := make(chan struct{})
	var once sync.Once
	canceled := make(chan error, 1)
	stopA := start(t, qa, 0, func(ctx context.Context, _ queue.Task) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		select {
		case canceled <- ctx.Err():
		default:
		}
		return ctx.Err()
	}, nil)

	id := enqueue(t, qa, queue.Task{Kind: queue.KindSubmit, JobID: 7})
	select {
	case <-started:
	case <-time.After(patience):
		t.Fatal("handler not called")
	}
	time.Sleep(visibility) // heartbeats, which must not count as deliveries
	stopA()
	select {
	case err := <-canceled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ctx.Err() = %v, want %v", err, context.Canceled)
		}
	default:
		t.Error("Run returned before its handler, or did not cancel it")
	}
	stoppedAt := time.Now()
	p, err := r.Client.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: streamKey(r.Prefix, queue.KindSubmit), Group: "workers", Start: "-", End: "+", Count: 10,
	}).Result()
	if err != nil || len(p) != 1 || p[0].ID != id || p[0].Consumer != "a" {
		t.Fatalf("XPENDING after the dead consumer = %+v, %v; want %s pending on consumer a", p, err, id)
	}

	qb := newQueue(t, r, config(t, r, "b"))
	rec := &recorder{}
	start(t, qb, time.Second, rec.handler(nil), nil)
	got := rec.waitN(t, 1)[0]
	// The last heartbeat came at most a third of the timeout before the stop.
	if d := time.Since(stoppedAt); d < visibility/2 {
		t.Errorf("taken over %v after the consumer died, want about the visibility timeout (%v)", d, visibility)
	}
	if got.ID != id || got.JobID != 7 || got.Deliveries != 2 {
		t.Errorf("taken-over task = %+v, want id %s, job 7, deliveries 2", got, id)
	}
	eventually(t, "entry acknowledged", func() bool { return pendingCount(t, r, queue.KindSubmit) == 0 })
}

// testSilentConsumerTakenOver: an entry read by a consumer that never acks
// is taken over once idle past the visibility timeout.
func testSilentConsumerTakenOver(t *testing.T, r Redis) {
	ctx := context.Background()
	q := newQueue(t, r, config(t, r, "live"))
	id := enqueue(t, q, queue.Task{Kind: queue.KindCancel, JobID: 3, Attempt: 1})
	readBySilent(t, r, queue.KindCancel, 1)

	rec := &recorder{}
	start(t, q, time.Second, rec.handler(nil), nil)
	got := rec.waitN(t, 1)[0]
	want := queue.Task{Kind: queue.KindCancel, JobID: 3, Attempt: 1, ID: id, Deliveries: 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("taken-over task = %+v, want %+v", got, want)
	}
	eventually(t, "entry acknowledged", func() bool { return pendingCount(t, r, queue.KindCancel) == 0 })
	if n := r.Client.XLen(ctx, streamKey(r.Prefix, queue.KindCancel)).Val(); n != 0 {
		t.Errorf("XLEN(%s) = %d, want 0", streamKey(r.Prefix, queue.KindCancel), n)
	}
}

// testLongHandlerNotTakenOver runs a handler for four visibility timeouts
// while another consumer watches the stream: the heartbeat keeps the entry.
func testLongHandlerNotTakenOver(t *testing.T, r Redis) {
	rec := &recorder{}
	done := make(chan struct{})
	var once sync.Once
	h := rec.handler(func(queue.Task) error {
		time.Sleep(4 * visibility)
		once.Do(func() { close(done) })
		return nil
	})
	for _, consumer := range []string{"a", "b"} {
		start(t, newQueue(t, r, config(t, r, consumer)), 5*time.Second, h, nil)
	}
	id := enqueue(t, newQueue(t, r, config(t, r, "producer")), queue.Task{Kind: queue.KindIngest, JobID: 9})
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("handler did not finish")
	}
	eventually(t, "entry acknowledged", func() bool { return pendingCount(t, r, queue.KindIngest) == 0 })
	time.Sleep(visibility + 5*poll)
	got := rec.all()
	if len(got) != 1 || got[0].ID != id || got[0].Deliveries != 1 {
		t.Errorf("deliveries = %+v, want one, of %s, deliveries 1", got, id)
	}
}

func testDeadLetterAndReplay(t *testing.T, r Redis) {
	ctx := context.Background()
	const kind = queue.KindPoll
	cfg := config(t, r, "c1")
	cfg.MaxDeliveries = 2
	q := newQueue(t, r, cfg)
	var failing atomic.Bool
	failing.Store(true)
	rec, dead := &recorder{}, &recorder{}
	start(t, q, time.Second, rec.handler(func(queue.Task) error {
		if failing.Load() {
			return errors.New("provider down")
		}
		return nil
	}), dead.handler(nil))

	ids := map[int64]string{}
	for job := int64(1); job <= 3; job++ {
		ids[job] = enqueue(t, q, queue.Task{Kind: kind, JobID: job, Attempt: 1})
	}
	for _, task := range dead.waitN(t, 3) {
		if task.Deliveries != 3 || task.ID != ids[task.JobID] {
			t.Errorf("DeadLetterFunc got %+v, want id %s, deliveries 3", task, ids[task.JobID])
		}
	}
	eventually(t, "dead letters acknowledged", func() bool { return pendingCount(t, r, kind) == 0 })

	dls, err := q.DeadLetters(ctx, kind, 0)
	if err != nil || len(dls) != 3 {
		t.Fatalf("DeadLetters(%s, 0) = %d dead letters, %v; want 3", kind, len(dls), err)
	}
	for _, d := range dls {
		want := queue.Task{Kind: kind, JobID: d.Task.JobID, Attempt: 1, ID: ids[d.Task.JobID], Deliveries: 3}
		if !reflect.DeepEqual(d.Task, want) || d.Reason == "" || d.DeadAt.IsZero() {
			t.Errorf("dead letter = %+v, want task %+v with a reason and a time", d, want)
		}
	}
	if dls, err := q.DeadLetters(ctx, kind, 2); err != nil || len(dls) != 2 {
		t.Errorf("DeadLetters(%s, 2) = %d dead letters, %v; want 2", kind, len(dls), err)
	}
	stats, err := q.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats() error: %v", err)
	}
	if s := stats[kind]; s.DeadLetters != 3 || s.Length != 0 || s.Pending != 0 {
		t.Errorf("Stats()[%s] = %+v, want 3 dead letters, length 0, pending 0", kind, s)
	}

	failing.Store(false)
	before := len(rec.all())
	if err := q.Replay(ctx, kind, dls[0].ID); err != nil {
		t.Fatalf("Replay(%s, %s) error: %v", kind, dls[0].ID, err)
	}
	got := rec.waitN(t, before+1)[before]
	if got.JobID != dls[0].Task.JobID || got.Deliveries != 1 || got.ID == dls[0].Task.ID {
		t.Errorf("replayed task = %+v, want job %d as a new entry, deliveries 1", got, dls[0].Task.JobID)
	}
	if err := q.Replay(ctx, kind, dls[0].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Replay(%s, %s) again = %v, want %v", kind, dls[0].ID, err, queue.ErrNotFound)
	}
	if n, err := q.ReplayAll(ctx, kind); n != 2 || err != nil {
		t.Errorf("ReplayAll(%s) = %d, %v; want 2, nil", kind, n, err)
	}
	replayed := rec.waitN(t, before+3)[before:]
	jobs := []int64{}
	for _, task := range replayed {
		jobs = append(jobs, task.JobID)
	}
	slices.Sort(jobs)
	if !slices.Equal(jobs, []int64{1, 2, 3}) {
		t.Errorf("replayed jobs = %v, want [1 2 3]", jobs)
	}
	if dls, err := q.DeadLetters(ctx, kind, 0); err != nil || len(dls) != 0 {
		t.Errorf("DeadLetters(%s, 0) after replay = %+v, %v; want none", kind, dls, err)
	}
	eventually(t, "replayed entries acknowledged", func() bool { return pendingCount(t, r, kind) == 0 })
	if n := len(dead.all()); n != 3 {
		t.Errorf("DeadLetterFunc calls = %d, want 3 (once per entry)", n)
	}
}

func testDeadLetterFuncErrorRetried(t *testing.T, r Redis) {
	ctx := context.Background()
	cfg := config(t, r, "c1")
	cfg.MaxDeliveries = 1
	q := newQueue(t, r, cfg)
	rec, dead := &recorder{}, &recorder{}
	var calls atomic.Int32
	start(t, q, time.Second, rec.handler(func(queue.Task) error { return errors.New("always") }),
		dead.handler(func(queue.Task) error {
			if calls.Add(1) == 1 {
				return errors.New("database down")
			}
			return nil
		}))

	id := enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: 11})
	got := dead.waitN(t, 2)
	if got[0].Deliveries != 2 || got[1].Deliveries != 3 || got[1].ID != id {
		t.Errorf("DeadLetterFunc deliveries = %d, %d, want 2, 3", got[0].Deliveries, got[1].Deliveries)
	}
	eventually(t, "dead letter acknowledged", func() bool { return pendingCount(t, r, queue.KindSubmit) == 0 })
	dls, err := q.DeadLetters(ctx, queue.KindSubmit, 0)
	if err != nil || len(dls) != 1 || dls[0].Task.ID != id || dls[0].Task.Deliveries != 3 {
		t.Errorf("DeadLetters(submit, 0) = %+v, %v; want one, of %s, deliveries 3", dls, err, id)
	}
	time.Sleep(visibility + 5*poll)
	if n := len(dead.all()); n != 2 {
		t.Errorf("DeadLetterFunc calls = %d, want 2", n)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("handler calls = %d, want 1", n)
	}
}

// testMalformedEntryDeadLettered: an entry no handler could read goes
// straight to the dead letters, without calling anyone.
func testMalformedEntryDeadLettered(t *testing.T, r Redis) {
	ctx := context.Background()
	q := newQueue(t, r, config(t, r, "c1"))
	key := streamKey(r.Prefix, queue.KindSubmit)
	id, err := r.Client.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{"job", "not-a-number"}}).Result()
	if err != nil {
		t.Fatalf("XADD(%s) error: %v", key, err)
	}
	rec, dead := &recorder{}, &recorder{}
	start(t, q, time.Second, rec.handler(nil), dead.handler(nil))
	var dls []queue.DeadLetter
	eventually(t, "entry dead-lettered", func() bool {
		dls, err = q.DeadLetters(ctx, queue.KindSubmit, 0)
		return err == nil && len(dls) == 1
	})
	if dls[0].Task.ID != id || !strings.Contains(dls[0].Reason, "malformed") {
		t.Errorf("dead letter = %+v, want id %s and a reason about a malformed entry", dls[0], id)
	}
	if n, m := len(rec.all()), len(dead.all()); n != 0 || m != 0 {
		t.Errorf("handler, DeadLetterFunc calls = %d, %d; want 0, 0", n, m)
	}
	eventually(t, "entry acknowledged", func() bool { return pendingCount(t, r, queue.KindSubmit) == 0 })
}

func testSchedule(t *testing.T, r Redis) {
	ctx := context.Background()
	clock := newClock()
	cfg := config(t, r, "c1")
	cfg.Now = clock.Now
	q := newQueue(t, r, cfg)
	rec := &recorder{}
	start(t, q, time.Second, rec.handler(nil), nil)

	later := queue.Task{Kind: queue.KindPoll, JobID: 5, Attempt: 2, Data: map[string]string{"request": "x"}}
	for range 2 { // identical schedules stay two tasks
		if err := q.Schedule(ctx, later, clock.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Schedule(%+v, in 1h) error: %v", later, err)
		}
	}
	due := queue.Task{Kind: queue.KindPoll, JobID: 6}
	if err := q.Schedule(ctx, due, clock.Now().Add(-time.Second)); err != nil {
		t.Fatalf("Schedule(%+v, 1s ago) error: %v", due, err)
	}
	if got := rec.waitN(t, 1)[0]; got.JobID != 6 || got.Deliveries != 1 {
		t.Errorf("first delivery = %+v, want job 6 (due), deliveries 1", got)
	}
	time.Sleep(10 * poll)
	if n := len(rec.all()); n != 1 {
		t.Errorf("tasks delivered before due = %d, want 0", n-1)
	}
	if s := stats(t, q)[queue.KindPoll]; s.Scheduled != 2 {
		t.Errorf("Stats()[poll].Scheduled = %d, want 2", s.Scheduled)
	}

	clock.Add(time.Hour)
	got := rec.waitN(t, 3)[1:]
	for _, task := range got {
		want := later
		want.ID, want.Deliveries = task.ID, 1
		if !reflect.DeepEqual(task, want) {
			t.Errorf("scheduled task = %+v, want %+v", task, want)
		}
	}
	if got[0].ID == got[1].ID {
		t.Errorf("scheduled tasks share entry id %s, want two entries", got[0].ID)
	}
	if s := stats(t, q)[queue.KindPoll]; s.Scheduled != 0 {
		t.Errorf("Stats()[poll].Scheduled after due = %d, want 0", s.Scheduled)
	}
}

// testConcurrency runs 12 tasks of a kind with concurrency 4: at most 4
// handlers run at once, and 4 do. A kind with negative concurrency is not
// consumed.
func testConcurrency(t *testing.T, r Redis) {
	const n, limit = 12, 4
	cfg := config(t, r, "c1")
	cfg.Concurrency = map[queue.Kind]int{queue.KindSubmit: limit, queue.KindPoll: -1, queue.KindIngest: -1, queue.KindCancel: -1}
	q := newQueue(t, r, cfg)
	for i := range n {
		enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: int64(i + 1)})
	}
	enqueue(t, q, queue.Task{Kind: queue.KindPoll, JobID: 100})

	var active, peak atomic.Int32
	full := make(chan struct{})
	var once sync.Once
	rec := &recorder{}
	start(t, q, time.Second, rec.handler(func(queue.Task) error {
		a := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); a > p && !peak.CompareAndSwap(p, a); p = peak.Load() {
		}
		if a == limit {
			once.Do(func() { close(full) })
		}
		// Hold the slot until the pool has been full once (or a while).
		select {
		case <-full:
		case <-time.After(time.Second):
		}
		time.Sleep(10 * time.Millisecond)
		return nil
	}), nil)

	got := rec.waitN(t, n)
	if p := peak.Load(); p != limit {
		t.Errorf("most handlers at once = %d, want %d", p, limit)
	}
	for _, task := range got {
		if task.Kind != queue.KindSubmit {
			t.Errorf("handled %+v, want only submit tasks (poll has concurrency -1)", task)
		}
	}
	eventually(t, "entries acknowledged", func() bool { return pendingCount(t, r, queue.KindSubmit) == 0 })
	if s := stats(t, q)[queue.KindPoll]; s.Length != 1 || s.Pending != 0 {
		t.Errorf("Stats()[poll] = %+v, want length 1, pending 0", s)
	}
}

// testGracefulShutdown: a handler running when Run's ctx ends finishes
// within grace, with its context intact, and its entry is acknowledged
// before Run returns.
func testGracefulShutdown(t *testing.T, r Redis) {
	q := newQueue(t, r, config(t, r, "c1"))
	started := make(chan struct{})
	var finished atomic.Bool
	handlerErr := make(chan error, 1)
	stop := start(t, q, 5*time.Second, func(ctx context.Context, _ queue.Task) error {
		close(started)
		time.Sleep(visibility / 2)
		finished.Store(true)
		handlerErr <- ctx.Err()
		return nil
	}, nil)
	enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: 1})
	select {
	case <-started:
	case <-time.After(patience):
		t.Fatal("handler not called")
	}
	stop()
	if !finished.Load() {
		t.Fatal("Run returned before its handler finished")
	}
	if err := <-handlerErr; err != nil {
		t.Errorf("handler ctx.Err() within grace = %v, want nil", err)
	}
	if n := pendingCount(t, r, queue.KindSubmit); n != 0 {
		t.Errorf("XPENDING count after Run returned = %d, want 0", n)
	}
}

// testRedisLosesData: Redis loses every key (FLUSHALL, a restart without
// persistence) under a running Run, which recreates its streams and group
// and handles what is enqueued and scheduled afterwards.
func testRedisLosesData(t *testing.T, r Redis) {
	ctx := context.Background()
	q := newQueue(t, r, config(t, r, "c1"))
	rec := &recorder{}
	start(t, q, time.Second, rec.handler(nil), nil)
	enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: 1})
	rec.waitN(t, 1)

	r.Lose(t)
	time.Sleep(2 * poll) // let the readers notice, or not: either must work
	enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: 2})
	if err := q.Schedule(ctx, queue.Task{Kind: queue.KindIngest, JobID: 3}, time.Now()); err != nil {
		t.Fatalf("Schedule() after the loss error: %v", err)
	}
	got := rec.waitN(t, 3)[1:]
	jobs := []int64{got[0].JobID, got[1].JobID}
	slices.Sort(jobs)
	if !slices.Equal(jobs, []int64{2, 3}) {
		t.Errorf("jobs handled after the loss = %v, want [2 3]", jobs)
	}
	for _, kind := range []queue.Kind{queue.KindSubmit, queue.KindIngest} {
		eventually(t, "entries acknowledged", func() bool { return pendingCount(t, r, kind) == 0 })
	}
	stats(t, q)
}

func testPrefixesIsolated(t *testing.T, r Redis) {
	other := r
	other.Prefix = r.Prefix + "-other"
	recs := []*recorder{{}, {}}
	queues := []*queue.Queue{
		newQueue(t, r, config(t, r, "same-name")),
		newQueue(t, other, config(t, other, "same-name")),
	}
	for i, q := range queues {
		start(t, q, time.Second, recs[i].handler(nil), nil)
	}
	jobs := [][]int64{{1, 2, 3}, {10, 20}}
	for i, q := range queues {
		for _, job := range jobs[i] {
			enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: job})
		}
	}
	for i, rec := range recs {
		rec.waitN(t, len(jobs[i]))
	}
	time.Sleep(visibility + 5*poll)
	for i, rec := range recs {
		var got []int64
		for _, task := range rec.all() {
			got = append(got, task.JobID)
		}
		slices.Sort(got)
		if !slices.Equal(got, jobs[i]) {
			t.Errorf("queue %d handled jobs %v, want %v", i, got, jobs[i])
		}
	}
}

func testStats(t *testing.T, r Redis) {
	ctx := context.Background()
	// Ages are measured by Config.Now: a minute ahead makes them a minute.
	cfg := config(t, r, "c1")
	cfg.Now = func() time.Time { return time.Now().Add(time.Minute) }
	cfg.MaxDeliveries = 1
	cfg.Concurrency = map[queue.Kind]int{queue.KindSubmit: -1, queue.KindPoll: -1, queue.KindIngest: 1, queue.KindCancel: -1}
	q := newQueue(t, r, cfg)

	// A dead letter of ingest: read by a silent consumer, taken over with
	// its second delivery, one more than allowed.
	enqueue(t, q, queue.Task{Kind: queue.KindIngest, JobID: 1})
	readBySilent(t, r, queue.KindIngest, 1)
	stop := start(t, q, time.Second, (&recorder{}).handler(nil), nil)
	eventually(t, "ingest dead-lettered", func() bool { return stats(t, q)[queue.KindIngest].DeadLetters == 1 })
	stop()

	// Submit: three waiting, one of them delivered and pending; poll: two
	// scheduled.
	for job := int64(1); job <= 3; job++ {
		enqueue(t, q, queue.Task{Kind: queue.KindSubmit, JobID: job})
	}
	readBySilent(t, r, queue.KindSubmit, 1)
	for range 2 {
		if err := q.Schedule(ctx, queue.Task{Kind: queue.KindPoll, JobID: 4}, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Schedule() error: %v", err)
		}
	}

	got := stats(t, q)
	tests := []struct {
		kind queue.Kind
		want queue.KindStats
		aged bool // OldestAge and OldestPendingAge about a minute, else 0
	}{
		{queue.KindSubmit, queue.KindStats{Length: 3, Pending: 1}, true},
		{queue.KindPoll, queue.KindStats{Scheduled: 2}, false},
		{queue.KindIngest, queue.KindStats{DeadLetters: 1}, false},
		{queue.KindCancel, queue.KindStats{}, false},
	}
	for _, tt := range tests {
		s := got[tt.kind]
		ages := []time.Duration{s.OldestAge, s.OldestPendingAge}
		s.OldestAge, s.OldestPendingAge = 0, 0
		if s != tt.want {
			t.Errorf("Stats()[%s] = %+v, want %+v", tt.kind, s, tt.want)
		}
		for _, age := range ages {
			if tt.aged && (age < 50*time.Second || age > 70*time.Second) || !tt.aged && age != 0 {
				t.Errorf("Stats()[%s] ages = %v, want about 1m: %v", tt.kind, ages, tt.aged)
			}
		}
	}
}

// Helpers.

func config(t testing.TB, r Redis, consumer string) queue.Config {
	return queue.Config{
		Prefix:            r.Prefix,
		Consumer:          consumer,
		VisibilityTimeout: visibility,
		PollInterval:      poll,
		Block:             block,
		Logger:            Logger(t),
	}
}

func newQueue(t testing.TB, r Redis, cfg queue.Config) *queue.Queue {
	t.Helper()
	q, err := queue.New(r.Client, cfg)
	if err != nil {
		t.Fatalf("New(%+v) error: %v", cfg, err)
	}
	return q
}

// start runs q until the returned stop is called (or the test ends); stop
// fails the test if Run returns an error or takes long to return.
func start(t testing.TB, q *queue.Queue, grace time.Duration, h queue.Handler, dead queue.DeadLetterFunc) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, grace, h, dead) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() = %v, want nil", err)
				}
			case <-time.After(grace + block + patience):
				t.Errorf("Run() did not return after its context was canceled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func enqueue(t testing.TB, q *queue.Queue, task queue.Task) string {
	t.Helper()
	id, err := q.Enqueue(context.Background(), task)
	if err != nil {
		t.Fatalf("Enqueue(%+v) error: %v", task, err)
	}
	return id
}

func stats(t testing.TB, q *queue.Queue) map[queue.Kind]queue.KindStats {
	t.Helper()
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats() error: %v", err)
	}
	return s
}

// streamKey is kind's stream, where the suite looks at what the queue left
// in Redis. (jobs/keyspace's tests pin the layout itself.)
func streamKey(prefix string, kind queue.Kind) string {
	return keyspace.New(prefix).Stream(string(kind))
}

// pendingCount is XPENDING's count of kind's stream (0 without a group).
func pendingCount(t testing.TB, r Redis, kind queue.Kind) int64 {
	t.Helper()
	p, err := r.Client.XPending(context.Background(), streamKey(r.Prefix, kind), "workers").Result()
	if err != nil {
		if strings.Contains(err.Error(), "NOGROUP") {
			return 0
		}
		t.Fatalf("XPENDING(%s) error: %v", streamKey(r.Prefix, kind), err)
	}
	return p.Count
}

// readBySilent reads n entries of kind as a consumer that will never
// acknowledge them.
func readBySilent(t testing.TB, r Redis, kind queue.Kind, n int64) {
	t.Helper()
	res, err := r.Client.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: "workers", Consumer: "silent", Streams: []string{streamKey(r.Prefix, kind), ">"}, Count: n, Block: -1,
	}).Result()
	if err != nil || len(res) != 1 || int64(len(res[0].Messages)) != n {
		t.Fatalf("XREADGROUP(%s, silent) = %+v, %v; want %d entries", streamKey(r.Prefix, kind), res, err, n)
	}
}

// eventually waits for cond, failing the test after patience.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder records the tasks its handler gets.
type recorder struct {
	mu    sync.Mutex
	tasks []queue.Task
}

// handler records each task, then returns then(task) (nil if then is nil).
func (rec *recorder) handler(then func(queue.Task) error) func(context.Context, queue.Task) error {
	return func(_ context.Context, task queue.Task) error {
		rec.mu.Lock()
		rec.tasks = append(rec.tasks, task)
		rec.mu.Unlock()
		if then == nil {
			return nil
		}
		return then(task)
	}
}

func (rec *recorder) all() []queue.Task {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.tasks)
}

// waitN waits until at least n tasks are recorded and returns the first n.
func (rec *recorder) waitN(t testing.TB, n int) []queue.Task {
	t.Helper()
	eventually(t, fmt.Sprintf("%d tasks handled", n), func() bool { return len(rec.all()) >= n })
	return rec.all()[:n]
}

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
