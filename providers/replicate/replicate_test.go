package replicate

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/drivertest"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, &harness{fakes: map[*testing.T]*fakeReplicate{}})
}

// harness runs one fake Replicate per subtest.
type harness struct {
	mu    sync.Mutex
	fakes map[*testing.T]*fakeReplicate
}

func (h *harness) Driver(t *testing.T) providers.Driver {
	f := newFakeReplicate(t, testSecret)
	h.mu.Lock()
	h.fakes[t] = f
	h.mu.Unlock()
	return f.driver(t, testSecret)
}

func (h *harness) fake(t *testing.T) *fakeReplicate {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fakes[t]
}

func (h *harness) Succeed(t *testing.T, id string) {
	if err := h.fake(t).finish(id, statusSucceeded, ""); err != nil {
		t.Fatalf("Succeed(%q) error = %v", id, err)
	}
}

func (h *harness) Fail(t *testing.T, id string, code providers.Code) {
	if err := h.fake(t).finish(id, statusFailed, failFixtures[code]); err != nil {
		t.Fatalf("Fail(%q, %s) error = %v", id, code, err)
	}
}

var failFixtures = map[providers.Code]string{
	providers.CodeContentPolicy: "prediction_failed_nsfw.json",
	providers.CodeInvalidInput:  "prediction_failed_input.json",
}

func (h *harness) FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration) {
	switch code {
	case providers.CodeInvalidInput:
		h.fake(t).failNextCreate(http.StatusUnprocessableEntity, "error_422.json", 0)
	case providers.CodeContentPolicy:
		t.Skip("Replicate checks content while the prediction runs (a failed prediction, E005), not when it is created")
	case providers.CodeRateLimited:
		h.fake(t).failNextCreate(http.StatusTooManyRequests, "error_429.json", retryAfter)
	case providers.CodeUnavailable:
		h.fake(t).failNextCreate(http.StatusServiceUnavailable, "error_503.html", 0)
	}
}

func (h *harness) WebhookFor(t *testing.T, id string) *http.Request {
	return h.WebhookAt(t, id, time.Now())
}

// WebhookAt is the delivery with webhook-timestamp at.
func (h *harness) WebhookAt(t *testing.T, id string, at time.Time) *http.Request {
	r, err := h.fake(t).webhookAt(id, "http://vidgate.test/webhooks/replicate", at)
	if err != nil {
		t.Fatalf("webhook(%q) error = %v", id, err)
	}
	return r
}

func (h *harness) HonorsIdempotencyKeys() bool { return false }

// APIKey lets the suite check the key rides in no id or output URL.
func (h *harness) APIKey() string { return fakeKey }

// EchoNextSubmit answers the next create with a 422 problem whose detail
// is text.
func (h *harness) EchoNextSubmit(t *testing.T, text string) {
	body, err := json.Marshal(map[string]any{"title": "Input validation failed", "detail": text, "status": 422})
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

// Start moves the prediction to processing.
func (h *harness) Start(t *testing.T, id string) {
	if err := h.fake(t).start(id); err != nil {
		t.Fatalf("start(%q) error = %v", id, err)
	}
}

// CancelOutcome is Replicate's (POST /predictions/{id}/cancel, in the
// OpenAPI schema's predictions.cancel): a starting or processing
// prediction turns canceled; a finished one is answered unchanged.
func (h *harness) CancelOutcome(phase drivertest.CancelPhase) drivertest.CancelOutcome {
	return drivertest.StopsUnfinished(phase)
}
