package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

// A reviewer who may not read a job (it is not in review) hears exactly
// what a job that does not exist gets: no status leaks through a CONFLICT.
func TestReviewHidesStatusOutsideReview(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		store := jobs.NewStore(db, nil)
		svc, err := jobs.NewService(store, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}})
		if err != nil {
			t.Fatal(err)
		}
		alice := jobs.Actor{Subject: "alice", Role: jobs.RoleUser}
		rita := jobs.Actor{Subject: "rita", Role: jobs.RoleReviewer}
		ada := jobs.Actor{Subject: "ada", Role: jobs.RoleAdmin}
		create := func() *jobs.Job {
			j, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a quiet harbour"})
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		approve := jobs.ReviewInput{Decision: jobs.DecisionApproved}
		reviewErr := func(a jobs.Actor, id string) *jobs.Error {
			t.Helper()
			_, err := svc.Review(ctx, a, id, approve)
			var e *jobs.Error
			if !errors.As(err, &e) {
				t.Fatalf("Review(%s, %s) error = %v, want a *jobs.Error", a.Subject, id, err)
			}
			return e
		}
		const missing = "00000000-0000-4000-8000-000000000000"
		absent := reviewErr(rita, missing)

		queued, canceled, approved := create(), create(), create()
		if _, err := svc.Cancel(ctx, alice, canceled.PublicID); err != nil {
			t.Fatal(err)
		}
		jobstest.Complete(t, store, approved.ID)
		if _, err := svc.Review(ctx, rita, approved.PublicID, approve); err != nil {
			t.Fatal(err)
		}

		for name, j := range map[string]*jobs.Job{"QUEUED": queued, "CANCELED": canceled} {
			got := reviewErr(rita, j.PublicID)
			want := strings.Replace(absent.Message, missing, j.PublicID, 1)
			if got.Code != jobs.CodeNotFound || got.Message != want {
				t.Errorf("reviewer on a %s job: %s %q, want %s %q (as for a job that does not exist)", name, got.Code, got.Message, jobs.CodeNotFound, want)
			}
			// An admin may read every job: the CONFLICT names the status.
			if got := reviewErr(ada, j.PublicID); got.Code != jobs.CodeConflict || !strings.Contains(got.Message, name) {
				t.Errorf("admin on a %s job: %s %q, want CONFLICT naming %s", name, got.Code, got.Message, name)
			}
		}
		// A job in review the reviewer may read: the CONFLICT names its status.
		if got := reviewErr(rita, approved.PublicID); got.Code != jobs.CodeConflict || !strings.Contains(got.Message, "APPROVED") {
			t.Errorf("reviewer on an APPROVED job: %s %q, want CONFLICT naming APPROVED", got.Code, got.Message)
		}
	})
}
