package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/internal/crashpoint"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// submit sends attempt t.Attempt of a job to its provider.
//
// A submit task moves a QUEUED or RETRYING job whose attempt is t.Attempt-1
// to SUBMITTED (a guarded update: of two workers holding the same task, one
// wins). A SUBMITTED job at t.Attempt without a provider request id means a
// worker died between the two: the redelivered task submits again with the
// same idempotency key, which the provider answers with the same request
// instead of a second paid generation — or it is a duplicate entry of the
// task while the first is being handled, which for a provider without
// idempotency keys is dropped. Any other job makes the task stale, so a
// duplicate delivered after the submit is a no-op.
//
// The idempotency key is always the one the job's row holds, written by the
// move to SUBMITTED before the call: the task carries none, so a retry the
// reconciler rebuilds after Redis lost its data asks for the same
// generation as the task it replaces.
func (w *Worker) submit(ctx context.Context, job *jobs.Job, t queue.Task) error {
	log := logger(ctx, w.log)
	d, err := w.driver(job.Provider)
	if err != nil {
		return err // another worker may have it; the dead letter fails the job otherwise
	}
	switch {
	case (job.Status == jobs.StatusQueued || job.Status == jobs.StatusRetrying) && job.Attempt == t.Attempt-1:
		moved, err := w.store.TransitionTx(ctx, jobs.Transition{
			JobID: job.ID, From: job.Status, To: jobs.StatusSubmitted, Attempt: t.Attempt,
			SubmitKey: t.Data["key"], // set only by tasks queued before keys were stored
			Source:    jobs.SourceWorker, Message: fmt.Sprintf("attempt %d to %s", t.Attempt, job.Provider),
		})
		if isGuard(err) {
			return nil
		}
		if err != nil {
			return err
		}
		job = moved
	case job.Status == jobs.StatusSubmitted && job.Attempt == t.Attempt && job.ProviderRequestID == nil:
		if !providers.HonorsIdempotencyKeys(d) && t.Deliveries == 1 {
			// A second entry of this attempt's submit, on its first
			// delivery (the outbox's relay can queue a task twice): the
			// first entry's worker may be calling the provider right now.
			// If it died, its own entry is delivered again (Deliveries > 1)
			// and decides below; if Redis lost it, the reconciler's
			// SubmitAfter rule does. Failing the job here would fail a
			// submission that is going well.
			log.InfoContext(ctx, "duplicate submit task while the attempt's submission may be in flight; dropped")
			return nil
		}
		if !providers.HonorsIdempotencyKeys(d) {
			// The first submit may have started a generation we cannot
			// find: sending another could bill the user twice.
			return w.fail(ctx, job, jobs.FailSubmitUnknown,
				job.Provider+" cannot deduplicate submissions and an earlier submission's outcome is unknown; not resubmitted to avoid a second paid generation")
		}
		log.InfoContext(ctx, "resuming an interrupted submit with the same idempotency key")
	case job.Status == jobs.StatusSubmitted && job.Attempt == t.Attempt:
		// An earlier delivery saved the request id and then died or lost
		// its connection before it scheduled the safety-net poll (the
		// commit can succeed while its answer is lost). Schedule it now: a
		// poll more is harmless, a job nobody polls waits for the
		// reconciler.
		log.InfoContext(ctx, "submit already recorded; scheduling its poll", "provider_request_id", *job.ProviderRequestID)
		return w.schedule(ctx, pollTask(job, 1), w.store.Now().Add(w.pollDelay(d, 1)))
	default:
		log.DebugContext(ctx, "stale submit task", "status", job.Status, "job_attempt", job.Attempt)
		return nil
	}

	req, err := w.request(ctx, job, d, submitKey(job, t))
	if err != nil {
		return err
	}
	crashpoint.At("submit.before-provider")
	cctx, cancel := context.WithTimeout(ctx, w.cfg.ProviderTimeout)
	requestID, err := d.Submit(cctx, req)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: leave the task unacknowledged; the next delivery
			// resumes with the same key.
			return ctx.Err()
		}
		return w.submitFailed(ctx, job, d, err)
	}
	crashpoint.At("submit.after-provider")
	// The request id and the safety-net poll commit together.
	_, err = w.store.TransitionThen(ctx, jobs.Transition{
		JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, Type: "provider_request_created",
		ExpectAttempt: job.Attempt, ProviderRequestID: requestID, Source: jobs.SourceWorker,
		Message: "provider request " + requestID,
	}, pollTask(job, 1), w.store.Now().Add(w.pollDelay(d, 1)))
	if isGuard(err) {
		return w.submitRaced(ctx, job, requestID)
	}
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "submitted to provider", "provider", job.Provider, "provider_request_id", requestID)
	return nil
}

// submitRaced handles a provider request id that could not be saved
// because the job changed while it was submitted. A duplicate delivery of
// the same task may have saved the same id first: nothing to do. Otherwise
// the job moved on (canceled, expired, another attempt) or holds another
// generation, and the one just started is canceled.
func (w *Worker) submitRaced(ctx context.Context, job *jobs.Job, requestID string) error {
	cur, err := w.store.JobByID(ctx, job.ID)
	if err != nil {
		return err
	}
	if cur.Attempt == job.Attempt && cur.ProviderRequestID != nil && *cur.ProviderRequestID == requestID {
		// Saved already: by a duplicate delivery of this task, or by a
		// webhook that came before the provider's answer. Make sure the
		// safety-net poll exists (one more is harmless).
		if !cur.Status.Terminal() {
			d, err := w.driver(cur.Provider)
			if err != nil {
				return err
			}
			return w.schedule(ctx, pollTask(cur, 1), w.store.Now().Add(w.pollDelay(d, 1)))
		}
		return nil
	}
	logger(ctx, w.log).InfoContext(ctx, "job moved on during submit; canceling the new generation",
		"status", cur.Status, "provider_request_id", requestID)
	return w.schedule(ctx, queue.Task{Kind: queue.KindCancel, JobID: job.ID, Attempt: job.Attempt,
		Data: map[string]string{"provider": job.Provider, "provider_request_id": requestID}}, time.Time{})
}

// submitKey is the idempotency key of a SUBMITTED job's vendor call: the
// one its row holds. A job submitted before the row held keys falls back
// on its task's key, or on the default one of its attempt, as then.
func submitKey(job *jobs.Job, t queue.Task) string {
	switch {
	case job.SubmitKey != nil:
		return *job.SubmitKey
	case t.Data["key"] != "":
		return t.Data["key"]
	}
	return jobs.DefaultSubmitKey(job.PublicID, job.Attempt)
}

// request builds the provider request of a job's current attempt, with
// idempotency key key.
func (w *Worker) request(ctx context.Context, job *jobs.Job, d providers.Driver, key string) (providers.Request, error) {
	prompts, err := w.openPrompts(ctx, job)
	if err != nil {
		return providers.Request{}, err
	}
	req := providers.Request{
		IdempotencyKey:  key,
		Workflow:        providers.Workflow(job.WorkflowType),
		Prompt:          prompts.Prompt,
		NegativePrompt:  prompts.Negative,
		Seed:            job.Seed,
		Audio:           job.Audio,
		DurationSeconds: job.DurationSeconds,
		AspectRatio:     job.AspectRatio,
		Resolution:      job.Resolution,
		Model:           job.Model,
		WebhookURL:      w.jobWebhookURL(d, job),
	}
	for _, a := range []struct {
		id  *int64
		url *string
	}{{job.SourceAssetID, &req.SourceImageURL}, {job.EndFrameAssetID, &req.EndFrameURL}} {
		if a.id == nil {
			continue
		}
		asset, err := w.store.SourceAssetByID(ctx, *a.id)
		if err != nil {
			return req, fmt.Errorf("source asset: %w", err)
		}
		if *a.url, err = w.bucket.SignedURL(ctx, asset.StorageKey, w.cfg.SourceURLTTL); err != nil {
			return req, fmt.Errorf("sign source asset url: %w", err)
		}
	}
	return req, nil
}

func (w *Worker) openPrompts(ctx context.Context, job *jobs.Job) (jobs.Prompts, error) {
	p, err := w.store.PromptOf(ctx, job.ID)
	if err != nil {
		return jobs.Prompts{}, err
	}
	return w.vault.OpenPrompts(job.PublicID, p.KeyID, p.Ciphertext)
}

// submitFailed records a failed submit: transient errors schedule another
// attempt with backoff (honouring the provider's Retry-After) until
// MaxAttempts, with the same idempotency key (the move to RETRYING keeps
// the stored key); permanent ones — CodeUnknown included: a vendor refusal
// nobody classified does not get better by asking again — fail the job at
// once with a portable code and the provider's message.
func (w *Worker) submitFailed(ctx context.Context, job *jobs.Job, d providers.Driver, err error) error {
	log := logger(ctx, w.log)
	code := providers.ErrorCode(err)
	msg := providerMessage(err)
	if !code.Transient() {
		log.WarnContext(ctx, "provider refused the job", "code", code, "err", msg)
		return w.fail(ctx, job, failCode(code), msg)
	}
	if ambiguous(err) && !providers.HonorsIdempotencyKeys(d) {
		// The request may have reached the provider and started a
		// generation; without idempotency keys a retry could start another.
		log.WarnContext(ctx, "submit outcome unknown; not retried", "code", code, "err", msg)
		return w.fail(ctx, job, jobs.FailSubmitUnknown, "the provider did not answer the submission ("+msg+") and cannot deduplicate a retry; not resubmitted to avoid a second paid generation")
	}
	if job.Attempt >= w.cfg.MaxAttempts {
		log.WarnContext(ctx, "giving up after the last attempt", "code", code, "err", msg)
		return w.fail(ctx, job, jobs.FailProviderUnavailable, fmt.Sprintf("gave up after %d attempts: %s", job.Attempt, msg))
	}
	at := w.store.Now().Add(w.queue.Backoff(job.Attempt, providers.RetryAfter(err)))
	// The move to RETRYING and the retry's task commit together.
	_, terr := w.store.TransitionThen(ctx, jobs.Transition{
		JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusRetrying, ExpectAttempt: job.Attempt,
		NextAttemptAt: &at, ErrorCode: string(code), ErrorMessage: msg, Source: jobs.SourceWorker,
	}, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: job.Attempt + 1}, at)
	if isGuard(terr) {
		return nil
	}
	if terr != nil {
		return terr
	}
	log.InfoContext(ctx, "retry scheduled", "code", code, "at", at.Format(time.RFC3339), "err", msg)
	return nil
}

// fail moves a job to FAILED with a portable code; a job that moved on
// meanwhile is left alone.
func (w *Worker) fail(ctx context.Context, job *jobs.Job, code, msg string) error {
	_, err := w.store.TransitionTx(ctx, jobs.Transition{
		JobID: job.ID, From: job.Status, To: jobs.StatusFailed, ExpectAttempt: job.Attempt,
		ErrorCode: code, ErrorMessage: msg, Source: jobs.SourceWorker,
	})
	if isGuard(err) {
		return nil
	}
	return err
}

// failCode maps a provider error class to the job failure code that picks
// the user's next step.
func failCode(c providers.Code) string {
	switch c {
	case providers.CodeContentPolicy:
		return jobs.FailContentPolicy
	case providers.CodeInvalidInput, providers.CodeUnimplemented:
		return jobs.FailInvalidInput
	case providers.CodeRateLimited, providers.CodeUnavailable, providers.CodeUnauthenticated:
		return jobs.FailProviderUnavailable
	}
	return jobs.FailInternal
}

// providerMessage is the text of a provider error that is safe to store:
// the driver's classified message (which never holds the prompt or keys),
// with the vendor's code.
func providerMessage(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		if pe.VendorCode != "" {
			return fmt.Sprintf("%s (provider code %s)", pe.Message, pe.VendorCode)
		}
		return pe.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the provider did not answer in time"
	}
	return "the provider call failed"
}

// ambiguous reports whether a failed call may have reached the provider
// anyway: it timed out or lost its connection instead of getting an answer.
func ambiguous(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		return false // never connected: nothing was sent
	}
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr)
}
