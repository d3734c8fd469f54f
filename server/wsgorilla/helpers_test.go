package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

const (
	protoTransportWS = "graphql-transport-ws"
	protoGraphQLWS   = "graphql-ws"
)

// floodPayload is one `flood` subscription event: 64 KiB of data.
var floodPayload = []byte(`{"flood":"` + strings.Repeat("x", 64<<10) + `"}`)

// newSchema is a hand-written executable schema: subscription `name` sends
// each string from next; subscription `flood` sends floodPayload as fast as
// the connection takes it. started, if set, is called as each subscription
// starts.
func newSchema(next <-chan string, started func()) graphql.ExecutableSchema {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { name: String! }
		type Subscription {
			name: String!
			flood: String!
		}
	`})
	return &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			op := graphql.GetOperationContext(ctx).Operation
			if op.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"name":"test"}`)})
			}
			if started != nil {
				started()
			}
			if op.SelectionSet[0].(*ast.Field).Name == "flood" {
				return func(ctx context.Context) *graphql.Response {
					if ctx.Err() != nil {
						return nil
					}
					return &graphql.Response{Data: floodPayload}
				}
			}
			return func(ctx context.Context) *graphql.Response {
				select {
				case <-ctx.Done():
					return nil
				case s := <-next:
					data, _ := json.Marshal(map[string]string{"name": s})
					return &graphql.Response{Data: data}
				}
			}
		},
	}
}

// fixture is a gqlgen server with gqlws on wsgorilla, as vidgate serves it
// (without Detach: see detach_test.go).
type fixture struct {
	t       *testing.T
	impl    *wsgorilla.Implementation
	srv     *httptest.Server
	url     string // ws://
	next    chan string
	handled gauge // requests inside the gqlgen handler
	closes  gauge // CloseFunc calls (for acknowledged connections)

	mu       sync.Mutex
	statuses []int // HTTP statuses written through the middleware
}

// statusRecorder wraps the ResponseWriter like an access-log middleware:
// it has Unwrap (for http.ResponseController) but no Hijack.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func newFixture(t *testing.T, opts wsgorilla.Options, configure func(*gqlws.Transport)) *fixture {
	t.Helper()
	f := &fixture{t: t, impl: wsgorilla.New(opts), next: make(chan string)}
	tr := &gqlws.Transport{
		Upgrader:  f.impl,
		CloseFunc: func(context.Context) { f.closes.add(1) },
	}
	if configure != nil {
		configure(tr)
	}
	gql := handler.New(newSchema(f.next, nil))
	gql.AddTransport(tr)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.handled.add(1)
		defer f.handled.add(-1)
		// As vidgate's middleware does: a header, and a status recorder that
		// is no http.Hijacker itself.
		w.Header().Set("X-Request-Id", "req-1")
		rec := &statusRecorder{ResponseWriter: w}
		gql.ServeHTTP(rec, r)
		if rec.status != 0 {
			f.mu.Lock()
			f.statuses = append(f.statuses, rec.status)
			f.mu.Unlock()
		}
	}))
	f.url = "ws" + strings.TrimPrefix(f.srv.URL, "http")
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) httpStatuses() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.statuses...)
}

// waitIdle waits until no connection is open and no handler is running.
func (f *fixture) waitIdle(within time.Duration) bool {
	return waitOpen(f.impl, within, 0) && f.handled.wait(within, 0)
}

// push hands s to the `name` subscription.
func (f *fixture) push(s string) {
	f.t.Helper()
	select {
	case f.next <- s:
	case <-time.After(5 * time.Second):
		f.t.Fatalf("push(%q): no subscription took it within 5s", s)
	}
}

// waitOpen waits up to within for impl to have n open connections, and
// reports whether it did.
func waitOpen(impl *wsgorilla.Implementation, within time.Duration, n int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return impl.WaitOpen(ctx, n) == nil
}

// gauge is a count a test can wait on.
type gauge struct {
	mu      sync.Mutex
	n       int64
	changed chan struct{} // if set, closed by the next change
}

func (g *gauge) add(d int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n += d
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

func (g *gauge) load() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// wait waits up to within for the count to be n, and reports whether it
// was.
func (g *gauge) wait(within time.Duration, n int64) bool {
	timeout := time.After(within)
	for {
		g.mu.Lock()
		if g.n == n {
			g.mu.Unlock()
			return true
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			return false
		}
	}
}

// wsMsg is a message of either protocol.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// client is a gorilla websocket client speaking a GraphQL protocol.
type client struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, url, subprotocol string, header http.Header) (*client, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if subprotocol != "" {
		d.Subprotocols = []string{subprotocol}
	}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}, resp, nil
}

func mustDial(t *testing.T, url, subprotocol string) *client {
	t.Helper()
	c, _, err := dial(t, url, subprotocol, nil)
	if err != nil {
		t.Fatalf("Dial(%s, %q) = %v, want nil", url, subprotocol, err)
	}
	return c
}

func (c *client) send(m wsMsg) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatalf("WriteJSON(%+v) = %v, want nil", m, err)
	}
}

// read returns the next message that is not a graphql-ws keep-alive.
func (c *client) read() wsMsg {
	c.t.Helper()
	for {
		var m wsMsg
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.conn.ReadJSON(&m); err != nil {
			c.t.Fatalf("ReadJSON() = %v, want a message", err)
		}
		if m.Type != "ka" {
			return m
		}
	}
}

func (c *client) expect(wantType string) wsMsg {
	c.t.Helper()
	m := c.read()
	if m.Type != wantType {
		c.t.Fatalf("read() = %+v (payload %s), want type %q", m, m.Payload, wantType)
	}
	return m
}

// init sends connection_init and waits for connection_ack.
func (c *client) init() {
	c.t.Helper()
	c.send(wsMsg{Type: "connection_init"})
	c.expect("connection_ack")
}

// readCloseError reads until the connection ends and returns how it ended.
func (c *client) readCloseError(within time.Duration) error {
	c.conn.SetReadDeadline(time.Now().Add(within))
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return err
		}
	}
}

func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

func queryPayload(query string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"query": query})
	return b
}
