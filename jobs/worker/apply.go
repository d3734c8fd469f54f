package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// followUp is the task a change calls for, written to the outbox in the
// change's transaction: due at once (an ingest) or at a time (a retry).
type followUp struct {
	task *queue.Task
	at   time.Time // zero: at once
}

// rules are the retry rules that webhooks and polls share with submits.
type rules struct {
	store       *jobs.Store
	queue       *queue.Queue
	maxAttempts int
}

// applyStatus applies what a provider says about a job's request — from a
// webhook or a poll — in tx, and writes the follow-up task it calls for to
// the outbox in tx: an ingest when the provider finished, a new attempt
// when the generation failed transiently. The change and its task commit
// together, so no Redis fault between the commit and the enqueue can lose
// the task (the outbox's relay sends it once Redis answers). It returns
// the receipt outcome (applied or stale). Nothing ever moves backwards: an
// update the job is already past fails its guard and is reported stale.
func (r rules) applyStatus(ctx context.Context, tx bun.IDB, job *jobs.Job, st providers.Status, src jobs.Source) (string, error) {
	// A concurrent change (another delivery, a poll) can win the row between
	// our read and our guarded update: then read the job again and decide
	// anew, rather than call a news item stale that is not.
	for try := 0; ; try++ {
		outcome, next, err := r.applyOnce(ctx, tx, job, st, src)
		if !isGuard(err) {
			if err == nil && next.task != nil {
				err = r.store.AddTask(ctx, tx, *next.task, next.at)
			}
			return outcome, err
		}
		if try == 3 {
			return jobs.OutcomeStale, nil
		}
		if job, err = r.store.JobInTx(ctx, tx, job.ID); err != nil {
			return "", err
		}
	}
}

func (r rules) applyOnce(ctx context.Context, tx bun.IDB, job *jobs.Job, st providers.Status, src jobs.Source) (string, followUp, error) {
	store := r.store
	t := jobs.Transition{JobID: job.ID, From: job.Status, ExpectAttempt: job.Attempt, Source: src}
	var next followUp
	active := job.Status == jobs.StatusSubmitted || job.Status == jobs.StatusProcessing
	switch {
	case !active:
		return jobs.OutcomeStale, next, nil
	case st.State == providers.StateProcessing && job.Progress == 100:
		// The provider already reported completion: a processing update
		// is older news, delivered late.
		return jobs.OutcomeStale, next, nil
	case st.State == providers.StateProcessing && job.Status == jobs.StatusSubmitted:
		t.To, t.Type = jobs.StatusProcessing, "processing"
		if st.Progress > job.Progress {
			t.Progress = &st.Progress
		}
	case st.State == providers.StateProcessing && st.Progress > job.Progress && st.Progress < 100:
		t.To, t.Type, t.Progress = job.Status, "progress", &st.Progress
		t.Message = fmt.Sprintf("%d%%", st.Progress)
	case st.State == providers.StateSucceeded && job.Progress == 100:
		// Completion was recorded, but the job is still not COMPLETED: the
		// ingest task was lost or failed. Ask for it again (ingests are
		// idempotent); the receipt says nothing new was applied.
		next.task = ingestTask(job, st)
		if next.task == nil {
			return jobs.OutcomeStale, followUp{}, nil
		}
		return jobs.OutcomeStale, next, nil
	case st.State == providers.StateSucceeded:
		next.task = ingestTask(job, st)
		if next.task == nil {
			t.To, t.ErrorCode, t.ErrorMessage = jobs.StatusFailed, jobs.FailArtifactUnavailable, "the provider finished without a video output"
			break
		}
		hundred := 100
		t.To, t.Type, t.Progress = job.Status, "provider_completed", &hundred
	case st.State == providers.StateFailed:
		code, msg := providers.CodeUnknown, "the provider reported a failure"
		if st.Error != nil {
			code, msg = st.Error.Code, providerMessage(st.Error)
		}
		if code.Transient() && job.Attempt < r.maxAttempts {
			// The provider's own trouble: a new attempt, with a new
			// idempotency key (the same one would fetch this failed
			// generation again), after a backoff.
			at := store.Now().Add(r.queue.Backoff(job.Attempt, providers.RetryAfter(st.Error)))
			t.To, t.NextAttemptAt, t.ErrorCode, t.ErrorMessage = jobs.StatusRetrying, &at, string(code), msg
			t.DropSubmitKey = true
			next = followUp{task: &queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: job.Attempt + 1}, at: at}
			break
		}
		t.To, t.ErrorCode, t.ErrorMessage = jobs.StatusFailed, failCode(code), msg
	case st.State == providers.StateCanceled:
		t.To, t.Message = jobs.StatusCanceled, "canceled by the provider"
	default:
		return jobs.OutcomeStale, next, nil // queued, or nothing newer than what we have
	}
	if _, err := store.Transition(ctx, tx, t); err != nil {
		return "", followUp{}, err // a *GuardError makes applyStatus look again
	}
	return jobs.OutcomeApplied, next, nil
}

// ingestTask is the task that copies a finished job's video, or nil if the
// provider reported no video.
func ingestTask(job *jobs.Job, st providers.Status) *queue.Task {
	video, ok := videoOutput(st)
	if !ok {
		return nil
	}
	t := &queue.Task{Kind: queue.KindIngest, JobID: job.ID, Attempt: job.Attempt, Data: map[string]string{
		"url": video.URL, "content_type": video.ContentType,
	}}
	if !video.ExpiresAt.IsZero() {
		t.Data["expires_at"] = video.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return t
}

func videoOutput(st providers.Status) (providers.Output, bool) {
	for _, o := range st.Outputs {
		if o.Kind == providers.OutputVideo || o.Kind == "" {
			return o, o.URL != ""
		}
	}
	return providers.Output{}, false
}
