package fal

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/drivertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, &harness{fakes: map[*testing.T]*fakeFal{}})
}

// harness runs one fake fal per subtest.
type harness struct {
	mu    sync.Mutex
	fakes map[*testing.T]*fakeFal
}

func (h *harness) Driver(t *testing.T) providers.Driver {
	f := newFakeFal(t)
	h.mu.Lock()
	h.fakes[t] = f
	h.mu.Unlock()
	cfg := f.config()
	cfg.UserID = fakeUser // deliveries for another account are refused
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return d
}

func (h *harness) fake(t *testing.T) *fakeFal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fakes[t]
}

func (h *harness) Succeed(t *testing.T, id string) { h.finish(t, id, outcomeOK) }

func (h *harness) Fail(t *testing.T, id string, code providers.Code) {
	h.finish(t, id, map[providers.Code]string{
		providers.CodeContentPolicy: outcomeContentPolicy,
		providers.CodeInvalidInput:  outcomeInvalidInput,
	}[code])
}

// finish completes the fake's request of driver request id.
func (h *harness) finish(t *testing.T, id, outcome string) {
	_, rid, err := (&Driver{}).parseRequestID(id)
	if err != nil {
		t.Fatalf("parseRequestID(%q) error = %v", id, err)
	}
	if err := h.fake(t).finish(rid, outcome); err != nil {
		t.Fatalf("finish(%q, %s) error = %v", id, outcome, err)
	}
}

func (h *harness) FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration) {
	f := h.fake(t)
	switch code {
	case providers.CodeInvalidInput:
		f.failNextSubmit(http.StatusUnprocessableEntity, "error_validation.json", nil, 0)
	case providers.CodeContentPolicy:
		t.Skip("fal's content checks run in the model, after the request is queued: the result fails, not the submission")
	case providers.CodeRateLimited:
		f.failNextSubmit(http.StatusTooManyRequests, "error_429.json", nil, retryAfter)
	case providers.CodeUnavailable:
		f.failNextSubmit(http.StatusBadGateway, "error_502.html", nil, 0)
	}
}

func (h *harness) WebhookFor(t *testing.T, id string) *http.Request {
	return h.WebhookAt(t, id, time.Now())
}

// WebhookAt is the delivery signed with X-Fal-Webhook-Timestamp at.
func (h *harness) WebhookAt(t *testing.T, id string, at time.Time) *http.Request {
	return h.webhookAs(t, id, fakeUser, at)
}

// WebhookForAccount is the delivery for another fal account, signed with
// fal's key all the same (fal signs every account's deliveries alike).
func (h *harness) WebhookForAccount(t *testing.T, id, account string) *http.Request {
	return h.webhookAs(t, id, account, time.Now())
}

func (h *harness) webhookAs(t *testing.T, id, user string, at time.Time) *http.Request {
	_, rid, _ := (&Driver{}).parseRequestID(id)
	r, err := h.fake(t).webhookAs(rid, "http://vidgate.test/webhooks/fal", user, at)
	if err != nil {
		t.Fatalf("webhook(%q) error = %v", id, err)
	}
	return r
}

// Start moves the request IN_PROGRESS.
func (h *harness) Start(t *testing.T, id string) {
	_, rid, _ := (&Driver{}).parseRequestID(id)
	if err := h.fake(t).start(rid); err != nil {
		t.Fatalf("start(%q) error = %v", id, err)
	}
}

// CancelOutcome is fal's documented answer (docs "Handle
// cancellations"): 202 CANCELLATION_REQUESTED while queued (the request
// never runs) or running (the runner is signalled and may still finish),
// 400 ALREADY_COMPLETED once done; fal reports no canceled status in any
// case, and the driver invents none.
func (h *harness) CancelOutcome(phase drivertest.CancelPhase) drivertest.CancelOutcome {
	if phase == drivertest.CancelFinished {
		return drivertest.CancelOutcome{State: providers.StateSucceeded}
	}
	return drivertest.CancelOutcome{}
}

func (h *harness) HonorsIdempotencyKeys() bool { return false }

// ReportsCanceled is false: fal documents no canceled status or result
// (fal-js QueueStatus: IN_QUEUE, IN_PROGRESS, COMPLETED).
func (h *harness) ReportsCanceled() bool { return false }

// APIKey lets the suite check the key rides in no id or output URL.
func (h *harness) APIKey() string { return fakeKey }

// EchoNextSubmit answers the next submission with a 422 whose one
// validation entry's msg is text, as fal's model errors are.
func (h *harness) EchoNextSubmit(t *testing.T, text string) {
	body, err := json.Marshal(map[string]any{"detail": []map[string]any{{"loc": []string{"body", "prompt"}, "msg": text, "type": "value_error"}}})
	if err != nil {
		t.Fatal(err)
	}
	f := h.fake(t)
	f.mu.Lock()
	f.failNext = &fakeFailure{status: http.StatusUnprocessableEntity, body: body}
	f.mu.Unlock()
}

// Requests counts the fake's API requests, for the catalog matrix.
func (h *harness) Requests(t *testing.T) int { return h.fake(t).requests() }
