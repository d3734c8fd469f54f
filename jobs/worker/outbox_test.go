package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
)

// finished is a provider whose every request has finished with a video at
// url.
type finished struct {
	steady
	url string
}

func (finished) Name() string { return "finished" }
func (f finished) Status(_ context.Context, id string) (providers.Status, error) {
	return providers.Status{RequestID: id, State: providers.StateSucceeded, Progress: 100,
		Outputs: []providers.Output{{Kind: providers.OutputVideo, URL: f.url, ContentType: "video/mp4"}}}, nil
}

// nokeys is a provider that cannot deduplicate submissions.
type nokeys struct{ ledger }

func (*nokeys) Name() string                { return "nokeys" }
func (*nokeys) HonorsIdempotencyKeys() bool { return false }

// streamLength is how many entries kind's stream holds.
func (f *fixture) streamLength(t *testing.T, kind queue.Kind) int64 {
	t.Helper()
	stats, err := f.queue.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return stats[kind].Length
}

// A poll that learns of the end while Redis is unreachable commits the
// completion with its ingest task in the outbox; once Redis answers, the
// relay queues the ingest after the grace, and the job completes — without
// the reconciler.
func TestIngestRelayedAfterOutage(t *testing.T) {
	t.Parallel()
	srv := vendorFiles(t, testVideo(t))
	d := finished{url: srv.URL + "/out/video.mp4?key=" + vendorSecret}
	f := newFixture(t, worker.Config{HTTPClient: srv.Client()}, d)
	ctx := context.Background()
	j := f.submittedJob(t, "finished", "gen_1")
	if err := f.relay.Flush(ctx); err != nil { // its submit was sent: its row goes
		t.Fatal(err)
	}
	completed := make(chan struct{})
	f.store.OnCommit(func(_ context.Context, cs []jobs.Change) {
		for _, c := range cs {
			if c.Job.ID == j.ID && c.Job.Status == jobs.StatusCompleted {
				close(completed)
			}
		}
	})

	f.outage.Store(true) // Redis unreachable from here on
	if err := f.w.Handle(ctx, queue.Task{Kind: queue.KindPoll, JobID: j.ID, Attempt: 1, Data: map[string]string{"n": "1"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.job(t, j.ID); got.Progress != 100 || got.Status != jobs.StatusSubmitted {
		t.Fatalf("after the poll: %s at %d%%, want SUBMITTED at 100%% (the completion is recorded)", got.Status, got.Progress)
	}
	rows, err := f.store.OutboxTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Kind != queue.KindIngest || rows[0].JobID != j.ID {
		t.Fatalf("outbox %+v; want the job's ingest", rows)
	}
	if n := f.streamLength(t, queue.KindIngest); n != 0 {
		t.Fatalf("%d ingest entries while Redis is unreachable, want 0", n)
	}

	f.outage.Store(false) // Redis is back
	if n, err := f.relay.RelayOnce(ctx); err != nil || n != 0 {
		t.Fatalf("relay within the grace: %d sent, %v; want 0", n, err)
	}
	f.now = f.now.Add(2 * time.Second) // the relay's default grace
	if n, err := f.relay.RelayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("relay after the grace: %d sent, %v; want 1", n, err)
	}
	if n := f.streamLength(t, queue.KindIngest); n != 1 {
		t.Fatalf("%d ingest entries after the relay, want 1", n)
	}

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.w.Run(rctx, time.Second) }()
	select {
	case <-completed:
	case <-time.After(30 * time.Second):
		t.Fatalf("the job is %s 30 s after its ingest was relayed, want COMPLETED", f.job(t, j.ID).Status)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Every kind of task the outbox can queue twice is harmless the second
// time: a submit after the submit (one vendor call), an ingest after the
// ingest (one artifact), a poll after the completion (the ingest again,
// which finds the job COMPLETED).
func TestDuplicateTasksAreHarmless(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("submit", func(t *testing.T) {
		f := newFixture(t, worker.Config{})
		vendor := &ledger{}
		w, job := submitWorker(t, f, vendor)
		task := queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1, Deliveries: 1}
		for range 2 {
			if err := w.Handle(ctx, task); err != nil {
				t.Fatal(err)
			}
		}
		if gens, calls := vendor.generations(); gens != 1 || len(calls) != 1 {
			t.Errorf("vendor: %d generations in %d calls, want 1 in 1", gens, len(calls))
		}
		if got := f.job(t, job.ID); got.Status != jobs.StatusSubmitted || got.Attempt != 1 || deref(got.ProviderRequestID) != "gen-1" {
			t.Errorf("job %s attempt %d request %q, want SUBMITTED at 1 with gen-1", got.Status, got.Attempt, deref(got.ProviderRequestID))
		}
	})
	t.Run("ingest and poll", func(t *testing.T) {
		srv := vendorFiles(t, testVideo(t))
		d := finished{url: srv.URL + "/out/video.mp4?key=" + vendorSecret}
		f := newFixture(t, worker.Config{HTTPClient: srv.Client()}, d)
		job := f.submittedJob(t, "finished", "gen_1")
		ingest := ingestTask(job, d.url)
		for _, task := range []queue.Task{ingest, ingest, {Kind: queue.KindPoll, JobID: job.ID, Attempt: 1, Data: map[string]string{"n": "1"}}, ingest} {
			if err := f.w.Handle(ctx, task); err != nil {
				t.Fatalf("%s: %v", task.Kind, err)
			}
		}
		arts, err := f.store.ArtifactsOf(ctx, []int64{job.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.job(t, job.ID); got.Status != jobs.StatusCompleted || len(arts[job.ID]) != 1 {
			t.Errorf("job %s with %d artifacts, want COMPLETED with 1", got.Status, len(arts[job.ID]))
		}
	})
}

// A second entry of a submit task, delivered while the first is being
// handled (the job is SUBMITTED, its provider not yet answered), does not
// fail the job of a provider without idempotency keys: it is dropped, and
// the first submission goes on. A redelivery of the first entry (its
// worker died: Deliveries > 1) still fails it, as before: its outcome is
// unknown.
func TestDuplicateSubmitWhileInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, worker.Config{})
	vendor := &nokeys{}
	w, job := submitWorker(t, f, vendor)
	if _, err := f.store.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted,
		Attempt: 1, Source: jobs.SourceWorker}); err != nil { // the first delivery, mid-call
		t.Fatal(err)
	}
	if err := w.Handle(ctx, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1, Deliveries: 1}); err != nil {
		t.Fatal(err)
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusSubmitted {
		t.Fatalf("after a duplicate submit: %s (%s), want SUBMITTED: the first submission is still going", got.Status, deref(got.ErrorCode))
	}
	if _, calls := vendor.generations(); len(calls) != 0 {
		t.Errorf("the duplicate called the vendor %d times, want 0", len(calls))
	}
	if err := w.Handle(ctx, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1, Deliveries: 2}); err != nil {
		t.Fatal(err)
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusFailed || deref(got.ErrorCode) != jobs.FailSubmitUnknown {
		t.Errorf("after the first entry's redelivery: %s %s, want FAILED %s", got.Status, deref(got.ErrorCode), jobs.FailSubmitUnknown)
	}
}
