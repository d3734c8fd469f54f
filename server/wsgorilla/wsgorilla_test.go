package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

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
			if m := c.expect("complete"); m.ID != "1" {
				t.Errorf("read() = %+v, want complete for id 1", m)
			}

			// A normal close by the client ends the connection without errors.
			c.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			if err := c.readCloseError(5 * time.Second); closeCode(err) != websocket.CloseNormalClosure {
				t.Errorf("client read after close = %v, want close 1000", err)
			}
			if !f.waitIdle(5 * time.Second) {
				t.Fatalf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.Load())
			}
			if got, want := f.closed(), []int{1000}; len(got) != 1 || got[0] != want[0] {
				t.Errorf("CloseFunc codes = %v, want %v", got, want)
			}
			if errs := f.errors(); len(errs) != 0 {
				t.Errorf("ErrorFunc errors = %v, want none", errs)
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
			eventually(time.Second, func() bool { return f.handled.Load() == 0 })
			if got := f.httpStatuses(); len(got) != 1 || got[0] != http.StatusForbidden {
				t.Errorf("statuses seen by the middleware = %v, want [403]", got)
			}
		})
	}
}

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
			f := newFixture(t, wsgorilla.Options{}, nil)
			req, err := http.NewRequest(tt.method, f.srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range valid {
				req.Header[k] = v
			}
			tt.edit(req.Header)
			resp, err := f.srv.Client().Do(req)
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
	}{
		{name: "subscribe under the limit", sub: padded(limit / 2), wantOK: true},
		{name: "subscribe over the limit", sub: padded(4 * limit), wantCode: websocket.CloseMessageTooBig},
		{name: "connection_init over the limit",
			initMsg:  wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"pad":"` + strings.Repeat("p", 4*limit) + `"}`)},
			wantCode: websocket.CloseMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{}, func(ws *transport.Websocket) {
				ws.PayloadReadLimit = new(int64(limit))
			})
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
				t.Fatalf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.Load())
			}
			if got := f.closed(); len(got) != 1 {
				t.Errorf("CloseFunc codes = %v, want one call", got)
			}
		})
	}
}

// A client that stops reading must not block the server's writer: the write
// fails after WriteTimeout and the connection is dropped.
func TestStalledReaderIsDropped(t *testing.T) {
	t.Parallel()
	const writeTimeout = 200 * time.Millisecond
	f := newFixture(t, wsgorilla.Options{WriteTimeout: writeTimeout}, nil)

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
			time.Since(start), f.impl.OpenConnections(), f.handled.Load())
	}
	elapsed := time.Since(start)
	t.Logf("stalled reader dropped %v after subscribing (WriteTimeout %v)", elapsed, writeTimeout)
	if elapsed > 5*time.Second {
		t.Errorf("drop took %v, want about WriteTimeout (%v)", elapsed, writeTimeout)
	}
	if got := f.closed(); len(got) != 1 {
		t.Errorf("CloseFunc codes = %v, want one call", got)
	}
	var timedOut bool
	for _, err := range f.errors() {
		var ne net.Error
		var we transport.WebsocketError
		if errors.As(err, &we) && !we.IsReadError && errors.As(err, &ne) && ne.Timeout() {
			timedOut = true
		}
	}
	if !timedOut {
		t.Errorf("ErrorFunc errors = %v, want a write timeout", f.errors())
	}
}

func TestPingInterval(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	tests := []struct {
		name             string
		pingInterval     time.Duration // wsgorilla WebSocket pings
		pingPongInterval time.Duration // gqlgen graphql-transport-ws pings
		read             bool          // the client keeps reading after the ack
		wsPong           bool          // ... and answers WebSocket pings
		gqlPong          bool          // ... and answers graphql pings
		wantDropped      bool
	}{
		{name: "silent peer is dropped", pingInterval: interval, wantDropped: true},
		{name: "reading peer is kept", pingInterval: interval, read: true, wsPong: true},
		{name: "peer not answering WebSocket pings is dropped", pingInterval: interval, read: true, wantDropped: true},
		{name: "both on: peer answering both is kept",
			pingInterval: interval, pingPongInterval: interval, read: true, wsPong: true, gqlPong: true},
		{name: "both on: WebSocket pong does not extend gqlgen's deadline",
			pingInterval: interval, pingPongInterval: interval, read: true, wsPong: true, wantDropped: true},
		{name: "both on: gqlgen clearing its deadline does not disable ours",
			pingInterval: interval, pingPongInterval: interval, read: true, gqlPong: true, wantDropped: true},
		{name: "off: silent peer is kept", pingInterval: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{PingInterval: tt.pingInterval}, func(ws *transport.Websocket) {
				ws.PingPongInterval = tt.pingPongInterval
			})
			c := mustDial(t, f.url, protoTransportWS)
			var wsPings atomic.Int64
			c.conn.SetPingHandler(func(data string) error {
				wsPings.Add(1)
				if !tt.wsPong {
					return nil
				}
				return c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
			})
			c.init()
			start := time.Now()
			readerDone := make(chan struct{})
			if tt.read {
				go func() {
					defer close(readerDone)
					for {
						var m wsMsg
						if err := c.conn.ReadJSON(&m); err != nil {
							return
						}
						if m.Type == "ping" && tt.gqlPong {
							c.conn.WriteJSON(wsMsg{Type: "pong"}) // the only writer
						}
					}
				}()
			} else {
				close(readerDone)
			}

			const watch = 10 * interval
			dropped := eventually(watch, func() bool { return f.impl.OpenConnections() == 0 })
			if dropped != tt.wantDropped {
				t.Fatalf("after %v: dropped = %v, want %v (WebSocket pings seen %d)",
					time.Since(start), dropped, tt.wantDropped, wsPings.Load())
			}
			if dropped {
				if elapsed := time.Since(start); elapsed < interval {
					t.Errorf("dropped after %v, want no sooner than %v", elapsed, interval)
				}
				if !f.waitIdle(5 * time.Second) {
					t.Errorf("handlers running = %d after the drop, want 0", f.handled.Load())
				}
			} else if tt.read && tt.pingInterval > 0 && wsPings.Load() == 0 {
				t.Errorf("WebSocket pings seen = 0 in %v, want some", watch)
			}
			c.conn.Close()
			<-readerDone
		})
	}
}

// An InitFunc refusal reaches the client as gqlgen's close code and reason.
func TestInitFuncCloseCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		proto      string
		reason     string
		wantReason string
	}{
		{"graphql-transport-ws", protoTransportWS, "Unauthorized: bad token", "Unauthorized: bad token"},
		{"graphql-ws", protoGraphQLWS, "Unauthorized: bad token", "Unauthorized: bad token"},
		{"long reason is cut", protoTransportWS, "Unauthorized: " + strings.Repeat("x", 200), ("Unauthorized: " + strings.Repeat("x", 200))[:123]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, wsgorilla.Options{}, func(ws *transport.Websocket) {
				ws.InitFunc = func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
					ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, 4401), tt.reason)
					return ctx, nil, errors.New("bad token")
				}
			})
			c := mustDial(t, f.url, tt.proto)
			c.send(wsMsg{Type: "connection_init"})
			err := c.readCloseError(5 * time.Second)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4401 || ce.Text != tt.wantReason {
				t.Errorf("client read after a refused connection_init = %v, want close 4401 %q", err, tt.wantReason)
			}
			if !f.waitIdle(5 * time.Second) {
				t.Fatalf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.Load())
			}
			if got := f.closed(); len(got) != 1 || got[0] != 4401 {
				t.Errorf("CloseFunc codes = %v, want [4401]", got)
			}
		})
	}
}
