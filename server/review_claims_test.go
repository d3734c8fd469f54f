package server_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

// TestReviewClaimsGraphQL is the dashboard's contract over the endpoint:
// a claim is sent live to the review queue with reviewClaim set; another
// reviewer's claim or decision is a CONFLICT whose message and extensions
// name the holder and the expiry; deciding a decided job names who did.
func TestReviewClaimsGraphQL(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		b := liveBroker(t)
		e := newEnvWith(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: b, MaxConnectionsPerIdentity: -1})
		e.store.OnCommit(jobs.PublishChanges(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
		id := e.createID(t, "alice", "claims over graphql")
		e.complete(t, id)

		// Ada watches the queue; rita opens the job once ada has its state.
		var claimedAt float64
		var heard bool
		o := e.subscribeFirst(t, "ada", `subscription { reviewQueue { id version reviewClaim { jobId reviewerId expiresAt } } }`, nil, 5*time.Second,
			func(d map[string]any) bool {
				u, _ := d["reviewQueue"].(map[string]any)
				if u["id"] != id {
					return false
				}
				if u["reviewClaim"] == nil && claimedAt == 0 {
					r := e.do(t, "rita", `mutation($id: ID!) { claimReview(id: $id) { reviewerId expiresAt job { id version reviewClaim { reviewerId } } } }`, map[string]any{"id": id}).ok(t)
					if r.str("claimReview.reviewerId") != "rita" || r.str("claimReview.job.reviewClaim.reviewerId") != "rita" {
						t.Fatalf("claimReview = %v, want rita's claim on the job", r.Data)
					}
					claimedAt, _ = r.get("claimReview.job.version").(float64)
					return false
				}
				c, _ := u["reviewClaim"].(map[string]any)
				heard = c["reviewerId"] == "rita" && u["version"] == claimedAt && c["jobId"] == id && c["expiresAt"] != ""
				return heard
			})
		if o.code != "" || !heard {
			t.Fatalf("reviewQueue never sent rita's claim (%s)", o.code)
		}

		// Who has it open is for reviewers and admins, not for the owner.
		for who, want := range map[string]any{"alice": nil, "rita": "rita"} {
			o := e.subscribeFirst(t, who, `subscription($id: ID!) { jobStatus(id: $id) { id reviewClaim { reviewerId } } }`, map[string]any{"id": id}, 5*time.Second, nil)
			if got := o.get("jobStatus.reviewClaim.reviewerId"); o.code != "" || got != want || (want == nil && o.get("jobStatus.id") != id) {
				t.Errorf("jobStatus as %s: reviewClaim.reviewerId = %v (%s), want %v", who, got, o.code, want)
			}
		}

		claim := `mutation($id: ID!) { claimReview(id: $id) { reviewerId } }`
		r := e.do(t, "ada", claim, map[string]any{"id": id})
		ge := r.wantError(t, "CONFLICT", "")
		if !strings.Contains(ge.Message, "being reviewed by rita") || ge.Extensions["reason"] != "CLAIMED" ||
			ge.Extensions["reviewerId"] != "rita" || ge.Extensions["claimExpiresAt"] == nil {
			t.Errorf("claimReview(ada) error = %q %v, want CLAIMED by rita with the expiry", ge.Message, ge.Extensions)
		}
		e.do(t, "ada", approve, map[string]any{"id": id}).wantError(t, "CONFLICT", "")

		e.do(t, "rita", approve, map[string]any{"id": id}).ok(t)
		ge = e.do(t, "ada", reject, map[string]any{"id": id, "reasons": []string{"LABEL_UNREADABLE"}}).wantError(t, "CONFLICT", "")
		if !strings.Contains(ge.Message, "already approved by rita") || ge.Extensions["reason"] != "ALREADY_DECIDED" ||
			ge.Extensions["decision"] != "APPROVED" || ge.Extensions["reviewerId"] != "rita" {
			t.Errorf("rejectVideoJob(ada) of an approved job = %q %v, want ALREADY_DECIDED approved by rita", ge.Message, ge.Extensions)
		}
	})
}
