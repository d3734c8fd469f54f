package veo

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/drivertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, &harness{fakes: map[*testing.T]*fakeVeo{}})
}

// harness runs one fake Gemini API per subtest; its operations stay
// running until Succeed or Fail.
type harness struct {
	mu    sync.Mutex
	fakes map[*testing.T]*fakeVeo
}

func (h *harness) Driver(t *testing.T) providers.Driver {
	f := newFake(t)
	h.mu.Lock()
	h.fakes[t] = f
	h.mu.Unlock()
	return f.driver(t, Config{})
}

func (h *harness) fake(t *testing.T) *fakeVeo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fakes[t]
}

func (h *harness) Succeed(t *testing.T, name string) { h.fake(t).set(t, name, "operation_done.json") }

func (h *harness) Fail(t *testing.T, name string, code providers.Code) {
	fixtures := map[providers.Code]string{
		providers.CodeContentPolicy: "operation_filtered.json",
		providers.CodeInvalidInput:  "operation_error_invalid.json",
	}
	h.fake(t).set(t, name, fixtures[code])
}

func (h *harness) FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration) {
	switch code {
	case providers.CodeInvalidInput:
		h.fake(t).failNextPredict(fakeReply{status: http.StatusBadRequest, fixture: "error_400_invalid.json"})
	case providers.CodeContentPolicy:
		t.Skip("Veo filters content in the operation (raiMediaFilteredReasons), not when it starts")
	case providers.CodeRateLimited:
		// As Google sends it: a RetryInfo detail, no Retry-After header.
		h.fake(t).failNextPredict(fakeReply{status: http.StatusTooManyRequests, fixture: "error_429.json",
			retryDelay: strconv.Itoa(int(retryAfter/time.Second)) + "s"})
	case providers.CodeUnavailable:
		h.fake(t).failNextPredict(fakeReply{status: http.StatusServiceUnavailable, fixture: "error_503.json"})
	default:
		t.Fatalf("FailNextSubmit(%s): no such Gemini API answer", code)
	}
}

// WebhookFor returns nil, so the suite skips its webhook checks. The
// Gemini API does notify (webhookConfig), but with a signature scheme
// vidgate has not confirmed, and the suite's checks forge and strip a
// signature header. The driver authenticates notifications with a token in
// the callback URL and a confirming GET of the operation instead; the
// tests in webhook_test.go check that scheme.
func (h *harness) WebhookFor(t *testing.T, name string) *http.Request { return nil }

func (h *harness) HonorsIdempotencyKeys() bool { return false }

// APIKey lets the suite check the key rides in no id or output URL.
func (h *harness) APIKey() string { return fakeKey }

// EchoNextSubmit answers the next predictLongRunning with Google's 400
// INVALID_ARGUMENT, its message text.
func (h *harness) EchoNextSubmit(t *testing.T, text string) {
	h.fake(t).failNextPredict(fakeReply{status: http.StatusBadRequest, fixture: "error_400_invalid.json", message: text})
}

// Requests counts the fake's API requests, for the catalog matrix.
func (h *harness) Requests(t *testing.T) int { return len(h.fake(t).seen()) }

// Start does nothing: an operation reports only done or not, and a new one
// is already running.
func (h *harness) Start(t *testing.T, name string) {}

// CancelOutcome: the Gemini API offers no cancel of a video operation,
// so Cancel is CodeUnimplemented and the operation goes on.
func (h *harness) CancelOutcome(phase drivertest.CancelPhase) drivertest.CancelOutcome {
	if phase == drivertest.CancelFinished {
		return drivertest.CancelOutcome{Code: providers.CodeUnimplemented, State: providers.StateSucceeded}
	}
	return drivertest.CancelOutcome{Code: providers.CodeUnimplemented}
}
