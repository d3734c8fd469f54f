package jobs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Stats answers the operations questions a team asks every day, computed in
// SQL from the jobs, events, reviews, receipts and artifacts tables.
type Stats struct {
	Since             time.Time
	JobsCreated       int
	TimeToCompleted   DurationStats
	Failures          []FailureRate
	Rejections        []ReasonCount
	Reviews           int
	DuplicateWebhooks int
	Stuck             []StuckJob
	Storage           []StorageUse
}

// DurationStats summarises durations, in seconds.
type DurationStats struct {
	Count             int
	Average, P50, P95 float64
}

// FailureRate is how many jobs of a provider and workflow finished, and how
// many of them failed.
type FailureRate struct {
	Provider     string
	WorkflowType WorkflowType
	Finished     int
	Failed       int
}

// ReasonCount is how often reviewers gave a rejection reason.
type ReasonCount struct {
	Reason Reason
	Count  int
}

// StuckJob is a job waiting on its provider with no change for a while.
type StuckJob struct {
	Job  *Job
	Idle time.Duration
}

// StorageUse is what one kind of artifact takes in the bucket.
type StorageUse struct {
	Kind      ArtifactKind
	Artifacts int
	Bytes     int64
}

// StuckAfter is how long a generating job may go without news before stats
// (and the jobs_stuck metric) call it stuck.
const StuckAfter = 10 * time.Minute

// Stats returns the statistics since a time, for admins.
func (s *Service) Stats(ctx context.Context, a Actor, since time.Time) (*Stats, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if a.Role != RoleAdmin {
		return nil, Errorf(CodeForbidden, "only admins see stats")
	}
	return s.store.Stats(ctx, since)
}

// Stats computes the statistics since a time.
func (s *Store) Stats(ctx context.Context, since time.Time) (*Stats, error) {
	since = since.UTC()
	st := &Stats{Since: since}
	created, err := s.db.NewSelect().Table("video_jobs").Where("created_at >= ?", since).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: jobs created: %w", err)
	}
	st.JobsCreated = int(created)
	if st.TimeToCompleted, err = s.completionTimes(ctx, since); err != nil {
		return nil, err
	}
	err = s.db.NewSelect().Table("video_jobs").
		ColumnExpr("provider, workflow_type, count(*) AS finished").
		ColumnExpr("sum(CASE WHEN status = ? THEN 1 ELSE 0 END) AS failed", StatusFailed).
		Where("status IN (?)", bun.In([]Status{StatusCompleted, StatusApproved, StatusRejected, StatusFailed})).
		Where("updated_at >= ?", since).GroupExpr("provider, workflow_type").OrderExpr("provider, workflow_type").
		Scan(ctx, &st.Failures)
	if err != nil {
		return nil, fmt.Errorf("stats: failures: %w", err)
	}
	var reviews []Review
	if err := s.db.NewSelect().Model(&reviews).Column("decision", "reasons").Where("created_at >= ?", since).Scan(ctx); err != nil {
		return nil, fmt.Errorf("stats: reviews: %w", err)
	}
	st.Reviews = len(reviews)
	counts := map[Reason]int{}
	for _, r := range reviews {
		if r.Decision == DecisionRejected && r.Reasons != "" {
			for _, code := range strings.Split(r.Reasons, ",") {
				counts[Reason(code)]++
			}
		}
	}
	for reason, n := range counts {
		st.Rejections = append(st.Rejections, ReasonCount{Reason: reason, Count: n})
	}
	sort.Slice(st.Rejections, func(i, j int) bool {
		if st.Rejections[i].Count != st.Rejections[j].Count {
			return st.Rejections[i].Count > st.Rejections[j].Count
		}
		return st.Rejections[i].Reason < st.Rejections[j].Reason
	})
	err = s.db.NewSelect().Table("provider_webhook_receipts").ColumnExpr("coalesce(sum(duplicates), 0)").
		Where("received_at >= ?", since).Scan(ctx, &st.DuplicateWebhooks)
	if err != nil {
		return nil, fmt.Errorf("stats: duplicate webhooks: %w", err)
	}
	now := s.Now()
	stuck, err := s.FindJobs(ctx, JobQuery{Statuses: []Status{StatusSubmitted, StatusProcessing}, UpdatedBefore: now.Add(-StuckAfter), Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, j := range stuck {
		st.Stuck = append(st.Stuck, StuckJob{Job: j, Idle: now.Sub(j.UpdatedAt)})
	}
	err = s.db.NewSelect().Table("video_artifacts").
		ColumnExpr("kind, count(*) AS artifacts, coalesce(sum(size_bytes), 0) AS bytes").
		Where("deleted_at IS NULL").GroupExpr("kind").OrderExpr("kind").Scan(ctx, &st.Storage)
	if err != nil {
		return nil, fmt.Errorf("stats: storage: %w", err)
	}
	return st, nil
}

// completionTimes summarises the time from creation to COMPLETED of jobs
// completed since a time. The percentiles are read with ORDER BY and
// OFFSET, which both dialects share.
func (s *Store) completionTimes(ctx context.Context, since time.Time) (DurationStats, error) {
	seconds := "(julianday(completed_at) - julianday(created_at)) * 86400.0"
	if IsPostgres(s.db) {
		seconds = "EXTRACT(EPOCH FROM (completed_at - created_at))"
	}
	var d DurationStats
	q := s.db.NewSelect().Table("video_jobs").Where("completed_at >= ?", since)
	err := q.ColumnExpr("count(*), coalesce(avg("+seconds+"), 0)").Scan(ctx, &d.Count, &d.Average)
	if err != nil || d.Count == 0 {
		return d, wrapStats(err)
	}
	at := func(p float64) (float64, error) {
		var v float64
		off := int64(p * float64(d.Count-1))
		err := s.db.NewSelect().Table("video_jobs").Where("completed_at >= ?", since).
			ColumnExpr(seconds).OrderExpr(seconds).Limit(1).Offset(off).Scan(ctx, &v)
		return v, err
	}
	if d.P50, err = at(0.50); err != nil {
		return d, wrapStats(err)
	}
	d.P95, err = at(0.95)
	return d, wrapStats(err)
}

func wrapStats(err error) error {
	if err != nil {
		return fmt.Errorf("stats: completion times: %w", err)
	}
	return nil
}
