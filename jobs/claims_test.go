package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

var ray = jobs.Actor{Subject: "ray", Role: jobs.RoleReviewer}

// completedJob is one of alice's jobs, walked to COMPLETED.
func (e *assetEnv) completedJob(t *testing.T) *jobs.Job {
	t.Helper()
	j, _, err := e.svc.CreateJob(context.Background(), alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "a lighthouse at dusk"})
	if err != nil {
		t.Fatal(err)
	}
	return jobstest.Complete(t, e.store, j.ID)
}

// wantConflict checks err is a CONFLICT with reason, whose message holds
// every one of words.
func wantConflict(t *testing.T, what string, err error, reason string, words ...string) *jobs.Error {
	t.Helper()
	var e *jobs.Error
	if !errors.As(err, &e) || e.Code != jobs.CodeConflict || e.Reason != reason {
		t.Fatalf("%s: err = %#v, want CONFLICT %s", what, err, reason)
	}
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("%s: message %q does not say %q", what, e.Message, w)
		}
	}
	return e
}

func TestReviewClaims(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := context.Background()
		var mu sync.Mutex
		var published []jobs.Change
		e.store.OnCommit(func(_ context.Context, cs []jobs.Change) {
			mu.Lock()
			published = append(published, cs...)
			mu.Unlock()
		})
		lastPublished := func() jobs.Change {
			mu.Lock()
			defer mu.Unlock()
			return published[len(published)-1]
		}
		job := e.completedJob(t)

		// Rita opens the job: it is hers for the claim TTL, and the change
		// is published to the review queue with a new version.
		claimed, err := e.svc.ClaimReview(ctx, rita, job.PublicID)
		if err != nil {
			t.Fatalf("ClaimReview(rita) = %v", err)
		}
		holder, until, ok := claimed.ReviewClaim(e.clock.Now())
		if !ok || holder != "rita" || !until.Equal(e.clock.Now().Add(jobs.DefaultReviewClaimTTL)) || claimed.Version != job.Version+1 {
			t.Fatalf("ClaimReview(rita) = claim %q until %v (%v), v%d; want rita until now+TTL, v%d", holder, until, ok, claimed.Version, job.Version+1)
		}
		if c := lastPublished(); c.Job.Version != claimed.Version || c.Job.ClaimedBy == nil || *c.Job.ClaimedBy != "rita" || !slices.Contains(c.Channels(), jobs.ReviewChannel) {
			t.Errorf("published %+v on %v, want rita's claim at v%d on the review queue", c.Job, c.Channels(), claimed.Version)
		}
		if evs := events(t, e.store, job.ID); evs[len(evs)-1].Type != "review_claimed" || evs[len(evs)-1].Version != claimed.Version {
			t.Errorf("last event = %+v, want review_claimed at v%d", evs[len(evs)-1], claimed.Version)
		}

		// Ray may neither claim nor decide it: both name rita and the expiry.
		_, err = e.svc.ClaimReview(ctx, ray, job.PublicID)
		ce := wantConflict(t, "ClaimReview(ray)", err, jobs.ReasonClaimed, "being reviewed by rita", until.Format(time.RFC3339))
		if ce.Extra["reviewerId"] != "rita" || ce.Extra["claimExpiresAt"] != until.Format(time.RFC3339Nano) {
			t.Errorf("ClaimReview(ray) extensions = %v, want rita and %s", ce.Extra, until.Format(time.RFC3339Nano))
		}
		_, err = e.svc.Review(ctx, ray, job.PublicID, jobs.ReviewInput{Decision: jobs.DecisionApproved})
		wantConflict(t, "Review(ray) while rita holds it", err, jobs.ReasonClaimed, "being reviewed by rita")

		// Rita renews: the expiry moves, nothing else changes.
		e.clock.Advance(time.Minute)
		renewed, err := e.svc.ClaimReview(ctx, rita, job.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if _, until2, _ := renewed.ReviewClaim(e.clock.Now()); !until2.Equal(e.clock.Now().Add(jobs.DefaultReviewClaimTTL)) || renewed.Version != claimed.Version {
			t.Errorf("renewal = until %v v%d, want until now+TTL at the same v%d", until2, renewed.Version, claimed.Version)
		}

		// Rita's page closes without releasing: once the claim expires the
		// job is free, and ray takes it.
		e.clock.Advance(jobs.DefaultReviewClaimTTL + time.Second)
		if _, _, ok := renewed.ReviewClaim(e.clock.Now()); ok {
			t.Error("an expired claim still holds the job")
		}
		taken, err := e.svc.ClaimReview(ctx, ray, job.PublicID)
		if err != nil {
			t.Fatalf("ClaimReview(ray) after rita's claim expired = %v", err)
		}
		if h, _, _ := taken.ReviewClaim(e.clock.Now()); h != "ray" || taken.Version != claimed.Version+1 {
			t.Errorf("after expiry ClaimReview(ray) = %q v%d, want ray v%d", h, taken.Version, claimed.Version+1)
		}
		// Rita's late release ends nothing of ray's; her decision is refused.
		if j, err := e.svc.ReleaseReview(ctx, rita, job.PublicID); err != nil || j.Version != taken.Version || *j.ClaimedBy != "ray" {
			t.Errorf("ReleaseReview(rita) on ray's claim = %+v, %v; want no change", j, err)
		}
		_, err = e.svc.Review(ctx, rita, job.PublicID, jobs.ReviewInput{Decision: jobs.DecisionRejected, Reasons: []jobs.Reason{jobs.ReasonLabelUnreadable}})
		wantConflict(t, "Review(rita) while ray holds it", err, jobs.ReasonClaimed, "being reviewed by ray")

		// Ray decides; the claim goes with the job out of review.
		approved, err := e.svc.Review(ctx, ray, job.PublicID, jobs.ReviewInput{Decision: jobs.DecisionApproved})
		if err != nil || approved.Status != jobs.StatusApproved || approved.ClaimedBy != nil {
			t.Fatalf("Review(ray) = %+v, %v; want APPROVED with no claim", approved, err)
		}
		// Anyone deciding or claiming it now hears who decided it.
		_, err = e.svc.Review(ctx, rita, job.PublicID, jobs.ReviewInput{Decision: jobs.DecisionRejected, Reasons: []jobs.Reason{jobs.ReasonLabelUnreadable}})
		de := wantConflict(t, "Review(rita) of an approved job", err, jobs.ReasonAlreadyDecided, "already approved by ray")
		if de.Extra["decision"] != "APPROVED" || de.Extra["reviewerId"] != "ray" {
			t.Errorf("Review(rita) of an approved job extensions = %v, want APPROVED by ray", de.Extra)
		}
		_, err = e.svc.ClaimReview(ctx, rita, job.PublicID)
		wantConflict(t, "ClaimReview(rita) of an approved job", err, jobs.ReasonAlreadyDecided, "already approved by ray")
	})
}

func TestReviewClaimRelease(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := context.Background()
		job := e.completedJob(t)
		claimed, err := e.svc.ClaimReview(ctx, rita, job.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		released, err := e.svc.ReleaseReview(ctx, rita, job.PublicID)
		if err != nil || released.ClaimedBy != nil || released.Version != claimed.Version+1 {
			t.Fatalf("ReleaseReview(rita) = %+v, %v; want no claim at v%d", released, err, claimed.Version+1)
		}
		if evs := events(t, e.store, job.ID); evs[len(evs)-1].Type != "review_released" {
			t.Errorf("last event = %s, want review_released", evs[len(evs)-1].Type)
		}
		// Free at once, without waiting for the expiry.
		if _, err := e.svc.ClaimReview(ctx, ray, job.PublicID); err != nil {
			t.Errorf("ClaimReview(ray) after rita released = %v", err)
		}
	})
}

// Claims follow the rule of the job they are on: a reviewer may not see a
// job that is not in review (NOT_FOUND); an admin sees it, and hears its
// status (CONFLICT); users may not claim (FORBIDDEN).
func TestReviewClaimRefusals(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := context.Background()
		queued, _, err := e.svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: "still queued"})
		if err != nil {
			t.Fatal(err)
		}
		completed := e.completedJob(t)
		tests := []struct {
			who  jobs.Actor
			id   string
			want jobs.Code
		}{
			{rita, queued.PublicID, jobs.CodeNotFound},
			{rita, "00000000-0000-4000-8000-000000000000", jobs.CodeNotFound},
			{rita, "not-a-uuid", jobs.CodeNotFound},
			{ada, queued.PublicID, jobs.CodeConflict},
			{alice, completed.PublicID, jobs.CodeForbidden},
			{jobs.Actor{}, completed.PublicID, jobs.CodeUnauthenticated},
		}
		for _, tt := range tests {
			_, err := e.svc.ClaimReview(ctx, tt.who, tt.id)
			if got := jobs.CodeOf(err); got != tt.want {
				t.Errorf("ClaimReview(%s, %s) = %v, want %s", tt.who.Subject, tt.id, err, tt.want)
			}
			_, err = e.svc.ReleaseReview(ctx, tt.who, tt.id)
			if got := jobs.CodeOf(err); got != tt.want && !(tt.want == jobs.CodeConflict && err == nil) {
				t.Errorf("ReleaseReview(%s, %s) = %v, want %s", tt.who.Subject, tt.id, err, tt.want)
			}
		}
		if _, err := e.svc.ClaimReview(ctx, ada, queued.PublicID); err == nil || !strings.Contains(err.Error(), "QUEUED") {
			t.Errorf("ClaimReview(admin, queued) = %v, want a CONFLICT naming QUEUED", err)
		}
		if j, _ := e.store.JobByID(ctx, queued.ID); j.ClaimedBy != nil || j.Version != queued.Version {
			t.Errorf("refused claims changed the job: %+v", j)
		}
	})
}

// Reviewers read the prompt and the source image of jobs in review, and
// every read of another owner's inputs is in the audit trail; the owner's
// own reads are not.
func TestReviewerReadsInputsAudited(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := jobs.WithRequestID(context.Background(), "req-read")
		asset, err := e.upload(t, alice, pngBytes(t, 64, 64), "image/png")
		if err != nil {
			t.Fatal(err)
		}
		const prompt = "a bottle turning on a plinth"
		j, _, err := e.svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.ImageToVideo, Prompt: prompt, SourceAssetID: asset.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		queued, err := e.store.JobByID(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Not in review yet: the reviewer may not read its inputs.
		if _, err := e.svc.Prompt(ctx, rita, queued); jobs.CodeOf(err) != jobs.CodeForbidden {
			t.Errorf("Prompt(reviewer, QUEUED) = %v, want FORBIDDEN", err)
		}
		if _, err := e.svc.SourceImage(ctx, rita, queued); jobs.CodeOf(err) != jobs.CodeForbidden {
			t.Errorf("SourceImage(reviewer, QUEUED) = %v, want FORBIDDEN", err)
		}
		if n := len(auditEntries(t, e.store, jobs.AuditFilter{})); n != 0 {
			t.Fatalf("refused reads wrote %d audit entries", n)
		}
		job := jobstest.Complete(t, e.store, j.ID)
		job, _ = e.store.JobByID(ctx, job.ID)

		for _, a := range []jobs.Actor{rita, ada, alice} {
			got, err := e.svc.Prompt(ctx, a, job)
			if err != nil || got != prompt {
				t.Errorf("Prompt(%s) = %q, %v; want the prompt", a.Subject, got, err)
			}
			img, err := e.svc.SourceImage(ctx, a, job)
			if err != nil || img == nil || img.PublicID != asset.PublicID {
				t.Errorf("SourceImage(%s) = %+v, %v; want asset %s", a.Subject, img, err, asset.PublicID)
			}
		}
		tests := []struct {
			action jobs.AuditAction
			actor  string
			kind   string
			target string
		}{
			{jobs.AuditPromptRead, "rita", "job", job.PublicID},
			{jobs.AuditPromptRead, "ada", "job", job.PublicID},
			{jobs.AuditAssetRead, "rita", "source_asset", asset.PublicID},
			{jobs.AuditAssetRead, "ada", "source_asset", asset.PublicID},
		}
		for _, tt := range tests {
			es := auditEntries(t, e.store, jobs.AuditFilter{Action: string(tt.action), Actor: tt.actor})
			if len(es) != 1 {
				t.Errorf("audit %s by %s = %d entries, want 1", tt.action, tt.actor, len(es))
				continue
			}
			en := es[0]
			if en.TargetKind != tt.kind || en.TargetID != tt.target || en.RequestID == nil || *en.RequestID != "req-read" {
				t.Errorf("audit %s by %s = %s %s (request %v), want %s %s", tt.action, tt.actor, en.TargetKind, en.TargetID, en.RequestID, tt.kind, tt.target)
			}
			if en.Detail == nil || strings.Contains(*en.Detail, "bottle") || !strings.Contains(*en.Detail, "alice") {
				t.Errorf("audit %s detail = %v, want the owner and never the prompt", tt.action, en.Detail)
			}
		}
		if es := auditEntries(t, e.store, jobs.AuditFilter{Actor: "alice"}); len(es) != 0 {
			t.Errorf("the owner's own reads wrote %d audit entries, want none", len(es))
		}
	})
}
