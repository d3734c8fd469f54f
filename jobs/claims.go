package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Review claims: a reviewer who opens a COMPLETED job in the review
// dashboard takes a lease on it for DefaultReviewClaimTTL, renewed while
// the page stays open and released when it closes. While the lease is live
// no one else may claim or decide the job; once it expires the job is free
// again without anyone clearing it. Taking and releasing a lease are
// versioned changes of the job (an event each, published live), so queue
// rows can show "being reviewed by …"; a renewal by the holder only moves
// the expiry, as the passing of time does.

// DefaultReviewClaimTTL is how long a claim lasts without being renewed.
const DefaultReviewClaimTTL = 5 * time.Minute

// Reasons (Error.Reason) of the CONFLICTs of claims and decisions.
const (
	// ReasonClaimed: another reviewer holds a live claim on the job.
	ReasonClaimed = "CLAIMED"
	// ReasonAlreadyDecided: the job was approved or rejected already.
	ReasonAlreadyDecided = "ALREADY_DECIDED"
)

// errNotClaimable is what the store returns when a claim's guard fails:
// the job left COMPLETED, or another reviewer holds it.
var errNotClaimable = errors.New("job is not claimable")

// ReviewClaim returns who holds a live review lease on j at now, and
// until when; ok is false when nobody does.
func (j *Job) ReviewClaim(now time.Time) (reviewer string, until time.Time, ok bool) {
	if j.Status != StatusCompleted || j.ClaimedBy == nil || j.ClaimExpiresAt == nil || !j.ClaimExpiresAt.After(now) {
		return "", time.Time{}, false
	}
	return *j.ClaimedBy, *j.ClaimExpiresAt, true
}

// ClaimReview gives reviewer the review lease of the COMPLETED job jobID
// until now+ttl. Its holder renews it (only the expiry moves: no new
// version). Anyone takes it when it is free or expired: a new version with
// a review_claimed event, announced after the commit. A job that is not
// COMPLETED, or that another reviewer holds, is errNotClaimable.
func (s *Store) ClaimReview(ctx context.Context, jobID int64, reviewer string, ttl time.Duration) (*Job, error) {
	now := s.Now()
	until := now.Add(ttl)
	job := new(Job)
	err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		err := tx.NewUpdate().Table("video_jobs").
			Set("claim_expires_at = ?", until).
			Where("id = ?", jobID).Where("status = ?", StatusCompleted).
			Where("claimed_by = ?", reviewer).Where("claim_expires_at >= ?", now).
			Returning("*").Scan(ctx, job)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.NewUpdate().Table("video_jobs").
			Set("claimed_by = ?", reviewer).Set("claim_expires_at = ?", until).
			Set("version = version + 1").Set("updated_at = ?", now).
			Where("id = ?", jobID).Where("status = ?", StatusCompleted).
			Where("(claimed_by IS NULL OR claimed_by = ? OR claim_expires_at < ?)", reviewer, now).
			Returning("*").Scan(ctx, job)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotClaimable
		}
		if err != nil {
			return err
		}
		from := StatusCompleted
		return s.record(ctx, tx, job, &from, "review_claimed", SourceReviewer, &reviewer, nil, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("claim review: %w", err)
	}
	return s.JobByID(ctx, jobID)
}

// ReleaseReview ends reviewer's lease on jobID, live or expired: a new
// version with a review_released event. When reviewer holds none (it was
// released, or taken over after it expired) nothing changes.
func (s *Store) ReleaseReview(ctx context.Context, jobID int64, reviewer string) (*Job, error) {
	err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		job := new(Job)
		err := tx.NewUpdate().Table("video_jobs").
			Set("claimed_by = NULL").Set("claim_expires_at = NULL").
			Set("version = version + 1").Set("updated_at = ?", s.Now()).
			Where("id = ?", jobID).Where("status = ?", StatusCompleted).Where("claimed_by = ?", reviewer).
			Returning("*").Scan(ctx, job)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		from := StatusCompleted
		return s.record(ctx, tx, job, &from, "review_released", SourceReviewer, &reviewer, nil, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("release review: %w", err)
	}
	return s.JobByID(ctx, jobID)
}

// ClaimReview claims the COMPLETED job id for a, a reviewer or admin, for
// the configured claim TTL, or renews a's claim. A job a may not read is
// NOT_FOUND; one another reviewer holds is a CONFLICT naming them and the
// expiry (reason CLAIMED); a decided one a CONFLICT naming the decision
// and its reviewer (ALREADY_DECIDED); any other status a CONFLICT naming
// it.
func (s *Service) ClaimReview(ctx context.Context, a Actor, id string) (*Job, error) {
	job, err := s.reviewable(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if job.Status != StatusCompleted {
		return nil, s.reviewConflict(ctx, a, job)
	}
	claimed, err := s.store.ClaimReview(ctx, job.ID, a.Subject, s.cfg.ReviewClaimTTL)
	if errors.Is(err, errNotClaimable) {
		if job, err = s.store.JobByID(ctx, job.ID); err != nil {
			return nil, err
		}
		return nil, s.reviewConflict(ctx, a, job)
	}
	return claimed, err
}

// ReleaseReview gives up a's claim on the job id, if a holds one, and
// returns the job. Releasing a claim a does not hold changes nothing: a
// page that closes after its claim expired and was taken over must not end
// the new holder's.
func (s *Service) ReleaseReview(ctx context.Context, a Actor, id string) (*Job, error) {
	job, err := s.reviewable(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.store.ReleaseReview(ctx, job.ID, a.Subject)
}

// reviewable is the job id for a reviewer or admin who may read it.
func (s *Service) reviewable(ctx context.Context, a Actor, id string) (*Job, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !a.CanReview() {
		return nil, Errorf(CodeForbidden, "only reviewers and admins can claim jobs for review")
	}
	return s.Job(ctx, a, id)
}

// reviewConflict says why a cannot claim or decide job, as read after the
// refusal: another reviewer's live claim, an earlier decision, or a status
// that is not up for review.
func (s *Service) reviewConflict(ctx context.Context, a Actor, job *Job) error {
	switch job.Status {
	case StatusCompleted:
		holder, until, ok := job.ReviewClaim(s.store.Now())
		if !ok || holder == a.Subject {
			// The claim moved between the refusal and this read.
			return Errorf(CodeConflict, "job %s changed while you acted; try again", job.PublicID)
		}
		return &Error{Code: CodeConflict, Reason: ReasonClaimed,
			Message: fmt.Sprintf("job %s is being reviewed by %s until %s", job.PublicID, holder, until.Format(time.RFC3339)),
			Extra:   map[string]any{"reviewerId": holder, "claimExpiresAt": until.Format(time.RFC3339Nano)}}
	case StatusApproved, StatusRejected:
		revs, err := s.store.ReviewsOf(ctx, []int64{job.ID})
		if err != nil {
			return err
		}
		e := &Error{Code: CodeConflict, Reason: ReasonAlreadyDecided,
			Message: fmt.Sprintf("job %s is %s: only COMPLETED jobs can be reviewed", job.PublicID, job.Status),
			Extra:   map[string]any{"decision": string(job.Status)}}
		if rs := revs[job.ID]; len(rs) > 0 {
			last := rs[len(rs)-1]
			e.Message = fmt.Sprintf("job %s is %s: already %s by %s at %s", job.PublicID, job.Status, last.Decision, last.ReviewerID, last.CreatedAt.Format(time.RFC3339))
			e.Extra["reviewerId"] = last.ReviewerID
			e.Extra["decidedAt"] = last.CreatedAt.Format(time.RFC3339Nano)
		}
		return e
	}
	return Errorf(CodeConflict, "job %s is %s: only COMPLETED jobs can be reviewed", job.PublicID, job.Status)
}
