package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// followUp is the task a change calls for, put on the queue after the
// change commits: at once (an ingest) or at a time (a retry).
type followUp struct {
	task *queue.Task
	at   time.Time // zero: enqueue now
}

// rules are the retry rules that webhooks and polls share with submits.
type rules struct {
	store       *jobs.Store
	queue       *queue.Queue
	maxAttempts int
	src         jobs.Source // who marks a lost follow-up: the worker or the webhook intake
}

// applyStatus applies what a provider says about a job's request — from a
// webhook or a poll — in tx. It returns the receipt outcome (applied or
// stale) and the follow-up task: an ingest when the provider finished, a
// new attempt when the generation failed transiently. Nothing ever moves
// backwards: an update the job is already past fails its guard and is
// reported stale.
func (r rules) applyStatus(ctx context.Context, tx bun.IDB, job *jobs.Job, st providers.Status, src jobs.Source) (string, followUp, error) {
	// A concurrent change (another delivery, a poll) can win the row between
	// our read and our guarded update: then read the job again and decide
	// anew, rather than call a news item stale that is not.
	for try := 0; ; try++ {
		outcome, next, err := r.applyOnce(ctx, tx, job, st, src)
		if !isGuard(err) {
			return outcome, next, err
		}
		if try == 3 {
			return jobs.OutcomeStale, followUp{}, nil
		}
		if job, err = r.store.JobInTx(ctx, tx, job.ID); err != nil {
			return "", followUp{}, err
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

// send puts a follow-up on the queue after its transaction committed. A
// failure is logged, not returned: the job's state is already durable and
// the reconciler re-creates lost tasks from it. So that it does within
// seconds, not after its stale thresholds, the job is marked
// (jobs.EventFollowUpLost): the reconciler's next pass redoes marked jobs.
// A lost cancel is not marked: it is best effort, and its job is finished.
func (r rules) send(ctx context.Context, log *slog.Logger, f followUp) {
	if f.task == nil {
		return
	}
	f.task.Data = jobs.TaskData(ctx, f.task.Data)
	var err error
	if f.at.IsZero() {
		_, err = r.queue.Enqueue(ctx, *f.task)
	} else {
		err = r.queue.Schedule(ctx, *f.task, f.at)
	}
	if err != nil {
		log.ErrorContext(ctx, "queue follow-up task; the reconciler will redo it", "task", string(f.task.Kind), "err", err)
		if f.task.Kind == queue.KindCancel {
			return
		}
		if _, err := r.store.MarkFollowUpLost(context.WithoutCancel(ctx), f.task.JobID, f.task.Attempt, string(f.task.Kind), r.src); err != nil {
			log.ErrorContext(ctx, "mark the lost follow-up task", "task", string(f.task.Kind), "err", err)
		}
	}
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
