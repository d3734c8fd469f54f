package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// MaxWebhookBytes caps a webhook body.
const MaxWebhookBytes = 1 << 20

// Intake is the webhook endpoint, POST /webhooks/{provider}. It only
// verifies, records and transitions: the provider's signature is checked
// by its driver; the receipt (unique per provider event id), the
// transition and its follow-up task (the outbox) commit in one
// transaction; slow work (copying the output) goes onto the ingest stream.
//
// Responses: 200 {"outcome": "applied"|"stale"}; 200 {"duplicate": true}
// for a delivery seen before; 202 {"outcome": "unknown_job"} for a request
// id no job holds; 503 (with Retry-After) when the database is down or busy
// and 500 for any other failure to record, both asking for the delivery
// again; 401 for a signature or timestamp that does not verify; 400 for a
// body that is not a valid payload; 404 for an unknown provider or one
// without webhooks; 413 for a body over MaxWebhookBytes. Only verified
// deliveries ever touch the database.
type Intake struct {
	rules
	providers *providers.Registry
	log       *slog.Logger
	observe   func(provider, outcome string)
}

// NewIntake returns the webhook endpoint. It applies the retry rules of cfg
// (MaxAttempts) to generations the provider reports failed.
func NewIntake(store *jobs.Store, reg *providers.Registry, q *queue.Queue, cfg Config) *Intake {
	cfg.defaults()
	return &Intake{rules: rules{store: store, queue: q, maxAttempts: cfg.MaxAttempts}, providers: reg, log: cfg.Logger, observe: cfg.OnWebhook}
}

func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("provider")
	d, ok := in.providers.Get(name)
	verifier, hooks := d.(providers.WebhookVerifier)
	if !ok || !hooks {
		reply(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "NOT_FOUND", "message": "no provider with webhooks named " + truncate(name)}})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]string{"code": "PAYLOAD_TOO_LARGE", "message": "webhook body over 1 MiB"}})
		return
	}
	hook, err := verifier.VerifyWebhook(r, body)
	if err != nil {
		status, code := http.StatusBadRequest, "BAD_REQUEST"
		if providers.ErrorCode(err) == providers.CodeUnauthenticated {
			status, code = http.StatusUnauthorized, "UNAUTHENTICATED"
		}
		in.log.WarnContext(ctx, "webhook refused", "provider", name, "code", code, "err", providerMessage(err))
		in.observe(name, "rejected")
		reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": providerMessage(err)}})
		return
	}
	outcome, err := in.record(ctx, name, hook, body, r.URL.Query())
	if err != nil {
		in.log.ErrorContext(ctx, "webhook not recorded", "provider", name, "err", err)
		if jobs.IsUnavailable(err) {
			// The database is down or busy: the provider delivers again.
			w.Header().Set("Retry-After", "5")
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "UNAVAILABLE", "message": "not recorded; deliver again"}})
			return
		}
		reply(w, http.StatusInternalServerError, map[string]any{"error": map[string]string{"code": "INTERNAL", "message": "not recorded; deliver again"}})
		return
	}
	in.observe(name, outcome)
	in.log.InfoContext(ctx, "webhook", "provider", name, "event_id", hook.EventID, "provider_request_id", hook.Status.RequestID,
		"state", hook.Status.State, "outcome", outcome)
	switch outcome {
	case jobs.OutcomeDuplicate:
		reply(w, http.StatusOK, map[string]any{"duplicate": true})
	case jobs.OutcomeUnknownJob:
		reply(w, http.StatusAccepted, map[string]any{"outcome": outcome})
	default:
		reply(w, http.StatusOK, map[string]any{"outcome": outcome})
	}
}

// record inserts the receipt, applies the delivery and writes its
// follow-up task to the outbox, in one transaction.
func (in *Intake) record(ctx context.Context, provider string, hook providers.Webhook, body []byte, callback url.Values) (string, error) {
	sum := sha256.Sum256(body)
	requestID := hook.Status.RequestID
	receipt := &jobs.WebhookReceipt{
		Provider: provider, ProviderEventID: hook.EventID, ProviderRequestID: &requestID,
		PayloadHash: hex.EncodeToString(sum[:]), Outcome: jobs.OutcomeApplied,
	}
	var outcome string
	err := in.store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		fresh, err := in.store.InsertReceipt(ctx, tx, receipt)
		if err != nil {
			return err
		}
		if !fresh {
			outcome = jobs.OutcomeDuplicate
			return nil
		}
		job, err := in.store.JobByProviderRequest(ctx, tx, provider, requestID)
		if errors.Is(err, jobs.ErrNotFound) {
			job, err = in.bindEarly(ctx, tx, provider, requestID, callback)
		}
		if errors.Is(err, jobs.ErrNotFound) {
			outcome = jobs.OutcomeUnknownJob
		} else if err != nil {
			return err
		} else if outcome, err = in.applyStatus(ctx, tx, job, hook.Status, jobs.SourceWebhook); err != nil {
			return err
		}
		if outcome != jobs.OutcomeApplied {
			return in.store.SetReceiptOutcome(ctx, tx, receipt.ID, outcome)
		}
		return nil
	})
	return outcome, err
}

// Query parameters of a job attempt's callback URL (Worker.jobWebhookURL).
const (
	callbackJob     = "job"
	callbackAttempt = "attempt"
)

// bindEarly handles a verified delivery for a request id no job holds yet:
// the provider started the generation and called back before the worker
// saved the id from the provider's answer. The callback URL names the job
// and attempt the generation was submitted for; if that job is still
// SUBMITTED at that attempt without a request id, the delivery's id is
// recorded for it (a guarded update, as the worker's own save would be),
// and the delivery applies. The worker's save then finds the same id and
// does nothing. It returns jobs.ErrNotFound when the URL names no such job.
func (in *Intake) bindEarly(ctx context.Context, tx bun.Tx, provider, requestID string, callback url.Values) (*jobs.Job, error) {
	publicID, attempt := callback.Get(callbackJob), callback.Get(callbackAttempt)
	n, err := strconv.Atoi(attempt)
	if publicID == "" || err != nil || requestID == "" {
		return nil, jobs.ErrNotFound
	}
	job, err := in.store.JobByPublicIDTx(ctx, tx, publicID)
	if err != nil {
		return nil, err
	}
	if job.Provider != provider || job.Attempt != n || job.Status != jobs.StatusSubmitted || job.ProviderRequestID != nil {
		return nil, jobs.ErrNotFound
	}
	bound, err := in.store.Transition(ctx, tx, jobs.Transition{
		JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, Type: "provider_request_created",
		ExpectAttempt: n, NoRequestID: true, ProviderRequestID: requestID, Source: jobs.SourceWebhook,
		Message: "provider request " + requestID + " (from its first webhook, before the submit's answer)",
	})
	if isGuard(err) {
		return nil, jobs.ErrNotFound // the worker saved an id meanwhile
	}
	return bound, err
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
