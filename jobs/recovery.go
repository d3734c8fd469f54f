package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// EventFollowUpLost is the event type that marks a job whose follow-up task
// could not be queued after its change committed (Redis was unreachable).
// While it is a job's latest event, the reconciler's next pass redoes the
// job's next step from its state (see package reconciler), so the job waits
// seconds, not the reconciler's stale thresholds.
const EventFollowUpLost = "follow_up_lost"

// MarkFollowUpLost records that the follow-up task (kind names it) of job id
// could not be queued: a same-status change whose event is
// EventFollowUpLost. A job that is finished, or moved to another attempt
// than attempt (0: any), is left alone: its next step no longer follows from
// the lost task. It reports whether the mark was written.
func (s *Store) MarkFollowUpLost(ctx context.Context, id int64, attempt int, kind string, src Source) (bool, error) {
	job, err := s.JobByID(ctx, id)
	if err != nil {
		return false, err
	}
	if job.Status.Terminal() || job.Status == StatusCompleted || (attempt > 0 && job.Attempt != attempt && job.Attempt+1 != attempt) {
		return false, nil
	}
	t := Transition{JobID: id, From: job.Status, To: job.Status, Type: EventFollowUpLost, Source: src,
		Message: "queueing its " + kind + " task failed; the reconciler will redo it"}
	if job.Attempt > 0 {
		t.ExpectAttempt = job.Attempt
	}
	_, err = s.TransitionTx(ctx, t)
	var guard *GuardError
	if errors.As(err, &guard) {
		return false, nil // it moved on: whatever moved it queued its own follow-up
	}
	return err == nil, err
}

// LostFollowUps returns unfinished jobs whose latest event is
// EventFollowUpLost, oldest update first.
func (s *Store) LostFollowUps(ctx context.Context, limit int) ([]*Job, error) {
	var out []*Job
	err := s.selectJobs(s.db).
		Join("JOIN video_job_events AS e ON e.job_id = j.id AND e.version = j.version").
		Where("e.event_type = ?", EventFollowUpLost).
		Where("j.status IN (?)", bun.In(GeneratingStatuses)).
		OrderExpr("j.updated_at, j.id").Limit(int64(max(limit, 1))).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("find lost follow-ups: %w", err)
	}
	return out, nil
}

// LiveJobsAfter returns unfinished jobs (QUEUED, SUBMITTED, PROCESSING,
// RETRYING) with an id above after, by id: the pages of a walk over every
// live job, which changes made meanwhile cannot reorder.
func (s *Store) LiveJobsAfter(ctx context.Context, after int64, limit int) ([]*Job, error) {
	var out []*Job
	err := s.selectJobs(s.db).Where("j.status IN (?)", bun.In(GeneratingStatuses)).Where("j.id > ?", after).
		OrderExpr("j.id").Limit(int64(max(limit, 1))).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list live jobs: %w", err)
	}
	return out, nil
}

// CanceledSince returns jobs CANCELED or EXPIRED since `since` that hold a
// provider request id (whose provider was asked to stop), with an id above
// after, by id.
func (s *Store) CanceledSince(ctx context.Context, since time.Time, after int64, limit int) ([]*Job, error) {
	var out []*Job
	err := s.selectJobs(s.db).Where("j.status IN (?)", bun.In([]Status{StatusCanceled, StatusExpired})).
		Where("j.provider_request_id IS NOT NULL").Where("j.updated_at >= ?", since.UTC()).Where("j.id > ?", after).
		OrderExpr("j.id").Limit(int64(max(limit, 1))).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list canceled jobs: %w", err)
	}
	return out, nil
}
