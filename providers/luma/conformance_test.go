package luma

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
	drivertest.RunConformanceTests(t, &harness{fakes: map[*testing.T]*fakeLuma{}})
}

// harness runs one fake Luma per subtest; its generations stay queued
// until Succeed or Fail.
type harness struct {
	mu    sync.Mutex
	fakes map[*testing.T]*fakeLuma
}

func (h *harness) Driver(t *testing.T) providers.Driver {
	f := newFake(t)
	h.mu.Lock()
	h.fakes[t] = f
	h.mu.Unlock()
	return f.driver(t, Config{})
}

func (h *harness) fake(t *testing.T) *fakeLuma {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fakes[t]
}

func (h *harness) Succeed(t *testing.T, id string) { h.fake(t).set(t, id, "generation_completed.json") }

func (h *harness) Fail(t *testing.T, id string, code providers.Code) {
	fixtures := map[providers.Code]string{
		providers.CodeContentPolicy: "generation_failed_moderation.json",
		providers.CodeInvalidInput:  "generation_failed_moderate_image.json",
	}
	h.fake(t).set(t, id, fixtures[code])
}

func (h *harness) FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration) {
	replies := map[providers.Code]fakeReply{
		providers.CodeInvalidInput:  {status: http.StatusBadRequest, fixture: "error_400.json"},
		providers.CodeContentPolicy: {status: http.StatusBadRequest, fixture: "error_400_moderation.json"},
		providers.CodeRateLimited:   {status: http.StatusTooManyRequests, fixture: "error_429.json", retryAfter: strconv.Itoa(int(retryAfter / time.Second))},
		providers.CodeUnavailable:   {status: http.StatusInternalServerError, fixture: "error_500.json"},
	}
	h.fake(t).failNextCreate(replies[code])
}

// WebhookFor returns nil, so the suite skips its webhook checks. Luma does
// send callbacks, but unsigned: the suite's checks forge and strip a
// signature header, and Luma has none. The driver authenticates callbacks
// with a token in the callback URL and a confirming GET instead; the
// tests in webhook_test.go check that scheme (the genuine callback, a
// wrong or missing token, a forged body, an unknown generation).
func (h *harness) WebhookFor(t *testing.T, id string) *http.Request { return nil }

func (h *harness) HonorsIdempotencyKeys() bool { return false }

// APIKey lets the suite check the key rides in no id or output URL.
func (h *harness) APIKey() string { return fakeKey }

// EchoNextSubmit answers the next create with a 400 whose detail is text,
// as Luma's {"detail": "..."} errors are.
func (h *harness) EchoNextSubmit(t *testing.T, text string) {
	h.fake(t).failNextCreate(fakeReply{status: http.StatusBadRequest, detail: text})
}

// Requests counts the fake's API requests, for the catalog matrix.
func (h *harness) Requests(t *testing.T) int { return len(h.fake(t).seen()) }

// Start moves the request to generation_dreaming.json.
func (h *harness) Start(t *testing.T, id string) { h.fake(t).set(t, id, "generation_dreaming.json") }

// CancelOutcome: Luma has no cancel; the driver deletes an unfinished
// generation (DELETE /generations/{id}, 204) and reports it canceled, and
// leaves a finished one alone.
func (h *harness) CancelOutcome(phase drivertest.CancelPhase) drivertest.CancelOutcome {
	return drivertest.StopsUnfinished(phase)
}
