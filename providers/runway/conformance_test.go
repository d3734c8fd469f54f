package runway

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/drivertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, &harness{fakes: map[*testing.T]*fakeRunway{}})
}

// harness runs one fake Runway per subtest; its tasks stay PENDING until
// Succeed or Fail.
type harness struct {
	mu    sync.Mutex
	fakes map[*testing.T]*fakeRunway
}

func (h *harness) Driver(t *testing.T) providers.Driver {
	f := newFake(t)
	h.mu.Lock()
	h.fakes[t] = f
	h.mu.Unlock()
	return f.driver(t, Config{})
}

func (h *harness) fake(t *testing.T) *fakeRunway {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fakes[t]
}

func (h *harness) Succeed(t *testing.T, id string) { h.fake(t).set(t, id, "task_succeeded.json") }

func (h *harness) Fail(t *testing.T, id string, code providers.Code) {
	fixtures := map[providers.Code]string{
		providers.CodeContentPolicy: "task_failed_safety_input_text.json",
		providers.CodeInvalidInput:  "task_failed_asset_invalid.json",
	}
	h.fake(t).set(t, id, fixtures[code])
}

func (h *harness) FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration) {
	switch code {
	case providers.CodeInvalidInput:
		h.fake(t).failNextCreate(fakeReply{status: http.StatusBadRequest, fixture: "error_400.json"})
	case providers.CodeContentPolicy:
		t.Skip("Runway moderates inside the task (failureCode SAFETY.*), not when it is created")
	case providers.CodeRateLimited:
		h.fake(t).failNextCreate(fakeReply{status: http.StatusTooManyRequests, fixture: "error_429.json", retryAfter: retryAfterSeconds(retryAfter)})
	case providers.CodeUnavailable:
		h.fake(t).failNextCreate(fakeReply{status: http.StatusServiceUnavailable, fixture: "error_503.json"})
	default:
		t.Fatalf("FailNextSubmit(%s): no such Runway answer", code)
	}
}

// WebhookFor returns nil: Runway sends no webhooks for generations.
func (h *harness) WebhookFor(t *testing.T, id string) *http.Request { return nil }

func (h *harness) HonorsIdempotencyKeys() bool { return false }

// SourceImageURL is an HTTPS URL, as Runway requires; the fake checks its
// form and does not fetch it.
func (h *harness) SourceImageURL(t *testing.T) string {
	return "https://vidgate.example.com/files/sources/3f9c2a.png?expires=1795000000&sig=q2Jx0Vb4"
}

// APIKey lets the suite check the key rides in no id or output URL.
func (h *harness) APIKey() string { return fakeKey }

// EchoNextSubmit answers the next create with a 400 whose error is text,
// as Runway's {"error": "..."} bodies are.
func (h *harness) EchoNextSubmit(t *testing.T, text string) {
	h.fake(t).failNextCreate(fakeReply{status: http.StatusBadRequest, message: text})
}

// Requests counts the fake's API requests, for the catalog matrix.
func (h *harness) Requests(t *testing.T) int { return len(h.fake(t).seen()) }

// Start moves the request to task_running.json.
func (h *harness) Start(t *testing.T, id string) { h.fake(t).set(t, id, "task_running.json") }

// CancelOutcome: DELETE /v1/tasks/{id} cancels a PENDING or RUNNING task
// (reported CANCELLED, or gone); the driver reads a finished one first and
// leaves it alone, since the same DELETE would delete its outputs.
func (h *harness) CancelOutcome(phase drivertest.CancelPhase) drivertest.CancelOutcome {
	return drivertest.StopsUnfinished(phase)
}
