package wsgorilla_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

// detachFixture serves gqlgen (with gqlws) through Implementation.Detach,
// inside a middleware that counts the requests it is in, records statuses
// and recovers panics, as vidgate's middleware does.
type detachFixture struct {
	impl     *wsgorilla.Implementation
	url      string
	next     chan string
	inMiddle gauge         // requests inside the middleware (ServeHTTP not returned)
	recorded gauge         // requests whose status the middleware recorded
	closed   chan struct{} // CloseFunc calls

	mu        sync.Mutex
	statuses  []int
	recovered []any
}

func newDetachFixture(t *testing.T, opts wsgorilla.Options, inner func(http.Handler) http.Handler) *detachFixture {
	t.Helper()
	f := &detachFixture{impl: wsgorilla.New(opts), next: make(chan string), closed: make(chan struct{}, 16)}
	gql := handler.New(newSchema(f.next, nil))
	gql.AddTransport(&gqlws.Transport{
		Upgrader:  f.impl,
		CloseFunc: func(context.Context) { f.closed <- struct{}{} },
	})
	var h http.Handler = gql
	if inner != nil {
		h = inner(h)
	}
	h = f.impl.Detach(h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.inMiddle.add(1)
		defer f.inMiddle.add(-1)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				f.mu.Lock()
				f.recovered = append(f.recovered, v)
				f.mu.Unlock()
				http.Error(rec, "panic", http.StatusInternalServerError)
			}
			f.mu.Lock()
			f.statuses = append(f.statuses, rec.status)
			f.mu.Unlock()
			f.recorded.add(1)
		}()
		h.ServeHTTP(rec, r)
	}))
	t.Cleanup(srv.Close)
	f.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return f
}

func (f *detachFixture) snapshot() (statuses []int, recovered []any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.statuses...), append([]any(nil), f.recovered...)
}

// TestDetach: once upgraded, the request's ServeHTTP has returned while the
// WebSocket goes on working (its context is not the request's, which ended);
// closing it still reaches CloseFunc.
func TestDetach(t *testing.T) {
	t.Parallel()
	f := newDetachFixture(t, wsgorilla.Options{}, nil)
	c := mustDial(t, f.url+"/graphql", protoTransportWS)
	c.init()
	if !f.inMiddle.wait(5*time.Second, 0) {
		t.Fatal("the middleware's ServeHTTP has not returned after the upgrade")
	}
	c.send(wsMsg{ID: "1", Type: "subscribe", Payload: queryPayload(`subscription { name }`)})
	for _, s := range []string{"a", "b"} {
		select {
		case f.next <- s:
		case <-time.After(5 * time.Second):
			t.Fatalf("push(%q): no subscription took it", s)
		}
		if m := c.expect("next"); !strings.Contains(string(m.Payload), `"name":"`+s+`"`) {
			t.Fatalf("next payload = %s, want name %q", m.Payload, s)
		}
	}
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second))
	select {
	case <-f.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("CloseFunc not called")
	}
	if !waitOpen(f.impl, 5*time.Second, 0) {
		t.Errorf("OpenConnections() = %d after close, want 0", f.impl.OpenConnections())
	}
}

// TestDetachRefusedAndPlainRequests: a refused upgrade's status and a plain
// request's response are written while the middleware still waits, as
// without Detach.
func TestDetachRefusedAndPlainRequests(t *testing.T) {
	t.Parallel()
	f := newDetachFixture(t, wsgorilla.Options{AllowedOrigins: []string{"https://app.example.com"}}, nil)
	_, resp, err := dial(t, f.url+"/graphql", protoTransportWS, http.Header{"Origin": {"https://evil.example.com"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from a refused origin: err %v, response %v; want 403", err, resp)
	}
	hresp, err := http.Post("http"+strings.TrimPrefix(f.url, "ws")+"/graphql", "application/json", strings.NewReader(`{"query":"{ name }"}`))
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	// (The fixture has no POST transport: gqlgen answers 400.) The
	// middleware records a status after its response went out.
	f.recorded.wait(5*time.Second, 2)
	statuses, _ := f.snapshot()
	if len(statuses) != 2 || statuses[0] != http.StatusForbidden || statuses[1] != hresp.StatusCode {
		t.Errorf("statuses seen by the middleware = %v, want [403 %d]", statuses, hresp.StatusCode)
	}
}

// TestDetachPanicBeforeUpgrade: a panic before the upgrade reaches the
// middleware's recover, on the request's goroutine.
func TestDetachPanicBeforeUpgrade(t *testing.T) {
	t.Parallel()
	f := newDetachFixture(t, wsgorilla.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("panic") {
				panic("boom")
			}
			next.ServeHTTP(w, r)
		})
	})
	_, resp, err := dial(t, f.url+"/graphql?panic", protoTransportWS, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("dial: err %v, response %v; want 500", err, resp)
	}
	f.recorded.wait(5*time.Second, 1)
	if _, recovered := f.snapshot(); len(recovered) != 1 || recovered[0] != "boom" {
		t.Errorf("recovered = %v, want [boom]", recovered)
	}
}
