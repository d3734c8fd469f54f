package worker_test

import (
	"context"
	"testing"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
)

// done is a provider whose every request has finished with a video.
type done struct{ steady }

func (done) Name() string { return "done" }
func (done) Status(_ context.Context, id string) (providers.Status, error) {
	return providers.Status{RequestID: id, State: providers.StateSucceeded, Progress: 100,
		Outputs: []providers.Output{{Kind: providers.OutputVideo, URL: "https://cdn.example/v.mp4"}}}, nil
}

// A poll that learns of the end while Redis is unreachable records the
// completion, cannot queue the ingest, and marks the job so that the
// reconciler's next pass redoes it (rather than its stale threshold).
func TestLostIngestMarksTheJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, worker.Config{}, done{})
	j := f.submittedJob(t, "done", "gen_1")
	f.rdb.Close() // Redis unreachable from here on
	if err := f.w.Handle(context.Background(), queue.Task{Kind: queue.KindPoll, JobID: j.ID, Attempt: 1, Data: map[string]string{"n": "1"}}); err != nil {
		t.Fatal(err)
	}
	got := f.job(t, j.ID)
	if got.Progress != 100 {
		t.Fatalf("progress %d, want 100 (the completion is recorded)", got.Progress)
	}
	evs, err := f.store.EventsOf(context.Background(), []int64{j.ID})
	if err != nil {
		t.Fatal(err)
	}
	last := evs[j.ID][len(evs[j.ID])-1]
	if last.Type != jobs.EventFollowUpLost || last.Source != jobs.SourceWorker {
		t.Fatalf("last event %s by %s; want %s by the worker", last.Type, last.Source, jobs.EventFollowUpLost)
	}
	lost, err := f.store.LostFollowUps(context.Background(), 10)
	if err != nil || len(lost) != 1 || lost[0].ID != j.ID {
		t.Fatalf("LostFollowUps = %v, %v; want the job", lost, err)
	}
}
