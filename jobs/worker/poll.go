package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// poll asks the provider where a job's request is and applies the answer:
// the only source of truth for providers without webhooks, and the safety
// net for lost webhooks. It reschedules itself, backing off, until the
// request is finished.
func (w *Worker) poll(ctx context.Context, job *jobs.Job, t queue.Task) error {
	log := logger(ctx, w.log)
	if job.Attempt != t.Attempt || job.ProviderRequestID == nil ||
		(job.Status != jobs.StatusSubmitted && job.Status != jobs.StatusProcessing) {
		return nil // the attempt is over
	}
	d, err := w.driver(job.Provider)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(t.Data["n"])
	next := pollTask(job, n+1)
	nextAt := func() time.Time { return w.store.Now().Add(w.pollDelay(d, n+1)) }
	// A job a webhook moved recently needs no poll yet — unless the
	// reconciler asked for this poll because nothing moved it for long.
	if t.Data["force"] == "" && w.webhookURL(d) != "" && job.Progress < 100 && w.store.Now().Sub(job.UpdatedAt) < w.cfg.PollAfter/2 {
		return w.schedule(ctx, next, nextAt())
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.ProviderTimeout)
	st, err := d.Status(cctx, *job.ProviderRequestID)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch code := providers.ErrorCode(err); {
		case code == providers.CodeNotFound:
			return w.fail(ctx, job, jobs.FailProviderUnavailable, "the provider no longer knows this request")
		case !code.Transient():
			// The vendor refuses to say (a 405, a state nobody knows …):
			// asking again gets the same answer until the job expires, and
			// the user never learns why. Fail now, with its message.
			log.WarnContext(ctx, "provider refused the poll", "code", code, "err", providerMessage(err))
			return w.fail(ctx, job, failCode(code), providerMessage(err))
		}
		log.WarnContext(ctx, "poll failed; polling again later", "err", providerMessage(err))
		return w.schedule(ctx, next, nextAt())
	}
	// The answer, its follow-up and the next poll commit together.
	var outcome string
	err = w.store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if outcome, err = w.applyStatus(ctx, tx, job, st, jobs.SourceWorker); err != nil || st.State.Terminal() {
			return err
		}
		return w.store.AddTask(ctx, tx, next, nextAt())
	})
	if err != nil {
		return err
	}
	log.DebugContext(ctx, "polled", "state", st.State, "outcome", outcome)
	return nil
}
