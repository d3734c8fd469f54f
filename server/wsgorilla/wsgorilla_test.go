package wsgorilla_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

func TestProtocolsEndToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		offer        string // subprotocol the client offers
		wantProtocol string // negotiated
		subscribe    string // message types of the protocol
		data         string
		stop         string
	}{
		{"graphql-transport-ws", protoTransportWS, protoTransportWS, "subscribe", "next", "complete"},
		{"graphql-ws", protoGraphQLWS, protoGraphQLWS, "start", "data", "stop"},
		{"no subprotocol falls back to graphql-ws", "", "", "start", "data", "stop"},
		{"unknown subprotocol falls back to graphql-ws", "mqtt", "", "start", "data", "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{}, nil)
			c, resp, err := dial(t, f.url, tt.offer, nil)
			if err != nil {
				t.Fatalf("Dial(%q) = %v, want nil", tt.offer, err)
			}
			if got := c.conn.Subprotocol(); got != tt.wantProtocol {
				t.Errorf("Subprotocol() = %q, want %q", got, tt.wantProtocol)
			}
			if got := resp.Header.Get("X-Request-Id"); got != "req-1" {
				t.Errorf("101 response header X-Request-Id = %q, want %q", got, "req-1")
			}

			c.init()
			c.send(wsMsg{ID: "1", Type: tt.subscribe, Payload: queryPayload("subscription { name }")})
			for _, name := range []string{"first", "second"} {
				f.push(name)
				m := c.expect(tt.data)
				want := `{"data":{"name":"` + name + `"}}`
				if m.ID != "1" || string(m.Payload) != want {
					t.Errorf("read() = id %q payload %s, want id %q payload %s", m.ID, m.Payload, "1", want)
				}
			}
			c.send(wsMsg{ID: "1", Type: tt.stop})
			if tt.stop == "stop" { // graphql-ws confirms; graphql-transport-ws does not
				if m := c.expect("complete"); m.ID != "1" {
					t.Errorf("read() = %+v, want complete for id 1", m)
				}
			}

			// A normal close by the client ends the connection without errors.
			c.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			if err := c.readCloseError(5 * time.Second); closeCode(err) != websocket.CloseNormalClosure {
				t.Errorf("client read after close = %v, want close 1000", err)
			}
			if !f.waitIdle(5 * time.Second) {
				t.Fatalf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.load())
			}
			if n := f.closes.load(); n != 1 {
				t.Errorf("CloseFunc called %d times, want 1", n)
			}
		})
	}
}

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.com"
	tests := []struct {
		name    string
		allowed []string
		origin  string // "SELF" is replaced with the server's own origin
		want    int
	}{
		{"same-origin default: no Origin", nil, "", http.StatusSwitchingProtocols},
		{"same-origin default: own origin", nil, "SELF", http.StatusSwitchingProtocols},
		{"same-origin default: other origin", nil, app, http.StatusForbidden},
		{"same-origin default: null origin", nil, "null", http.StatusForbidden},
		{"allow-list: listed origin", []string{app}, app, http.StatusSwitchingProtocols},
		{"allow-list: listed origin, other case", []string{app + "/"}, "HTTPS://App.Example.com", http.StatusSwitchingProtocols},
		{"allow-list: other origin", []string{app}, "https://evil.example.com", http.StatusForbidden},
		{"allow-list: other scheme", []string{app}, "http://app.example.com", http.StatusForbidden},
		{"allow-list: own origin not listed", []string{app}, "SELF", http.StatusForbidden},
		{"allow-list: no Origin", []string{app}, "", http.StatusSwitchingProtocols},
		{"wildcard: any origin", []string{"*"}, "https://evil.example.com", http.StatusSwitchingProtocols},
		{"wildcard in list: any origin", []string{app, "*"}, "https://evil.example.com", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{AllowedOrigins: tt.allowed}, nil)
			header := http.Header{}
			switch tt.origin {
			case "":
			case "SELF":
				header.Set("Origin", f.srv.URL)
			default:
				header.Set("Origin", tt.origin)
			}
			c, resp, err := dial(t, f.url, protoTransportWS, header)
			if resp == nil {
				t.Fatalf("Dial(Origin %q) = %v, want an HTTP response", header.Get("Origin"), err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("Dial(Origin %q) status = %d (err %v), want %d", header.Get("Origin"), resp.StatusCode, err, tt.want)
			}
			if tt.want == http.StatusSwitchingProtocols {
				c.init() // the connection works
				return
			}
			if !errors.Is(err, websocket.ErrBadHandshake) {
				t.Errorf("Dial(Origin %q) = %v, want %v", header.Get("Origin"), err, websocket.ErrBadHandshake)
			}
			if n := f.impl.OpenConnections(); n != 0 {
				t.Errorf("OpenConnections() = %d after a refused origin, want 0", n)
			}
			if !f.handled.wait(5*time.Second, 0) {
				t.Fatal("the handler did not return after a refused origin")
			}
			if got := f.httpStatuses(); len(got) != 1 || got[0] != http.StatusForbidden {
				t.Errorf("statuses seen by the middleware = %v, want [403]", got)
			}
		})
	}
}

// TestNotAWebsocketRequest: Accept refuses what is no valid WebSocket
// handshake. (gqlws claims only GET requests with Connection: upgrade and
// Upgrade: websocket; Accept refuses the rest as well.)
func TestNotAWebsocketRequest(t *testing.T) {
	t.Parallel()
	valid := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	tests := []struct {
		name   string
		method string
		edit   func(http.Header)
		want   int
	}{
		{"other upgrade", http.MethodGet, func(h http.Header) { h.Set("Upgrade", "h2c") }, http.StatusBadRequest},
		{"no Connection upgrade", http.MethodGet, func(h http.Header) { h.Del("Connection") }, http.StatusBadRequest},
		{"bad key", http.MethodGet, func(h http.Header) { h.Set("Sec-Websocket-Key", "short") }, http.StatusBadRequest},
		{"bad version", http.MethodGet, func(h http.Header) { h.Set("Sec-Websocket-Version", "8") }, http.StatusBadRequest},
		{"POST", http.MethodPost, func(http.Header) {}, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			impl := wsgorilla.New(wsgorilla.Options{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{}); err == nil {
					conn.Close()
				}
			}))
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range valid {
				req.Header[k] = v
			}
			tt.edit(req.Header)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("Do(%s) = %v, want a response", tt.name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("Do(%s) status = %d, want %d", tt.name, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestPayloadReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	padded := func(n int) json.RawMessage {
		b, _ := json.Marshal(map[string]any{
			"query":     "subscription { name }",
			"variables": map[string]string{"pad": strings.Repeat("p", n)},
		})
		return b
	}
	tests := []struct {
		name     string
		initMsg  wsMsg // replaces connection_init when Type is set
		sub      json.RawMessage
		wantOK   bool
		wantCode int
		acked    bool // CloseFunc is called for an acknowledged connection only
	}{
		{name: "subscribe under the limit", sub: padded(limit / 2), wantOK: true},
		{name: "subscribe over the limit", sub: padded(4 * limit), wantCode: websocket.CloseMessageTooBig, acked: true},
		{name: "connection_init over the limit",
			initMsg:  wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"pad":"` + strings.Repeat("p", 4*limit) + `"}`)},
			wantCode: websocket.CloseMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{}, func(tr *gqlws.Transport) { tr.ReadLimit = limit })
			c := mustDial(t, f.url, protoTransportWS)
			if tt.initMsg.Type != "" {
				c.send(tt.initMsg)
			} else {
				c.init()
				c.send(wsMsg{ID: "1", Type: "subscribe", Payload: tt.sub})
			}
			if tt.wantOK {
				f.push("ok")
				c.expect("next")
				return
			}
			if err := c.readCloseError(5 * time.Second); closeCode(err) != tt.wantCode {
				t.Errorf("client read after an oversized message = %v, want close %d", err, tt.wantCode)
			}
			if !f.waitIdle(5 * time.Second) {
				t.Fatalf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.load())
			}
			if n, want := f.closes.load(), map[bool]int64{true: 1}[tt.acked]; n != want {
				t.Errorf("CloseFunc called %d times, want %d", n, want)
			}
		})
	}
}

// A client that stops reading must not block the server's writer: the write
// fails after WriteTimeout and the connection is dropped.
func TestStalledReaderIsDropped(t *testing.T) {
	t.Parallel()
	const writeTimeout = 200 * time.Millisecond
	var logs syncBuffer
	f := newFixture(t, wsgorilla.Options{WriteTimeout: writeTimeout, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)

	d := websocket.Dialer{
		Subprotocols: []string{protoTransportWS},
		NetDial: func(network, addr string) (net.Conn, error) {
			conn, err := net.Dial(network, addr)
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetReadBuffer(16 << 10) // small and fixed: no autotuning
			}
			return conn, err
		},
	}
	conn, _, err := d.Dial(f.url, nil)
	if err != nil {
		t.Fatalf("Dial() = %v, want nil", err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn}
	c.init()
	start := time.Now()
	c.send(wsMsg{ID: "1", Type: "subscribe", Payload: queryPayload("subscription { flood }")})
	// Never read again.

	if !f.waitIdle(10 * time.Second) {
		t.Fatalf("after %v: OpenConnections() = %d, handlers running %d, want 0, 0 (writer blocked?)",
			time.Since(start), f.impl.OpenConnections(), f.handled.load())
	}
	elapsed := time.Since(start)
	t.Logf("stalled reader dropped %v after subscribing (WriteTimeout %v)", elapsed, writeTimeout)
	if elapsed > 5*time.Second {
		t.Errorf("drop took %v, want about WriteTimeout (%v)", elapsed, writeTimeout)
	}
	if n := f.closes.load(); n != 1 {
		t.Errorf("CloseFunc called %d times, want 1", n)
	}
	if l := logs.String(); !strings.Contains(l, "websocket write failed; dropping connection") || !strings.Contains(l, "timeout") {
		t.Errorf("log = %q, want a write that timed out and dropped the connection", l)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPingInterval: a peer that answers the WebSocket pings is kept for as
// long as it answers; one that does not (silent, or reading without
// answering) is dropped after 2×PingInterval; with PingInterval 0 nothing
// drops a silent peer.
func TestPingInterval(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	tests := []struct {
		name         string
		pingInterval time.Duration
		read         bool // the client keeps reading after the ack
		pong         bool // ... and answers WebSocket pings
		wantDropped  bool
	}{
		{name: "silent peer is dropped", pingInterval: interval, wantDropped: true},
		{name: "answering peer is kept", pingInterval: interval, read: true, pong: true},
		{name: "peer not answering pings is dropped", pingInterval: interval, read: true, wantDropped: true},
		{name: "off: silent peer is kept", pingInterval: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{PingInterval: tt.pingInterval}, nil)
			start := time.Now() // before the accept, which starts the read deadline
			c := mustDial(t, f.url, protoTransportWS)
			pings := make(chan struct{}, 100)
			c.conn.SetPingHandler(func(data string) error {
				pings <- struct{}{}
				if !tt.pong {
					return nil
				}
				return c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
			})
			c.init()
			readerDone := make(chan struct{})
			if tt.read {
				go func() {
					defer close(readerDone)
					for {
						if _, _, err := c.conn.ReadMessage(); err != nil {
							return
						}
					}
				}()
			} else {
				close(readerDone)
			}

			switch {
			case tt.wantDropped:
				if !waitOpen(f.impl, 10*interval, 0) {
					t.Fatalf("not dropped within %v", 10*interval)
				}
				if elapsed := time.Since(start); elapsed < 2*interval {
					t.Errorf("dropped after %v, want no sooner than %v", elapsed, 2*interval)
				}
				if !f.waitIdle(5 * time.Second) {
					t.Errorf("handlers running = %d after the drop, want 0", f.handled.load())
				}
			case tt.read:
				// Five pings answered, each read deadline (2×interval)
				// moved on: kept.
				for i := range 5 {
					select {
					case <-pings:
					case <-time.After(5 * time.Second):
						t.Fatalf("ping %d not seen within 5s", i+1)
					}
				}
				if n := f.impl.OpenConnections(); n != 1 {
					t.Errorf("OpenConnections() = %d after 5 pings answered, want 1", n)
				}
			default:
				// Nothing happens: watch for 10 intervals.
				if waitOpen(f.impl, 10*interval, 0) {
					t.Errorf("dropped with PingInterval 0")
				}
			}
			c.conn.Close()
			<-readerDone
		})
	}
}
