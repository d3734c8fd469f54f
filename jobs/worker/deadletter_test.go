package worker_test

import (
	"context"
	"testing"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
)

// A task dead-lettered after too many deliveries fails its job with
// TOO_MANY_ATTEMPTS and a next step; a job that finished meanwhile is left
// alone.
func TestDeadLetterFailsTheJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := jobs.NewStore(jobstest.SQLite(t), nil)
	w := worker.New(store, jobstest.Vault(t), nil, providers.NewRegistry(), nil, worker.Config{})
	insert := func() *jobs.Job {
		j, _, err := store.InsertJob(ctx, &jobs.Job{PublicID: "00000000-0000-4000-8000-000000000001",
			OwnerID: "alice", WorkflowType: jobs.TextToVideo, Provider: "sim",
			Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}, PromptHash: "h"},
			&jobs.Prompt{KeyID: "k1", Ciphertext: []byte("x")}, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	j := insert()
	if err := w.DeadLetter(ctx, queue.Task{Kind: queue.KindIngest, JobID: j.ID, Attempt: 1, Deliveries: 6}); err != nil {
		t.Fatal(err)
	}
	got, _ := store.JobByID(ctx, j.ID)
	if got.Status != jobs.StatusFailed || got.ErrorCode == nil || *got.ErrorCode != jobs.FailTooManyAttempts {
		t.Fatalf("after DeadLetter: %s %v, want FAILED %s", got.Status, got.ErrorCode, jobs.FailTooManyAttempts)
	}
	if jobs.NextStep(*got.ErrorCode) == "" {
		t.Error("no next step for TOO_MANY_ATTEMPTS")
	}
	// Already terminal: untouched, and no error.
	if err := w.DeadLetter(ctx, queue.Task{Kind: queue.KindIngest, JobID: j.ID, Attempt: 1, Deliveries: 6}); err != nil {
		t.Errorf("DeadLetter of a finished job: %v", err)
	}
	if again, _ := store.JobByID(ctx, j.ID); again.Version != got.Version {
		t.Errorf("a finished job changed: v%d → v%d", got.Version, again.Version)
	}
}
