package worker

import (
	"context"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// cancel asks the provider to stop a request (t.Data: provider,
// provider_request_id). Canceling is best effort: a finished request, or a provider
// that cannot cancel, is fine; a transient error is retried.
func (w *Worker) cancel(ctx context.Context, job *jobs.Job, t queue.Task) error {
	requestID := t.Data["provider_request_id"]
	if requestID == "" && job.ProviderRequestID != nil && job.Attempt == t.Attempt {
		requestID = *job.ProviderRequestID
	}
	if requestID == "" {
		return nil
	}
	name := t.Data["provider"]
	if name == "" {
		name = job.Provider
	}
	d, err := w.driver(name)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.ProviderTimeout)
	err = d.Cancel(cctx, requestID)
	cancel()
	switch code := providers.ErrorCode(err); {
	case err == nil, code == providers.CodeNotFound, code == providers.CodeUnimplemented:
		logger(ctx, w.log).InfoContext(ctx, "provider request canceled", "provider_request_id", requestID, "code", code)
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return err
	}
}
