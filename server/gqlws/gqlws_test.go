package gqlws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

// feed is one `ticks` subscription, driven by the test through Wake.
type feed struct {
	ctx     context.Context
	out     chan int
	ready   func()
	release chan struct{} // a slow feed's result is produced once this is closed
}

func (f *feed) emit(t *testing.T, v int) {
	t.Helper()
	select {
	case f.out <- v:
		f.ready()
	case <-time.After(5 * time.Second):
		t.Fatalf("emit(%d): the transport took nothing for 5s", v)
	}
}

func (f *feed) end() {
	close(f.out)
	f.ready()
}

// fixture is a gqlgen server on gqlws. Schema: query hello; subscription
// ticks (the resolver claims Wake: each subscription appears in feeds),
// plain (a channel read the usual way, fed from plain), boom (panics).
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	url   string
	plain chan int
	gate  chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) when feeds or closes change
	feeds   []*feed
	inits   []map[string]any
	closes  int

	initErr error // returned by InitFunc
}

func newFixture(t *testing.T, configure func(*gqlws.Transport)) *fixture {
	t.Helper()
	f := &fixture{t: t, plain: make(chan int), gate: make(chan struct{}), changed: make(chan struct{})}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { hello: String! }
		type Subscription { ticks: Int! slow: Int! plain: Int! boom: Int! stall: Int! }
	`})
	exec := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			op := graphql.GetOperationContext(ctx).Operation
			if op.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"hello":"world"}`)})
			}
			recv := func(field string, ch <-chan int) graphql.ResponseHandler {
				return func(ctx context.Context) *graphql.Response {
					select {
					case v, ok := <-ch:
						if !ok {
							return nil
						}
						return &graphql.Response{Data: fmt.Appendf(nil, `{%q:%d}`, field, v)}
					case <-ctx.Done():
						return nil
					}
				}
			}
			switch name := op.SelectionSet[0].(*ast.Field).Name; name {
			case "ticks", "slow":
				fd := &feed{ctx: ctx, out: make(chan int, 1), release: make(chan struct{})}
				ready, ok := gqlws.Wake(ctx)
				if !ok {
					panic("gqlws.Wake: not ok over gqlws")
				}
				fd.ready = ready
				f.mu.Lock()
				f.feeds = append(f.feeds, fd)
				f.notifyLocked()
				f.mu.Unlock()
				if name == "slow" { // a result is produced when the test releases it
					h := recv(name, fd.out)
					return func(ctx context.Context) *graphql.Response {
						<-fd.release
						return h(ctx)
					}
				}
				return recv(name, fd.out)
			case "stall": // the resolver waits for the test before it returns
				<-f.gate
				return recv(name, f.plain)
			case "boom":
				return func(context.Context) *graphql.Response { panic("boom") }
			default:
				return recv(name, f.plain)
			}
		},
	}
	tr := &gqlws.Transport{
		Upgrader: wsgorilla.New(wsgorilla.Options{}),
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.inits = append(f.inits, p)
			return ctx, f.initErr
		},
		CloseFunc: func(context.Context) {
			f.mu.Lock()
			f.closes++
			f.notifyLocked()
			f.mu.Unlock()
		},
	}
	if configure != nil {
		configure(tr)
	}
	gql := handler.New(exec)
	gql.AddTransport(tr)
	gql.AddTransport(transport.POST{})
	f.srv = httptest.NewServer(gql)
	f.url = "ws" + strings.TrimPrefix(f.srv.URL, "http")
	t.Cleanup(f.srv.Close)
	return f
}

// feedN waits for the n-th ticks subscription (from 1).
func (f *fixture) feedN(n int) *feed {
	f.t.Helper()
	var fd *feed
	if !f.waitFor(func() bool {
		if len(f.feeds) >= n {
			fd = f.feeds[n-1]
			return true
		}
		return false
	}) {
		f.t.Fatalf("ticks subscription #%d never started", n)
	}
	return fd
}

func (f *fixture) closeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closes
}

// notifyLocked wakes waitFor; f.mu is held.
func (f *fixture) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitFor waits up to 5s for cond, called with f.mu held, to hold; it is
// checked again each time a subscription starts or a connection closes.
func (f *fixture) waitFor(cond func() bool) bool {
	timeout := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		ok, changed := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timeout:
			return false
		}
	}
}

type msg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type client struct {
	t    *testing.T
	conn *websocket.Conn
}

func (f *fixture) dial(subprotocol string) *client {
	f.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if subprotocol != "" {
		d.Subprotocols = []string{subprotocol}
	}
	conn, _, err := d.Dial(f.url, nil)
	if err != nil {
		f.t.Fatalf("Dial(%q) = %v", subprotocol, err)
	}
	f.t.Cleanup(func() { conn.Close() })
	if conn.Subprotocol() != subprotocol && subprotocol != "" {
		f.t.Fatalf("negotiated %q, want %q", conn.Subprotocol(), subprotocol)
	}
	return &client{t: f.t, conn: conn}
}

func (c *client) send(m msg) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatalf("WriteJSON(%+v) = %v", m, err)
	}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("WriteMessage(%q) = %v", s, err)
	}
}

// read returns the next message other than a legacy keep-alive.
func (c *client) read(within time.Duration) (msg, error) {
	c.conn.SetReadDeadline(time.Now().Add(within))
	for {
		var m msg
		if err := c.conn.ReadJSON(&m); err != nil {
			return m, err
		}
		if m.Type != "ka" {
			return m, nil
		}
	}
}

func (c *client) expect(typ, id, payload string) msg {
	c.t.Helper()
	m, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read() = %v, want %s %q", err, typ, id)
	}
	if m.Type != typ || m.ID != id || (payload != "" && string(m.Payload) != payload) {
		c.t.Fatalf("read() = {type %s id %q payload %s}, want {type %s id %q payload %s}", m.Type, m.ID, m.Payload, typ, id, payload)
	}
	return m
}

// expectClose reads until the server closes and checks the close code.
func (c *client) expectClose(code int, reasonPrefix string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := c.conn.ReadMessage()
		if err == nil {
			c.t.Logf("before the close: %s", data)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || !strings.HasPrefix(ce.Text, reasonPrefix) {
			c.t.Fatalf("connection ended with %v, want close %d %q…", err, code, reasonPrefix)
		}
		return
	}
}

func (c *client) init(payload string) {
	c.t.Helper()
	m := msg{Type: "connection_init"}
	if payload != "" {
		m.Payload = json.RawMessage(payload)
	}
	c.send(m)
	c.expect("connection_ack", "", "")
}

func subscribe(id, query string) msg {
	b, _ := json.Marshal(map[string]string{"query": query})
	return msg{ID: id, Type: "subscribe", Payload: b}
}

func TestTransportWS(t *testing.T) {
	f := newFixture(t, nil)
	c := f.dial(gqlws.TransportWS)
	c.init(`{"Authorization":"Bearer x"}`)
	if got := f.inits[0]["Authorization"]; got != "Bearer x" {
		t.Errorf("InitFunc payload Authorization = %v, want Bearer x", got)
	}

	// ping is answered with a pong carrying its payload.
	c.send(msg{Type: "ping", Payload: json.RawMessage(`{"n":1}`)})
	c.expect("pong", "", `{"n":1}`)

	// A query: one next, then complete.
	c.send(subscribe("q", "{ hello }"))
	c.expect("next", "q", `{"data":{"hello":"world"}}`)
	c.expect("complete", "q", "")

	// A subscription driven through Wake: values in order, then the
	// server's complete when the resolver closes its channel.
	c.send(subscribe("s1", "subscription { ticks }"))
	fd := f.feedN(1)
	for i := range 50 {
		fd.emit(t, i)
	}
	for i := range 50 {
		c.expect("next", "s1", fmt.Sprintf(`{"data":{"ticks":%d}}`, i))
	}
	fd.end()
	c.expect("complete", "s1", "")

	// The client completes: the resolver's context ends, nothing more is
	// sent, and the id can be used again at once.
	c.send(subscribe("s2", "subscription { ticks }"))
	fd2 := f.feedN(2)
	fd2.emit(t, 7)
	c.expect("next", "s2", `{"data":{"ticks":7}}`)
	c.send(msg{ID: "s2", Type: "complete"})
	select {
	case <-fd2.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the resolver's context did not end after the client's complete")
	}
	c.send(subscribe("s2", "subscription { ticks }"))
	fd3 := f.feedN(3)
	fd3.emit(t, 8)
	c.expect("next", "s2", `{"data":{"ticks":8}}`)

	// A subscription read the usual way (no Wake) works as well.
	c.send(subscribe("p", "subscription { plain }"))
	select {
	case f.plain <- 5:
	case <-time.After(5 * time.Second):
		t.Fatal("the plain subscription never read its channel")
	}
	c.expect("next", "p", `{"data":{"plain":5}}`)

	// Validation errors: an error message, and the connection carries on.
	c.send(subscribe("bad", "subscription { nope }"))
	if m := c.expect("error", "bad", ""); !strings.Contains(string(m.Payload), "nope") {
		t.Errorf("error payload = %s, want the validation error", m.Payload)
	}
	// A panic while producing a result: an error message for that
	// operation only.
	c.send(subscribe("b", "subscription { boom }"))
	c.expect("error", "b", "")
	c.send(msg{Type: "ping"})
	c.expect("pong", "", "")

	c.conn.Close()
	if !f.waitFor(func() bool { return f.closes == 1 }) {
		t.Errorf("CloseFunc called %d times, want 1", f.closeCount())
	}
	for _, fd := range []*feed{fd3} {
		select {
		case <-fd.ctx.Done():
		case <-time.After(5 * time.Second):
			t.Error("an open subscription's context did not end when its connection closed")
		}
	}
}

func TestTransportWSProtocolErrors(t *testing.T) {
	f := newFixture(t, func(tr *gqlws.Transport) { tr.InitTimeout = 200 * time.Millisecond })
	for _, tc := range []struct {
		name   string
		run    func(c *client)
		code   int
		reason string
	}{
		{"subscribe before connection_init", func(c *client) {
			c.send(subscribe("1", "{ hello }"))
		}, 4401, "Unauthorized"},
		{"a second connection_init", func(c *client) {
			c.init("")
			c.send(msg{Type: "connection_init"})
		}, 4429, "Too many initialisation requests"},
		{"an id already in use", func(c *client) {
			c.init("")
			c.send(subscribe("1", "subscription { ticks }"))
			c.send(subscribe("1", "subscription { ticks }"))
		}, 4409, "Subscriber for 1 already exists"},
		{"not JSON", func(c *client) { c.sendRaw("{") }, 4400, "Invalid message"},
		{"no type", func(c *client) { c.sendRaw(`{"id":"1"}`) }, 4400, "Invalid message"},
		{"an unknown type", func(c *client) { c.init(""); c.send(msg{Type: "start", ID: "1"}) }, 4400, "Invalid message"},
		{"subscribe without an id", func(c *client) { c.init(""); c.send(subscribe("", "{ hello }")) }, 4400, "Invalid message"},
		{"an id over 128 bytes", func(c *client) { c.init(""); c.send(subscribe(strings.Repeat("x", 129), "{ hello }")) }, 4400, "Invalid message"},
		{"connection_init payload not an object", func(c *client) {
			c.send(msg{Type: "connection_init", Payload: json.RawMessage(`[1]`)})
		}, 4400, "Invalid message"},
		{"no connection_init in time", func(c *client) {}, 4408, "Connection initialisation timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.dial(gqlws.TransportWS)
			c.t = t
			tc.run(c)
			c.expectClose(tc.code, tc.reason)
		})
	}
}

func TestInitFuncRefuses(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    int
		reason  string
		message string // in the legacy connection_error
	}{
		{&gqlws.CloseError{Code: 4401, Reason: "Unauthorized: bad token"}, 4401, "Unauthorized: bad token", "Unauthorized: bad token"},
		{&gqlws.CloseError{Code: 4429, Reason: "Too many connections", Message: "close one first"}, 4429, "Too many connections", "close one first"},
		{errors.New("no entry"), 4403, "no entry", "no entry"},
	} {
		f := newFixture(t, nil)
		f.initErr = tc.err
		c := f.dial(gqlws.TransportWS)
		c.send(msg{Type: "connection_init"})
		c.expectClose(tc.code, tc.reason)

		// The legacy protocol hears why in connection_error first.
		l := f.dial(gqlws.GraphQLWS)
		l.send(msg{Type: "connection_init"})
		if m := l.expect("connection_error", "", ""); !strings.Contains(string(m.Payload), tc.message) {
			t.Errorf("connection_error payload = %s, want %q", m.Payload, tc.message)
		}
		l.expectClose(tc.code, tc.reason)
		if n := f.closeCount(); n != 0 {
			t.Errorf("CloseFunc called %d times for refused connections, want 0", n)
		}
	}
}

func TestLegacyGraphQLWS(t *testing.T) {
	f := newFixture(t, func(tr *gqlws.Transport) { tr.KeepAlive = 50 * time.Millisecond })
	// A client that asks for no subprotocol gets the legacy one.
	for _, proto := range []string{gqlws.GraphQLWS, ""} {
		c := f.dial(proto)
		c.send(msg{Type: "connection_init"})
		// connection_ack, then a first ka and more every KeepAlive.
		var m msg
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.conn.ReadJSON(&m); err != nil || m.Type != "connection_ack" {
			t.Fatalf("first message = %+v, %v; want connection_ack", m, err)
		}
		kas := 0
		for kas < 3 {
			if err := c.conn.ReadJSON(&m); err != nil || m.Type != "ka" {
				t.Fatalf("message = %+v, %v; want ka", m, err)
			}
			kas++
		}
		start := func(id, q string) msg {
			b, _ := json.Marshal(map[string]string{"query": q})
			return msg{ID: id, Type: "start", Payload: b}
		}
		c.send(start("q", "{ hello }"))
		c.expect("data", "q", `{"data":{"hello":"world"}}`)
		c.expect("complete", "q", "")

		n := len(f.feeds) + 1
		c.send(start("s", "subscription { ticks }"))
		fd := f.feedN(n)
		fd.emit(t, 1)
		c.expect("data", "s", `{"data":{"ticks":1}}`)
		// stop: the legacy protocol confirms with complete.
		c.send(msg{ID: "s", Type: "stop"})
		c.expect("complete", "s", "")

		c.send(msg{Type: "connection_terminate"})
		c.expectClose(1000, "")
	}
}

// TestOneGoroutinePerConnection checks the point of the package: a
// connection with a subscription whose resolver claims Wake holds one
// goroutine (its reader) while idle, where one read the usual way holds
// two; and closing the connections gives every goroutine back. It runs in
// a synctest bubble on in-memory connections: once synctest.Wait returns,
// every goroutine of the bubble is blocked, so the count of goroutines in
// gqlws code is exact.
func TestOneGoroutinePerConnection(t *testing.T) {
	const n = 40
	f := newFixture(t, func(tr *gqlws.Transport) { tr.Upgrader = pipeUpgrader{} })
	synctest.Test(t, func(t *testing.T) {
		f.plain = make(chan int) // of the bubble, so that waiting on it is durable
		settle := func() int {
			synctest.Wait()
			buf := make([]byte, 1<<20)
			for {
				if n := runtime.Stack(buf, true); n < len(buf) {
					count := 0
					for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
						if strings.Contains(g, "vidgate/server/gqlws.(") {
							count++
						}
					}
					return count
				}
				buf = make([]byte, 2*len(buf))
			}
		}
		open := func(field string) (grown int, clients []*pipeClient) {
			base := settle()
			for i := range n {
				c := f.open(t, gqlws.TransportWS)
				c.send(msg{Type: "connection_init"})
				c.expect("connection_ack", "", "")
				c.send(subscribe(fmt.Sprint(i), "subscription { "+field+" }"))
				clients = append(clients, c)
			}
			return settle() - base, clients
		}

		base := settle()
		grown, clients := open("ticks")
		if grown != n {
			t.Errorf("%d idle Wake subscriptions, one per connection: %d more goroutines, want %d (one per connection)", n, grown, n)
		}
		// Each still delivers.
		for _, fd := range f.feeds {
			fd.emit(t, 1)
		}
		for i, c := range clients {
			c.expect("next", fmt.Sprint(i), `{"data":{"ticks":1}}`)
		}
		for _, c := range clients {
			c.m.Close()
		}
		if got := settle(); got != base {
			t.Errorf("after closing every connection: %d goroutines, want back to %d", got, base)
		}

		// The same with subscriptions read the usual way: a goroutine each
		// more. (This shows the count above can tell the difference.)
		grown, clients = open("plain")
		if grown != 2*n {
			t.Errorf("%d idle plain subscriptions: %d more goroutines, want %d", n, grown, 2*n)
		}
		for _, c := range clients {
			c.m.Close()
		}
		if got := settle(); got != base {
			t.Errorf("after closing every connection: %d goroutines, want back to %d", got, base)
		}
		if got := f.closeCount(); got != 2*n {
			t.Errorf("CloseFunc called %d times, want %d", got, 2*n)
		}
	})
}

// TestConcurrentDelivery emits from many goroutines to many subscriptions
// of one connection at once (run with -race): every value arrives, in
// order per subscription.
func TestConcurrentDelivery(t *testing.T) {
	const subs, values = 8, 200
	f := newFixture(t, nil)
	c := f.dial(gqlws.TransportWS)
	c.init("")
	for i := range subs {
		c.send(subscribe(fmt.Sprint(i), "subscription { ticks }"))
	}
	f.feedN(subs)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for _, fd := range f.feeds {
		wg.Go(func() {
			for v := range values {
				select {
				case fd.out <- v:
					fd.ready()
				case <-time.After(5 * time.Second):
					failed.Store(true)
					return
				}
			}
			fd.end()
		})
	}
	next := map[string]int{}
	completed := 0
	for completed < subs {
		m, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("read() = %v after %v", err, next)
		}
		switch m.Type {
		case "next":
			var p struct{ Data struct{ Ticks int } }
			json.Unmarshal(m.Payload, &p)
			if p.Data.Ticks != next[m.ID] {
				t.Fatalf("subscription %s: got %d, want %d", m.ID, p.Data.Ticks, next[m.ID])
			}
			next[m.ID]++
		case "complete":
			if next[m.ID] != values {
				t.Fatalf("subscription %s completed after %d values, want %d", m.ID, next[m.ID], values)
			}
			completed++
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	wg.Wait()
	if failed.Load() {
		t.Fatal("an emit timed out")
	}
}

// TestWakeOutsideGqlws: a resolver served by another transport (SSE,
// say) is told no.
func TestWakeOutsideGqlws(t *testing.T) {
	if _, ok := gqlws.Wake(context.Background()); ok {
		t.Error("Wake(context.Background()) ok, want false")
	}
}

// TestCloseIsLogged: one line per connection when it closes, with the
// upgrade request's context (so its request id), and nothing from the
// connection_init payload.
func TestCloseIsLogged(t *testing.T) {
	var buf syncBuffer
	type ctxKey struct{}
	f := newFixture(t, func(tr *gqlws.Transport) {
		tr.Logger = slog.New(ctxAttrHandler{slog.NewJSONHandler(&buf, nil), ctxKey{}})
	})
	f.srv.Config.Handler = withValue(f.srv.Config.Handler, ctxKey{}, "req-42")

	c := f.dial(gqlws.TransportWS)
	c.init(`{"Authorization":"Bearer secret-token"}`)
	c.send(subscribe("q", "{ hello }"))
	c.expect("next", "q", "")
	c.expect("complete", "q", "")
	c.conn.Close()

	r := f.dial(gqlws.TransportWS)
	r.sendRaw("{")
	r.expectClose(4400, "Invalid message")

	lines := buf.waitLines(t, 2)
	if len(lines) != 2 {
		t.Fatalf("log lines: %v, want 2", lines)
	}
	byCode := map[float64]map[string]any{}
	for _, l := range lines {
		if l["msg"] != "websocket closed" || l["request_id"] != "req-42" || l["subprotocol"] != gqlws.TransportWS {
			t.Errorf("log line %v, want websocket closed with request_id req-42 and the subprotocol", l)
		}
		byCode[l["server_close_code"].(float64)] = l
	}
	if l := byCode[0]; l == nil || l["operations"] != 1.0 || l["acknowledged"] != true {
		t.Errorf("the client's close: %v, want operations 1, acknowledged, server_close_code 0", l)
	}
	if l := byCode[4400]; l == nil || l["acknowledged"] != false || !strings.HasPrefix(fmt.Sprint(l["server_close_reason"]), "Invalid message") {
		t.Errorf("the refused connection: %v, want server_close_code 4400 with its reason, not acknowledged", l)
	}
	if strings.Contains(buf.String(), "secret-token") {
		t.Error("the log holds the connection_init token")
	}
}

type syncBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	written chan struct{} // if set, closed by the next Write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

// waitLines waits up to 5s for n lines, and returns every line.
func (s *syncBuffer) waitLines(t *testing.T, n int) []map[string]any {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		have := strings.Count(s.b.String(), "\n")
		if s.written == nil {
			s.written = make(chan struct{})
		}
		written := s.written
		s.mu.Unlock()
		if have >= n {
			return s.lines(t)
		}
		select {
		case <-written:
		case <-timeout:
			t.Fatalf("log lines: %v, want %d", s.lines(t), n)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(s.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// ctxAttrHandler adds the request id found in the context under key, as
// vidgate's log handler does.
type ctxAttrHandler struct {
	slog.Handler
	key any
}

func (h ctxAttrHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(h.key).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func withValue(next http.Handler, key, value any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key, value)))
	})
}

// TestMaxOperations: one operation over the cap gets an error with
// RATE_LIMITED; the connection carries on, and an ended operation frees
// its place.
func TestMaxOperations(t *testing.T) {
	f := newFixture(t, func(tr *gqlws.Transport) { tr.MaxOperations = 3 })
	c := f.dial(gqlws.TransportWS)
	c.init("")
	for i := range 3 {
		c.send(subscribe(fmt.Sprint(i), "subscription { ticks }"))
	}
	f.feedN(3)
	c.send(subscribe("over", "subscription { ticks }"))
	m := c.expect("error", "over", "")
	var errs []struct {
		Message    string
		Extensions map[string]any
	}
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 || errs[0].Extensions["code"] != "RATE_LIMITED" {
		t.Fatalf("error payload %s, want one error with extensions.code RATE_LIMITED", m.Payload)
	}
	c.send(msg{ID: "0", Type: "complete"})
	c.send(subscribe("again", "subscription { ticks }"))
	fd := f.feedN(4)
	fd.emit(t, 3)
	c.expect("next", "again", `{"data":{"ticks":3}}`)
}

// TestNothingAfterComplete: a result being produced when the client
// completes is not written, even though the client has reused the id.
func TestNothingAfterComplete(t *testing.T) {
	for _, proto := range []string{gqlws.TransportWS, gqlws.GraphQLWS} {
		t.Run(proto, func(t *testing.T) {
			f := newFixture(t, func(tr *gqlws.Transport) { tr.Upgrader = pipeUpgrader{} })
			synctest.Test(t, func(t *testing.T) {
				c := f.open(t, proto)
				c.send(msg{Type: "connection_init"})
				c.expect("connection_ack", "", "")
				sub, done, stop := "subscribe", "next", "complete"
				if proto == gqlws.GraphQLWS {
					sub, done, stop = "start", "data", "stop"
				}
				start := func(id, field string) {
					b, _ := json.Marshal(map[string]string{"query": "subscription { " + field + " }"})
					c.send(msg{ID: id, Type: sub, Payload: b})
				}
				start("s", "slow")
				slow := f.lastFeed(t)
				slow.emit(t, 1)
				synctest.Wait() // its result is being produced, until released
				c.send(msg{ID: "s", Type: stop})
				if proto == gqlws.GraphQLWS {
					c.expect("complete", "s", "") // at once, before the id is used again
				}
				start("s", "ticks")
				f.lastFeed(t).emit(t, 2)
				c.expect(done, "s", `{"data":{"ticks":2}}`)
				close(slow.release) // the stopped operation's result is ready now
				c.expectNothing()
			})
		})
	}
}

// TestInitTimeout: a client that sends no connection_init is closed with
// 4408 once InitTimeout has passed, and not a moment before.
func TestInitTimeout(t *testing.T) {
	for _, tc := range []struct {
		name          string
		timeout, want time.Duration
	}{
		{"default", 0, gqlws.DefaultInitTimeout},
		{"set", 3 * time.Second, 3 * time.Second},
	} {
		for _, proto := range []string{gqlws.TransportWS, gqlws.GraphQLWS} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				f := newFixture(t, func(tr *gqlws.Transport) {
					tr.Upgrader = pipeUpgrader{}
					tr.InitTimeout = tc.timeout
				})
				synctest.Test(t, func(t *testing.T) {
					c := f.open(t, proto)
					time.Sleep(tc.want - time.Nanosecond)
					c.expectNothing()
					time.Sleep(time.Nanosecond)
					c.expectClose(gqlws.CloseInitTimeout, "Connection initialisation timeout")
					if n := f.closeCount(); n != 0 {
						t.Errorf("CloseFunc called %d times for a connection never acknowledged, want 0", n)
					}
				})
			})
		}
	}
}

// TestInitTimeoutCountsToInit: the init timeout ends when connection_init
// arrives; a slow InitFunc is not cut off by it.
func TestInitTimeoutCountsToInit(t *testing.T) {
	f := newFixture(t, func(tr *gqlws.Transport) {
		tr.Upgrader = pipeUpgrader{}
		tr.InitTimeout = time.Second
		inner := tr.InitFunc
		tr.InitFunc = func(ctx context.Context, p map[string]any) (context.Context, error) {
			time.Sleep(time.Minute) // the bubble's clock: far past the init timeout
			return inner(ctx, p)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c := f.open(t, gqlws.TransportWS)
		time.Sleep(time.Second - time.Millisecond)
		c.send(msg{Type: "connection_init"})
		time.Sleep(time.Minute)
		c.expect("connection_ack", "", "")
	})
}

// TestKeepAlive: on the legacy protocol a ka follows connection_ack at
// once, then comes every KeepAlive and never in between; a negative
// KeepAlive sends only the first. graphql-transport-ws gets none.
func TestKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		want      time.Duration // 0: none after the first
	}{
		{"default", 0, gqlws.DefaultKeepAlive},
		{"set", 2 * time.Second, 2 * time.Second},
		{"off", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(tr *gqlws.Transport) {
				tr.Upgrader = pipeUpgrader{}
				tr.KeepAlive = tc.keepAlive
			})
			synctest.Test(t, func(t *testing.T) {
				legacy := f.open(t, gqlws.GraphQLWS)
				modern := f.open(t, gqlws.TransportWS)
				for _, c := range []*pipeClient{legacy, modern} {
					c.send(msg{Type: "connection_init"})
				}
				legacy.expectTypes("connection_ack", "ka")
				modern.expectTypes("connection_ack")
				interval := tc.want
				if interval == 0 {
					interval = gqlws.DefaultKeepAlive
				}
				for range 3 {
					time.Sleep(interval - time.Nanosecond)
					legacy.expectTypes()
					time.Sleep(time.Nanosecond)
					if tc.want > 0 {
						legacy.expectTypes("ka")
					} else {
						legacy.expectTypes()
					}
					modern.expectTypes()
				}
			})
		})
	}
}

// TestResolversDoNotBlockTheReader: while subscription resolvers are still
// setting up (reading a database, say), the connection answers pings and
// runs other operations.
func TestResolversDoNotBlockTheReader(t *testing.T) {
	f := newFixture(t, nil)
	c := f.dial(gqlws.TransportWS)
	c.init("")
	for i := range 3 {
		c.send(subscribe(fmt.Sprint("stall", i), "subscription { stall }"))
	}
	c.send(msg{Type: "ping"})
	c.expect("pong", "", "")
	c.send(subscribe("q", "{ hello }"))
	c.expect("next", "q", `{"data":{"hello":"world"}}`)
	c.expect("complete", "q", "")
	close(f.gate) // the stalled resolvers return, and work
	for range 3 {
		select {
		case f.plain <- 9:
		case <-time.After(5 * time.Second):
			t.Fatal("a stalled subscription never read its channel")
		}
		m, err := c.read(5 * time.Second)
		if err != nil || m.Type != "next" || !strings.HasPrefix(m.ID, "stall") || string(m.Payload) != `{"data":{"stall":9}}` {
			t.Fatalf("read() = %+v (%s), %v; want next for a stall subscription", m, m.Payload, err)
		}
	}
}
