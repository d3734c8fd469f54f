package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
)

// fakeQueue records the tasks it is given, and refuses them while down.
type fakeQueue struct {
	mu    sync.Mutex
	down  bool
	tasks []queue.Task
	due   []time.Time // per task: zero for Enqueue
	calls int
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (q *fakeQueue) add(t queue.Task, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.down {
		return errUnreachable
	}
	q.tasks, q.due = append(q.tasks, t), append(q.due, at)
	return nil
}

func (q *fakeQueue) Enqueue(_ context.Context, t queue.Task) (string, error) {
	return "1-0", q.add(t, time.Time{})
}

func (q *fakeQueue) Schedule(_ context.Context, t queue.Task, at time.Time) error {
	return q.add(t, at)
}

func (q *fakeQueue) setDown(down bool) {
	q.mu.Lock()
	q.down = down
	q.mu.Unlock()
}

func (q *fakeQueue) sent() []queue.Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queue.Task(nil), q.tasks...)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func outboxRows(t *testing.T, s *jobs.Store) []*jobs.OutboxTask {
	t.Helper()
	rows, err := s.OutboxTasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// A job created while Redis is unreachable keeps its submit task in the
// outbox; once Redis answers, the relay's loop queues it within one
// interval after the grace, and deletes the row.
func TestOutboxRelaysSubmitAfterOutage(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		clk := &clock{now: time.Now()}
		store := jobs.NewStore(db, clk.Now)
		q := &fakeQueue{down: true}
		passes := make(chan int, 100)
		relay := jobs.NewRelay(store, q, jobs.RelayConfig{Interval: 5 * time.Millisecond, Grace: 2 * time.Second, Logger: quiet,
			OnPass: func(sent int, err error) {
				if err == nil {
					passes <- sent
				}
			}})
		svc, err := jobs.NewService(store, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		job, _, err := svc.CreateJob(jobs.WithRequestID(ctx, "req-1"), alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a quiet harbour"})
		if err != nil {
			t.Fatalf("create while Redis is down: %v (the job is durable; the create must succeed)", err)
		}
		if job.Status != jobs.StatusQueued || q.calls != 1 || len(q.sent()) != 0 {
			t.Fatalf("after the create: %s, %d queue calls, %d sent; want QUEUED, the fast path tried once and failed", job.Status, q.calls, len(q.sent()))
		}
		rows := outboxRows(t, store)
		if len(rows) != 1 || rows[0].Kind != queue.KindSubmit || rows[0].JobID != job.ID || rows[0].Attempt != 1 {
			t.Fatalf("outbox %+v; want the job's submit at attempt 1", rows)
		}

		q.setDown(false) // Redis is back
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); relay.Run(rctx) }()
		defer func() { stop(); <-done }()
		// Within the grace the row is its writer's: passes send nothing.
		if n := <-passes; n != 0 {
			t.Fatalf("a pass within the grace sent %d tasks, want 0", n)
		}
		clk.Advance(2 * time.Second)
		for n := 0; n == 0; n = <-passes {
		}
		got := q.sent()
		if len(got) != 1 || got[0].Kind != queue.KindSubmit || got[0].JobID != job.ID || got[0].Attempt != 1 || got[0].Data["request_id"] != "req-1" {
			t.Fatalf("relayed %+v; want the job's submit at attempt 1 with its request id", got)
		}
		if rows := outboxRows(t, store); len(rows) != 0 {
			t.Errorf("outbox after the relay: %d rows, want none", len(rows))
		}
	})
}

// With Redis up, the writer queues the task right after its commit and
// has the row deleted: the relay sends nothing twice.
func TestOutboxFastPath(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		store := jobs.NewStore(db, nil)
		q := &fakeQueue{}
		relay := jobs.NewRelay(store, q, jobs.RelayConfig{Grace: time.Nanosecond, Logger: quiet})
		svc, err := jobs.NewService(store, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		job, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a quiet harbour"})
		if err != nil {
			t.Fatal(err)
		}
		if got := q.sent(); len(got) != 1 || got[0].JobID != job.ID || got[0].Kind != queue.KindSubmit {
			t.Fatalf("queued after the create: %+v; want its submit", got)
		}
		// A pass deletes what the fast path sent before it reads, so it
		// sends nothing again, even with no grace at all.
		if n, err := relay.RelayOnce(ctx); err != nil || n != 0 {
			t.Errorf("relay after the fast path: %d sent, %v; want 0", n, err)
		}
		if rows := outboxRows(t, store); len(rows) != 0 {
			t.Fatalf("outbox after the fast path: %d rows, want none", len(rows))
		}
	})
}

// A process that dies between its commit and its enqueue leaves the row
// (here: a writer with no relay, whose fast path never runs); another
// process's relay sends it once it is older than the grace. The same for
// a cancel: the provider's cancel commits with the move to CANCELED.
func TestOutboxRelaysAfterWriterDied(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		clk := &clock{now: time.Now()}
		dead := jobs.NewStore(db, clk.Now) // the process that dies after its commits
		svc, err := jobs.NewService(dead, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		job, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a quiet harbour"})
		if err != nil {
			t.Fatal(err)
		}
		running, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a busy harbour"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range []jobs.Transition{
			{From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1, Source: jobs.SourceWorker},
			{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, Type: "provider_request_created", ExpectAttempt: 1, ProviderRequestID: "gen_9", Source: jobs.SourceWorker},
		} {
			tr.JobID = running.ID
			if _, err := dead.TransitionTx(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Cancel(ctx, alice, running.PublicID); err != nil {
			t.Fatal(err)
		}

		q := &fakeQueue{}
		relay := jobs.NewRelay(jobs.NewStore(db, clk.Now), q, jobs.RelayConfig{Grace: time.Second, Logger: quiet}) // a live worker
		if n, err := relay.RelayOnce(ctx); err != nil || n != 0 {
			t.Fatalf("relay within the grace: %d sent, %v; want 0", n, err)
		}
		clk.Advance(time.Second)
		if n, err := relay.RelayOnce(ctx); err != nil || n != 3 {
			t.Fatalf("relay after the grace: %d sent, %v; want 3", n, err)
		}
		got := q.sent()
		want := []queue.Task{
			{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1},
			{Kind: queue.KindSubmit, JobID: running.ID, Attempt: 1},
			{Kind: queue.KindCancel, JobID: running.ID, Attempt: 1},
		}
		for i, w := range want {
			if i >= len(got) || got[i].Kind != w.Kind || got[i].JobID != w.JobID || got[i].Attempt != w.Attempt {
				t.Fatalf("relayed %+v; want %+v in that order", got, want)
			}
		}
		if got[2].Data["provider_request_id"] != "gen_9" || got[2].Data["provider"] != "sim" {
			t.Errorf("cancel data %v; want the provider and its request id", got[2].Data)
		}
		if rows := outboxRows(t, dead); len(rows) != 0 {
			t.Errorf("outbox after the relay: %d rows, want none", len(rows))
		}
	})
}

// The outbox row and the change it follows commit or roll back together:
// a transaction that fails after both wrote leaves neither, and a
// TransitionThen whose guard fails writes no task.
func TestOutboxCommitsWithTheChange(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		store := jobs.NewStore(db, nil)
		job, _ := insert(t, store, "alice", "") // no relay: its submit stays in the outbox
		before := len(outboxRows(t, store))
		toSubmitted := jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1, Source: jobs.SourceWorker}
		poll := queue.Task{Kind: queue.KindPoll, JobID: job.ID, Attempt: 1}
		boom := errors.New("boom")
		err := store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if _, err := store.Transition(ctx, tx, toSubmitted); err != nil {
				return err
			}
			if err := store.AddTask(ctx, tx, poll, time.Now().Add(time.Minute)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want boom", err)
		}
		if got, _ := store.JobByID(ctx, job.ID); got.Status != jobs.StatusQueued {
			t.Errorf("after the rollback the job is %s, want QUEUED", got.Status)
		}
		if n := len(outboxRows(t, store)); n != before {
			t.Errorf("after the rollback the outbox holds %d rows, want %d (the task rolled back with its change)", n, before)
		}

		at := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
		if _, err := store.TransitionThen(ctx, toSubmitted, poll, at); err != nil {
			t.Fatal(err)
		}
		rows := outboxRows(t, store)
		if len(rows) != before+1 || rows[before].Kind != queue.KindPoll || rows[before].DueAt == nil || !rows[before].DueAt.Equal(at) {
			t.Fatalf("after the commit: outbox %+v; want the poll due at %s", rows, at)
		}
		_, err = store.TransitionThen(ctx, toSubmitted, poll, at) // QUEUED no more
		var guard *jobs.GuardError
		if !errors.As(err, &guard) {
			t.Fatalf("second TransitionThen = %v, want a guard error", err)
		}
		if n := len(outboxRows(t, store)); n != before+1 {
			t.Errorf("after a failed guard the outbox holds %d rows, want %d", n, before+1)
		}
	})
}

// A relay that cannot reach Redis keeps every row; one that gets half way
// deletes only what it sent, and scheduled tasks keep their due time.
func TestOutboxRelayKeepsWhatItCouldNotSend(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		store := jobs.NewStore(db, nil)
		a, _ := insert(t, store, "alice", "")
		at := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		if err := store.AddTask(ctx, store.DB(), queue.Task{Kind: queue.KindSubmit, JobID: a.ID, Attempt: 2}, at); err != nil {
			t.Fatal(err)
		}
		q := &fakeQueue{down: true}
		relay := jobs.NewRelay(jobs.NewStore(db, nil), q, jobs.RelayConfig{Grace: time.Nanosecond, Logger: quiet})
		if n, err := relay.RelayOnce(ctx); !errors.Is(err, errUnreachable) || n != 0 {
			t.Fatalf("relay with Redis down: %d sent, %v; want 0 and the queue's error", n, err)
		}
		if n := len(outboxRows(t, store)); n != 2 {
			t.Fatalf("outbox after a failed pass: %d rows, want 2", n)
		}
		q.setDown(false)
		if n, err := relay.RelayOnce(ctx); err != nil || n != 2 {
			t.Fatalf("relay: %d sent, %v; want 2", n, err)
		}
		if len(q.due) != 2 || !q.due[0].IsZero() || !q.due[1].Equal(at) {
			t.Errorf("due times %v; want at once, then %s", q.due, at)
		}
	})
}

// On PostgreSQL a row another relay holds (FOR UPDATE) is skipped, not
// waited for and not sent twice.
func TestOutboxRelaySkipsLockedRows(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		if !jobs.IsPostgres(db) {
			t.Skip("SQLite has one writer: relays do not run concurrently")
		}
		ctx := context.Background()
		store := jobs.NewStore(db, nil)
		insert(t, store, "alice", "")
		insert(t, store, "bob", "")
		rows := outboxRows(t, store)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SELECT id FROM task_outbox WHERE id = ? FOR UPDATE", rows[0].ID); err != nil {
			t.Fatal(err)
		}
		q := &fakeQueue{}
		relay := jobs.NewRelay(jobs.NewStore(db, nil), q, jobs.RelayConfig{Grace: time.Nanosecond, Logger: quiet})
		if n, err := relay.RelayOnce(ctx); err != nil || n != 1 {
			t.Fatalf("relay beside a locked row: %d sent, %v; want 1", n, err)
		}
		if got := q.sent(); len(got) != 1 || got[0].JobID != rows[1].JobID {
			t.Errorf("sent %+v; want only the unlocked row's task (job %d)", got, rows[1].JobID)
		}
	})
}

// movingQueue is a queue whose worker takes a submit the moment it is
// queued and moves its job to SUBMITTED.
type movingQueue struct {
	fakeQueue
	store *jobs.Store
}

func (q *movingQueue) Enqueue(ctx context.Context, t queue.Task) (string, error) {
	if t.Kind == queue.KindSubmit {
		_, err := q.store.TransitionTx(ctx, jobs.Transition{JobID: t.JobID, From: jobs.StatusQueued, To: jobs.StatusSubmitted,
			Attempt: t.Attempt, Source: jobs.SourceWorker})
		if err != nil {
			return "", err
		}
	}
	return q.fakeQueue.Enqueue(ctx, t)
}

// The task is sent after the commit, and a worker may move the job at
// once: createVideoJob still answers with the job as it committed
// (QUEUED), and the new job is announced before the change its task made.
func TestCreateAnswersQueuedWhateverTheWorkerDoes(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		store := jobs.NewStore(db, nil)
		var mu sync.Mutex
		var announced []jobs.Status
		store.OnCommit(func(_ context.Context, cs []jobs.Change) {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range cs {
				announced = append(announced, c.Job.Status)
			}
		})
		jobs.NewRelay(store, &movingQueue{store: store}, jobs.RelayConfig{Logger: quiet})
		svc, err := jobs.NewService(store, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		job, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a quiet harbour"})
		if err != nil {
			t.Fatal(err)
		}
		if job.Status != jobs.StatusQueued || job.Version != 1 {
			t.Errorf("createVideoJob answered %s v%d, want QUEUED v1", job.Status, job.Version)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(announced) != 2 || announced[0] != jobs.StatusQueued || announced[1] != jobs.StatusSubmitted {
			t.Errorf("announced %v, want [QUEUED SUBMITTED]", announced)
		}
	})
}

// The rows the fast path sent are deleted together, DeleteEvery after
// their send, by the writer's process itself: no pass of the loop is
// needed. (SQLite in a synctest bubble: the wait is fake time.)
func TestOutboxFastPathDeletesInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := jobs.NewStore(jobstest.SQLite(t), nil)
		q := &fakeQueue{}
		jobs.NewRelay(store, q, jobs.RelayConfig{DeleteEvery: 50 * time.Millisecond, Logger: quiet})
		svc, err := jobs.NewService(store, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"a quiet harbour", "a busy harbour", "a harbour at night"} {
			if _, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: p}); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(q.sent()); n != 3 {
			t.Fatalf("%d tasks queued by the fast path, want 3", n)
		}
		if n := len(outboxRows(t, store)); n != 3 {
			t.Fatalf("%d rows right after the sends, want 3 (deleted together, later)", n)
		}
		time.Sleep(50 * time.Millisecond) // fake time: DeleteEvery passes
		synctest.Wait()
		if n := len(outboxRows(t, store)); n != 0 {
			t.Errorf("%d rows DeleteEvery after the sends, want 0", n)
		}
	})
}
