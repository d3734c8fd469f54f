package reconciler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/reconciler"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
)

// noKeys is a provider that cannot deduplicate submits.
type noKeys struct{ providers.Driver }

func (noKeys) Name() string { return "nokeys" }

// paced is a provider that asks for five seconds between two polls.
type paced struct{ providers.Driver }

func (paced) Name() string                   { return "paced" }
func (paced) MinPollInterval() time.Duration { return 5 * time.Second }

type fixture struct {
	store  *jobs.Store
	queue  *queue.Queue
	bucket *blob.Bucket
	rdb    redis.UniversalClient
	m      *miniredis.Miniredis
	rec    *reconciler.Reconciler
	now    time.Time
}

func setup(t *testing.T, db *bun.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: jobs.NewStore(db, nil), now: time.Now().Add(time.Hour)}
	f.m = miniredis.RunT(t)
	f.rdb = redis.NewClient(&redis.Options{Addr: f.m.Addr()})
	var err error
	f.queue, err = queue.New(f.rdb, queue.Config{Prefix: "t", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.bucket, err = blob.Open(ctx, "mem://", blob.Options{SigningKey: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	simDriver := sim.NewDriver("http://127.0.0.1:1", "", "", nil)
	reg := providers.NewRegistry(simDriver, noKeys{simDriver}, paced{simDriver})
	// The reconciler's process sends the tasks it writes to the outbox at
	// once; the jobs the tests make come from elsewhere (f.store has no
	// relay), so their own first tasks stay in the outbox.
	recStore := jobs.NewStore(db, nil)
	jobs.NewRelay(recStore, f.queue, jobs.RelayConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.rec = reconciler.New(recStore, f.queue, reg, f.bucket, f.rdb, reconciler.Config{
		Prefix: "t", Now: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	// A first pass, with no jobs yet, writes the generation marker: the
	// tests start from a Redis that has lost nothing.
	if _, err := f.rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// job inserts a job, walks it through steps, and optionally sets its
// provider and request id.
func (f *fixture) job(t *testing.T, provider string, steps ...jobs.Transition) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	j, _, err := f.store.InsertJob(ctx, &jobs.Job{PublicID: newUUID(), OwnerID: "alice", WorkflowType: jobs.TextToVideo, Provider: provider,
		Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}, PromptHash: "h", ExpiresAt: ptr(time.Now().Add(24 * time.Hour))},
		&jobs.Prompt{KeyID: "k", Ciphertext: []byte("x")}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		s.JobID = j.ID
		if j, err = f.store.TransitionTx(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

var uuidN atomic.Int64

func newUUID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", uuidN.Add(1))
}

func ptr[T any](v T) *T { return &v }

// plan returns the rule the reconciler would apply to job j ("" for none).
func (f *fixture) rule(t *testing.T, j *jobs.Job) (string, reconciler.Action) {
	t.Helper()
	plan, err := f.rec.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plan {
		if a.Job != nil && a.Job.ID == j.ID {
			return a.Rule, a
		}
	}
	return "", reconciler.Action{}
}

// applied runs one pass and returns the job, its last event and the queue.
func (f *fixture) pass(t *testing.T, j *jobs.Job) (*jobs.Job, *jobs.Event, map[queue.Kind]queue.KindStats) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.JobByID(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := f.store.EventsOf(ctx, []int64{j.ID})
	stats, err := f.queue.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return got, evs[j.ID][len(evs[j.ID])-1], stats
}

func submitted(attempt int) jobs.Transition {
	return jobs.Transition{From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: attempt}
}

func TestRequeueLostQueued(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		j := f.job(t, "sim")
		if rule, _ := f.rule(t, j); rule != reconciler.RuleRequeue {
			t.Fatalf("rule for a QUEUED job idle 1h = %q, want requeue", rule)
		}
		got, ev, stats := f.pass(t, j)
		if got.Status != jobs.StatusQueued || ev.Type != "requeued" || ev.Source != jobs.SourceReconciler {
			t.Errorf("after the pass: %s, last event %s by %s; want QUEUED with a requeued event by the reconciler", got.Status, ev.Type, ev.Source)
		}
		if stats[queue.KindSubmit].Length != 1 {
			t.Errorf("submit stream length = %d, want 1", stats[queue.KindSubmit].Length)
		}
		// The event restarted its idle clock: not requeued again right away.
		f.now = time.Now()
		if rule, _ := f.rule(t, j); rule != "" {
			t.Errorf("rule right after a requeue = %q, want none", rule)
		}
	})
}

func TestResubmitOrAbandonInterruptedSubmit(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		keyed := f.job(t, "sim", submitted(1))
		unkeyed := f.job(t, "nokeys", submitted(1))
		if rule, _ := f.rule(t, keyed); rule != reconciler.RuleResubmit {
			t.Errorf("rule for an interrupted submit to a provider with keys = %q, want resubmit", rule)
		}
		if rule, a := f.rule(t, unkeyed); rule != reconciler.RuleAbandon || !strings.Contains(a.Reason, "cannot deduplicate") {
			t.Errorf("rule for an interrupted submit without keys = %q (%s), want abandon", rule, a.Reason)
		}
		got, ev, stats := f.pass(t, keyed)
		if got.Status != jobs.StatusSubmitted || ev.Type != "resubmitted" || stats[queue.KindSubmit].Length != 1 {
			t.Errorf("keyed: %s, event %s, %d submit tasks; want SUBMITTED, resubmitted, 1", got.Status, ev.Type, stats[queue.KindSubmit].Length)
		}
		got, _, _ = f.pass(t, unkeyed)
		if got.Status != jobs.StatusFailed || *got.ErrorCode != jobs.FailSubmitUnknown {
			t.Errorf("unkeyed: %s %v, want FAILED %s", got.Status, got.ErrorCode, jobs.FailSubmitUnknown)
		}
	})
}

func TestPollStalled(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		j := f.job(t, "sim", submitted(1), jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, ProviderRequestID: "gen_1", ExpectAttempt: 1},
			jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusProcessing})
		if rule, _ := f.rule(t, j); rule != reconciler.RulePoll {
			t.Fatalf("rule for PROCESSING silent for 1h = %q, want poll", rule)
		}
		got, ev, stats := f.pass(t, j)
		if got.Status != jobs.StatusProcessing || ev.Type != "poll_requested" || stats[queue.KindPoll].Length != 1 {
			t.Errorf("after the pass: %s, event %s, %d poll tasks; want PROCESSING, poll_requested, 1", got.Status, ev.Type, stats[queue.KindPoll].Length)
		}
	})
}

// The forced poll of a stalled job whose provider asks for a minimum wait
// between polls (providers.PollPacer) is scheduled that much later, not
// enqueued at once: the worker may have just polled it.
func TestPollStalledPaced(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		j := f.job(t, "paced", submitted(1), jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, ProviderRequestID: "gen_p", ExpectAttempt: 1},
			jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusProcessing})
		got, ev, stats := f.pass(t, j)
		if got.Status != jobs.StatusProcessing || ev.Type != "poll_requested" || stats[queue.KindPoll].Length != 0 || stats[queue.KindPoll].Scheduled != 1 {
			t.Fatalf("after the pass: %s, event %s, %d poll tasks, %d scheduled; want PROCESSING, poll_requested, 0, 1",
				got.Status, ev.Type, stats[queue.KindPoll].Length, stats[queue.KindPoll].Scheduled)
		}
		due, err := f.rdb.ZRangeWithScores(context.Background(), "t:{q}:retry:poll", 0, -1).Result()
		if err != nil || len(due) != 1 {
			t.Fatalf("retry set: %v, %v", due, err)
		}
		if at := time.UnixMilli(int64(due[0].Score)); at.Before(f.now.Add(5 * time.Second).Truncate(time.Millisecond)) { // scores are in ms
			t.Errorf("forced poll due at %s, %s after the pass; want at least 5s", at, at.Sub(f.now))
		}
	})
}

func TestExpire(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		f.now = time.Now().Add(25 * time.Hour)
		j := f.job(t, "sim", submitted(1), jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, ProviderRequestID: "gen_2", ExpectAttempt: 1})
		done := f.job(t, "sim")
		jobstest.Complete(t, f.store, done.ID)
		if rule, _ := f.rule(t, j); rule != reconciler.RuleExpire {
			t.Fatalf("rule for a job past its expiry = %q, want expire", rule)
		}
		got, ev, stats := f.pass(t, j)
		if got.Status != jobs.StatusExpired || ev.Source != jobs.SourceReconciler || stats[queue.KindCancel].Length != 1 {
			t.Errorf("after the pass: %s by %s, %d cancel tasks; want EXPIRED by the reconciler and a cancel for the provider", got.Status, ev.Source, stats[queue.KindCancel].Length)
		}
		if got, _ := f.store.JobByID(context.Background(), done.ID); got.Status != jobs.StatusCompleted {
			t.Errorf("a COMPLETED job waiting for review became %s, want it left alone", got.Status)
		}
	})
}

func TestRetention(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		ctx := context.Background()
		var keys []string
		for _, approve := range []bool{false, true} {
			j := f.job(t, "sim")
			jobstest.Complete(t, f.store, j.ID)
			arts, _ := f.store.ArtifactsOf(ctx, []int64{j.ID})
			a := arts[j.ID][0]
			if _, err := f.bucket.Put(ctx, a.StorageKey, strings.NewReader("video"), 1<<20); err != nil {
				t.Fatal(err)
			}
			past := time.Now().Add(-time.Minute)
			if _, err := f.store.DB().NewUpdate().Model((*jobs.Artifact)(nil)).Set("expires_at = ?", past).Where("id = ?", a.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if approve {
				if _, err := f.store.ReviewJob(ctx, j.ID, &jobs.Review{ReviewerID: "rita", Decision: jobs.DecisionApproved}); err != nil {
					t.Fatal(err)
				}
			}
			keys = append(keys, a.StorageKey)
		}
		if _, err := f.rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{false, true} {
			if ok, _ := f.bucket.Exists(ctx, keys[i]); ok != want {
				t.Errorf("artifact %d (approved %v) exists = %v, want %v", i, want, ok, want)
			}
		}
		if arts, _ := f.store.ExpiredArtifacts(ctx, time.Now(), 10); len(arts) != 0 {
			t.Errorf("expired artifacts left after the pass: %d, want 0 (the deleted one is marked)", len(arts))
		}
	})
}

// One reconciler leads; it keeps the lease by renewing it — Redis's TTL
// really runs down here (FastForward), past several lease lengths — and the
// other takes over when it stops.
func TestOneLeader(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		const lease = 300 * time.Millisecond
		type decision struct{ id, token string }
		decisions := make(chan decision)
		recs := map[string]context.CancelFunc{}
		done := make(chan struct{}, 2)
		for range 2 {
			r := reconciler.New(f.store, f.queue, providers.NewRegistry(), f.bucket, f.rdb, reconciler.Config{
				Prefix: "t", Interval: 10 * time.Millisecond, Lease: lease, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			ctx, cancel := context.WithCancel(context.Background())
			recs[r.ID()] = cancel
			id := r.ID()
			// Each decision waits for the test to read it: the test paces the
			// reconcilers' ticks.
			reconciler.OnLease(r, func(token string) {
				select {
				case decisions <- decision{id, token}:
				case <-ctx.Done():
				}
			})
			go func() { r.Run(ctx); done <- struct{}{} }()
		}
		t.Cleanup(func() {
			for _, c := range recs {
				c()
			}
			<-done
			<-done
		})
		next := func() decision {
			t.Helper()
			select {
			case d := <-decisions:
				return d
			case <-time.After(5 * time.Second):
				t.Fatal("no lease decision in 5s")
			}
			return decision{}
		}
		var leader decision
		for leader.token == "" {
			leader = next()
		}
		if _, ok := recs[leader.id]; !ok {
			t.Fatalf("lease taken by %q, not one of the reconcilers", leader.id)
		}
		for range 6 { // 6 × 2/3 of a lease: 4 lease lengths
			f.m.FastForward(lease * 2 / 3)
			// Two decisions of the leader after the jump: the second began
			// after it, so it renewed the lease from 1/3 left to full.
			for seen := 0; seen < 2; {
				d := next()
				switch {
				case d.id == leader.id && d.token != leader.token:
					t.Fatalf("the leader lost its lease (token now %q) while it ran", d.token)
				case d.id != leader.id && d.token != "":
					t.Fatalf("%s took the lease while %s ran", d.id, leader.id)
				case d.id == leader.id:
					seen++
				}
			}
			if v, err := f.m.Get("t:{q}:reconciler:lease"); err != nil || v != leader.token {
				t.Fatalf("lease value %q (%v), want the leader's token", v, err)
			}
		}
		recs[leader.id]()
		for d := next(); d.id == leader.id || d.token == ""; d = next() {
		}
	})
}

// After Redis lost its data, the old leader's token is gone: the process
// that takes the empty lease leads, and the old leader, which still thinks
// it leads, acts on nothing and does not lead again. A leader that cannot
// reach Redis stops acting too.
func TestLeaseFencedAfterDataLoss(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.now = time.Now()
		j := f.job(t, "sim") // QUEUED: its submit is lost with Redis's data below
		newRec := func() *reconciler.Reconciler {
			return reconciler.New(f.store, f.queue, providers.NewRegistry(), f.bucket, f.rdb, reconciler.Config{
				Prefix: "t", Lease: time.Minute, Now: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
		}
		a, b := newRec(), newRec()
		if !reconciler.Lead(a, ctx) || reconciler.Lead(b, ctx) {
			t.Fatal("want a leading and b not")
		}
		// Redis unreachable: a stops acting at once, its lease not expired.
		f.m.SetError("LOADING Redis is loading the dataset in memory")
		if n, err := reconciler.LeaderPass(a, ctx); !errors.Is(err, reconciler.ErrLostLease) || n != 0 {
			t.Fatalf("a's pass with Redis unreachable: %d actions, %v; want none, lease lost", n, err)
		}
		f.m.SetError("")
		if reconciler.Lead(b, ctx) {
			t.Fatal("b took the lease before a's expired")
		}
		f.m.FastForward(time.Minute) // a's lease runs out
		if !reconciler.Lead(a, ctx) {
			t.Fatal("a could not take the expired lease")
		}
		f.m.FlushAll() // Redis loses its data, the lease with it
		if !reconciler.Lead(b, ctx) {
			t.Fatal("b could not take the empty lease")
		}
		if n, err := reconciler.LeaderPass(a, ctx); !errors.Is(err, reconciler.ErrLostLease) || n != 0 {
			t.Errorf("the old leader's pass: %d actions, %v; want none, lease lost", n, err)
		}
		if stats, _ := f.queue.Stats(ctx); stats[queue.KindSubmit].Length != 0 {
			t.Errorf("%d submit tasks after the old leader's pass, want 0", stats[queue.KindSubmit].Length)
		}
		if reconciler.Lead(a, ctx) {
			t.Error("the old leader leads again while the new one holds the lease")
		}
		if n, err := reconciler.LeaderPass(b, ctx); err != nil || n != 1 {
			t.Errorf("the new leader's pass: %d actions, %v; want the rebuild's requeue", n, err)
		}
		if got, _ := f.store.JobByID(ctx, j.ID); got.Status != jobs.StatusQueued {
			t.Errorf("job %s, want QUEUED", got.Status)
		}
	})
}

// Redis restarted empty (FLUSHALL) with live jobs whose tasks were lost:
// nothing is stale yet, but the next pass notices the missing generation
// marker and gives every live job its task again — and only once.
func TestRebuildAfterRedisLostData(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.now = time.Now() // no job is stale: only the rebuild acts
		rid := func(id string) jobs.Transition {
			return jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, ProviderRequestID: id, ExpectAttempt: 1}
		}
		processing := jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusProcessing}
		queued := f.job(t, "sim")
		retrying := f.job(t, "sim", submitted(1), jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusRetrying, NextAttemptAt: ptr(f.now.Add(time.Hour)), ErrorCode: "X"})
		polled := f.job(t, "sim", submitted(1), rid("gen_a"), processing)
		finished := f.job(t, "sim", submitted(1), rid("gen_b"), processing,
			jobs.Transition{From: jobs.StatusProcessing, To: jobs.StatusProcessing, Type: "provider_completed", Progress: ptr(100)})
		midSubmit := f.job(t, "sim", submitted(1))
		canceled := f.job(t, "sim", submitted(1), rid("gen_c"), jobs.Transition{From: jobs.StatusSubmitted, To: jobs.StatusCanceled, ErrorCode: "CANCELED"})
		completed := f.job(t, "sim")
		jobstest.Complete(t, f.store, completed.ID)
		if n, err := f.rec.Pass(ctx); err != nil || n != 0 {
			t.Fatalf("pass before the loss: %d actions, %v; want none", n, err)
		}

		if err := f.rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := f.rec.Pass(ctx); err != nil || n != 5 {
			t.Errorf("pass after the loss: %d actions, %v; want 5 (submit, retry, 2 polls, cancel)", n, err)
		}
		stats, err := f.queue.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Both scheduled: the QUEUED job's after the rebuild's grace (its own
		// task may be on its way from the API), the RETRYING job's at its time.
		if s := stats[queue.KindSubmit]; s.Length != 0 || s.Scheduled != 2 {
			t.Errorf("submits: %d queued, %d scheduled; want none now and 2 scheduled", s.Length, s.Scheduled)
		}
		if n := stats[queue.KindPoll].Length; n != 2 {
			t.Errorf("%d poll tasks, want 2 (PROCESSING, and finished without its ingest)", n)
		}
		if n := stats[queue.KindCancel].Length; n != 1 {
			t.Errorf("%d cancel tasks, want 1", n)
		}
		evs, _ := f.store.EventsOf(ctx, []int64{queued.ID, retrying.ID, polled.ID, finished.ID, midSubmit.ID, canceled.ID})
		for _, c := range []struct {
			j    *jobs.Job
			want string
		}{{queued, "requeued"}, {retrying, "requeued"}, {polled, "poll_requested"}, {finished, "poll_requested"}, {midSubmit, "submitted"}} {
			if got := evs[c.j.ID][len(evs[c.j.ID])-1]; got.Type != c.want {
				t.Errorf("job %d (%s): last event %s, want %s", c.j.ID, c.j.Status, got.Type, c.want)
			}
		}
		if n, err := f.rec.Pass(ctx); err != nil || n != 0 {
			t.Errorf("the pass after the rebuild: %d actions, %v; want none (a new marker is in place)", n, err)
		}
	})
}
