package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

// lockedBuffer is a log sink the server writes from its goroutines; each
// write is signalled on wrote.
type lockedBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{wrote: make(chan struct{}, 1)} }

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

// requestLines returns the access log lines for path.
func (l *lockedBuffer) requestLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "http request" && m["path"] == path {
			out = append(out, m)
		}
	}
	return out
}

type recordedOp struct {
	name, typ string
	errors    int
}

type fakeMetrics struct {
	mu     sync.Mutex
	routes []string
	ops    []recordedOp
}

func (f *fakeMetrics) HTTPRequest(route, method string, code int, _ time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, route+" "+method+" "+http.StatusText(code))
}

func (f *fakeMetrics) GraphQLOperation(name, typ string, errors int, _ time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, recordedOp{name, typ, errors})
}

// TestAccessLogAndMetrics: each request's log line names the GraphQL
// operation, its type, the errors a 200 carried and the client's address;
// the metrics count requests by route pattern (never the raw path) and
// operations by name; an upgraded WebSocket logs 101, not 0.
func TestAccessLogAndMetrics(t *testing.T) {
	logs := newLockedBuffer()
	m := &fakeMetrics{}
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, Metrics: m,
		Logger: slog.New(server.LogHandler(slog.NewJSONHandler(logs, nil)))})

	e.do(t, "alice", `query Viewer { viewer { id } }`, nil).ok(t)
	e.do(t, "alice", `query Missing { job(id: "00000000-0000-4000-8000-000000000001") { id } }`, nil)
	e.do(t, "alice", `{ nope }`, nil)
	res, err := http.Get(e.url + "/files/no-such-key?sig=x")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()

	lines := waitLines(t, logs, "/graphql", 3)
	want := []struct {
		op, typ string
		errors  float64
	}{{"Viewer", "query", 0}, {"Missing", "query", 1}, {"", "none", 1}}
	for i, w := range want {
		l := lines[i]
		if l["operation"] != w.op || l["operation_type"] != w.typ || l["graphql_errors"] != w.errors || l["status"] != 200.0 {
			t.Errorf("log line %d = %v, want operation %q (%s) with %v errors, status 200", i, l, w.op, w.typ, w.errors)
		}
		if l["client_ip"] != "127.0.0.1" || l["route"] != "/graphql" {
			t.Errorf("log line %d = %v, want client_ip 127.0.0.1 and route /graphql", i, l)
		}
	}

	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if ws := waitLines(t, logs, "/graphql", 4)[3]; ws["status"] != 101.0 {
		t.Errorf("WebSocket upgrade logged %v, want status 101", ws)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	wantOps := []recordedOp{{"Viewer", "query", 0}, {"Missing", "query", 1}, {"", "none", 1}}
	if len(m.ops) != len(wantOps) {
		t.Fatalf("operations recorded %+v, want %+v", m.ops, wantOps)
	}
	for i := range wantOps {
		if m.ops[i] != wantOps[i] {
			t.Errorf("operation %d = %+v, want %+v", i, m.ops[i], wantOps[i])
		}
	}
	routes := strings.Join(m.routes, "; ")
	if !strings.Contains(routes, "/graphql POST OK") || !strings.Contains(routes, "/files/ GET") || strings.Contains(routes, "no-such-key") {
		t.Errorf("routes recorded: %s; want /graphql POST OK and /files/ GET, never a raw path", routes)
	}
	if strings.Contains(routes, "Switching Protocols") {
		t.Errorf("a WebSocket upgrade was timed as a request: %s", routes)
	}
}

// waitLines waits until the log holds n request lines for path. The line
// is written after the response has been sent, so a client can be ahead
// of it by a moment.
func waitLines(t *testing.T, logs *lockedBuffer, path string, n int) []map[string]any {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		if lines := logs.requestLines(t, path); len(lines) >= n {
			return lines
		}
		select {
		case <-logs.wrote:
		case <-timeout:
			t.Fatalf("%d log lines for %s after 5s, want %d", len(logs.requestLines(t, path)), path, n)
		}
	}
}
