package sim

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/drivertest"
)

const (
	testKey    = "sk_test_sim"
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, &harness{servers: map[*testing.T]*Server{}})
}

// harness runs one held sim Server per subtest: generations wait for
// Succeed, Fail or a cancel.
type harness struct {
	mu      sync.Mutex
	servers map[*testing.T]*Server
}

func (h *harness) Driver(t *testing.T) providers.Driver {
	srv, ts := startServer(t, Config{Prefix: "/sim", APIKey: testKey, WebhookSecret: testSecret, Defaults: Behavior{Hold: true}})
	h.mu.Lock()
	h.servers[t] = srv
	h.mu.Unlock()
	return NewDriver(ts.URL+"/sim", testKey, testSecret, ts.Client())
}

func (h *harness) server(t *testing.T) *Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.servers[t]
}

func (h *harness) Succeed(t *testing.T, id string) {
	if err := h.server(t).Succeed(id); err != nil {
		t.Fatalf("Succeed(%q) error = %v", id, err)
	}
}

func (h *harness) Fail(t *testing.T, id string, code providers.Code) {
	if err := h.server(t).Fail(id, vendorCodes[code]); err != nil {
		t.Fatalf("Fail(%q, %s) error = %v", id, code, err)
	}
}

func (h *harness) FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration) {
	h.server(t).FailNextSubmit(vendorCodes[code], retryAfter)
}

func (h *harness) WebhookFor(t *testing.T, id string) *http.Request {
	r, err := h.server(t).WebhookRequest(id, "http://vidgate.test/webhooks/sim")
	if err != nil {
		t.Fatalf("WebhookRequest(%q) error = %v", id, err)
	}
	return r
}

func (h *harness) HonorsIdempotencyKeys() bool { return true }

var vendorCodes = map[providers.Code]string{
	providers.CodeInvalidInput:  CodeInvalidInput,
	providers.CodeContentPolicy: CodeContentPolicy,
	providers.CodeRateLimited:   CodeRateLimited,
	providers.CodeUnavailable:   CodeServerError,
}

// startServer starts a Server for cfg behind a loopback HTTP server, both
// closed when t ends.
func startServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv := New(cfg)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return srv, ts
}

// APIKey lets the suite check the key rides in no id or output URL.
func (h *harness) APIKey() string { return testKey }
