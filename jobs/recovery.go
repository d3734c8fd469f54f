package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

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
