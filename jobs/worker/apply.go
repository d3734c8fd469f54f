package worker

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// applyStatus applies what a provider says about a job's request — from a
// webhook or a poll — in tx. It returns the receipt outcome (applied or
// stale) and, when the provider finished, the ingest task to enqueue after
// the commit. Nothing ever moves backwards: an update the job is already
// past fails its guard and is reported stale.
func applyStatus(ctx context.Context, store *jobs.Store, tx bun.IDB, job *jobs.Job, st providers.Status, src jobs.Source) (string, *queue.Task, error) {
	t := jobs.Transition{JobID: job.ID, From: job.Status, ExpectAttempt: job.Attempt, Source: src}
	var ingest *queue.Task
	active := job.Status == jobs.StatusSubmitted || job.Status == jobs.StatusProcessing
	switch {
	case !active:
		return jobs.OutcomeStale, nil, nil
	case st.State == providers.StateProcessing && job.Status == jobs.StatusSubmitted:
		t.To, t.Type = jobs.StatusProcessing, "processing"
		if st.Progress > job.Progress {
			t.Progress = &st.Progress
		}
	case st.State == providers.StateProcessing && st.Progress > job.Progress && st.Progress < 100:
		t.To, t.Type, t.Progress = job.Status, "progress", &st.Progress
		t.Message = fmt.Sprintf("%d%%", st.Progress)
	case st.State == providers.StateSucceeded && job.Progress < 100:
		video, ok := videoOutput(st)
		if !ok {
			return applyFailure(ctx, store, tx, t, jobs.FailArtifactUnavailable, "the provider finished without a video output")
		}
		hundred := 100
		t.To, t.Type, t.Progress = job.Status, "provider_completed", &hundred
		ingest = &queue.Task{Kind: queue.KindIngest, JobID: job.ID, Attempt: job.Attempt, Data: map[string]string{
			"url": video.URL, "content_type": video.ContentType,
		}}
		if !video.ExpiresAt.IsZero() {
			ingest.Data["expires_at"] = video.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
	case st.State == providers.StateFailed:
		code, msg := jobs.FailInternal, "the provider reported a failure"
		if st.Error != nil {
			code, msg = failCode(st.Error.Code), providerMessage(st.Error)
		}
		return applyFailure(ctx, store, tx, t, code, msg)
	case st.State == providers.StateCanceled:
		t.To, t.Message = jobs.StatusCanceled, "canceled by the provider"
	default:
		return jobs.OutcomeStale, nil, nil // queued, or nothing newer than what we have
	}
	if _, err := store.Transition(ctx, tx, t); err != nil {
		if isGuard(err) {
			return jobs.OutcomeStale, nil, nil
		}
		return "", nil, err
	}
	return jobs.OutcomeApplied, ingest, nil
}

func applyFailure(ctx context.Context, store *jobs.Store, tx bun.IDB, t jobs.Transition, code, msg string) (string, *queue.Task, error) {
	t.To, t.ErrorCode, t.ErrorMessage = jobs.StatusFailed, code, msg
	if _, err := store.Transition(ctx, tx, t); err != nil {
		if isGuard(err) {
			return jobs.OutcomeStale, nil, nil
		}
		return "", nil, err
	}
	return jobs.OutcomeApplied, nil, nil
}

func videoOutput(st providers.Status) (providers.Output, bool) {
	for _, o := range st.Outputs {
		if o.Kind == providers.OutputVideo || o.Kind == "" {
			return o, o.URL != ""
		}
	}
	return providers.Output{}, false
}
