package wsgorilla_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/wsgorilla"
)

// acceptServer serves Accept directly and hands each conn to the test.
func acceptServer(t *testing.T, opts wsgorilla.Options) (*wsgorilla.Implementation, string, <-chan transport.WebsocketConn) {
	t.Helper()
	impl := wsgorilla.New(opts)
	conns := make(chan transport.WebsocketConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{
			ResponseHeader: http.Header{"X-Test": {"yes"}},
			Subprotocols:   []string{protoGraphQLWS, protoTransportWS},
		})
		if err != nil {
			return
		}
		conns <- conn
	}))
	t.Cleanup(srv.Close)
	return impl, "ws" + strings.TrimPrefix(srv.URL, "http"), conns
}

// acceptOne dials the server and returns both ends.
func acceptOne(t *testing.T, opts wsgorilla.Options) (*wsgorilla.Implementation, transport.WebsocketConn, *client) {
	t.Helper()
	impl, url, conns := acceptServer(t, opts)
	c := mustDial(t, url, protoTransportWS)
	select {
	case conn := <-conns:
		t.Cleanup(func() { conn.Close() })
		return impl, conn, c
	case <-time.After(5 * time.Second):
		t.Fatal("Accept() returned no conn within 5s")
		return nil, nil, nil
	}
}

func TestAccept(t *testing.T) {
	t.Parallel()
	impl, url, conns := acceptServer(t, wsgorilla.Options{})
	c, resp, err := dial(t, url, protoTransportWS, nil)
	if err != nil {
		t.Fatalf("Dial() = %v, want nil", err)
	}
	conn := <-conns
	defer conn.Close()
	if got := resp.Header.Get("X-Test"); got != "yes" {
		t.Errorf("101 response header X-Test = %q, want %q", got, "yes")
	}
	if got := conn.Subprotocol(); got != protoTransportWS {
		t.Errorf("Subprotocol() = %q, want %q", got, protoTransportWS)
	}
	if _, ok := conn.(transport.WebsocketReadLimiter); !ok {
		t.Errorf("%T is not a transport.WebsocketReadLimiter", conn)
	}
	if got := impl.OpenConnections(); got != 1 {
		t.Errorf("OpenConnections() = %d, want 1", got)
	}

	if err := conn.WriteJSON(map[string]string{"type": "hello"}); err != nil {
		t.Fatalf("WriteJSON() = %v, want nil", err)
	}
	if m := c.read(); m.Type != "hello" {
		t.Errorf("client read() = %+v, want type hello", m)
	}
	if err := conn.WriteJSON(func() {}); err == nil {
		t.Errorf("WriteJSON(func) = nil, want a marshalling error")
	}
	c.send(wsMsg{Type: "ping"})
	mt, r, err := conn.NextReader()
	if err != nil {
		t.Fatalf("NextReader() = %v, want nil", err)
	}
	body, _ := io.ReadAll(r)
	if mt != websocket.TextMessage || strings.TrimSpace(string(body)) != `{"type":"ping"}` {
		t.Errorf("NextReader() = %d, %s, want %d, %s", mt, body, websocket.TextMessage, `{"type":"ping"}`)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		writeClose bool
		wantCode   int // what the client sees
	}{
		{"without close frame", false, websocket.CloseAbnormalClosure},
		{"after WriteClose", true, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			impl, conn, c := acceptOne(t, wsgorilla.Options{})
			if tt.writeClose {
				if err := conn.WriteClose(4000, "bye"); err != nil {
					t.Fatalf("WriteClose(4000) = %v, want nil", err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() { errs <- conn.Close() })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("Close() = %v, want nil", err)
				}
			}
			if err := c.readCloseError(5 * time.Second); closeCode(err) != tt.wantCode {
				t.Errorf("client read after Close = %v, want close %d", err, tt.wantCode)
			}
			if !waitOpen(impl, 5*time.Second, 0) {
				t.Errorf("OpenConnections() = %d, want 0", impl.OpenConnections())
			}
			if err := conn.Close(); err != nil {
				t.Errorf("Close() again = %v, want nil", err)
			}
			if err := conn.WriteJSON("late"); err == nil {
				t.Errorf("WriteJSON() after Close = nil, want an error")
			}
			if err := conn.WriteClose(1000, "late"); err != nil {
				t.Errorf("WriteClose() after Close = %v, want nil", err)
			}
			_, _, err := conn.NextReader()
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, transport.ErrWebsocketClosed) {
				t.Errorf("NextReader() after Close = %v, want net.ErrClosed or transport.ErrWebsocketClosed", err)
			}
			if got := impl.OpenConnections(); got != 0 {
				t.Errorf("OpenConnections() after repeated Close = %d, want 0", got)
			}
		})
	}
}

func TestWriteClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		code       int
		reason     string
		wantCode   int
		wantReason string
	}{
		{"normal", 1000, "terminated", 1000, "terminated"},
		{"application code", 4403, "forbidden", 4403, "forbidden"},
		{"protocol error", 1002, "unexpected message", 1002, "unexpected message"},
		{"long reason is cut to 123 bytes", 4400, strings.Repeat("a", 300), 4400, strings.Repeat("a", 123)},
		{"cut on a rune boundary", 4400, strings.Repeat("é", 100), 4400, strings.Repeat("é", 61)},
		{"invalid UTF-8 is replaced", 4400, "bad\xffbyte", 4400, "bad\uFFFDbyte"},
		{"no status code", 1005, "ignored", websocket.CloseNoStatusReceived, ""},
		{"code not allowed on the wire", 1006, "ignored", websocket.CloseNoStatusReceived, ""},
		{"out of range code", 99, "ignored", websocket.CloseNoStatusReceived, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, conn, c := acceptOne(t, wsgorilla.Options{})
			if err := conn.WriteClose(tt.code, tt.reason); err != nil {
				t.Fatalf("WriteClose(%d, %q) = %v, want nil", tt.code, tt.reason, err)
			}
			conn.Close()
			err := c.readCloseError(5 * time.Second)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("client read after WriteClose(%d) = %v, want a close error", tt.code, err)
			}
			if ce.Code != tt.wantCode || ce.Text != tt.wantReason {
				t.Errorf("WriteClose(%d, %q) = client sees %d %q, want %d %q", tt.code, tt.reason, ce.Code, ce.Text, tt.wantCode, tt.wantReason)
			}
			if len(ce.Text) > 123 || !utf8.ValidString(ce.Text) {
				t.Errorf("WriteClose(%d, …) reason = %d bytes, valid UTF-8 %v; want at most 123, valid", tt.code, len(ce.Text), utf8.ValidString(ce.Text))
			}
		})
	}
}

func TestNextReaderPeerClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		close      func(*websocket.Conn)
		wantClosed bool // transport.ErrWebsocketClosed
		wantCode   int  // else a *websocket.CloseError with this code
	}{
		{"normal closure", sendClose(websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")), true, 0},
		{"going away", sendClose(websocket.FormatCloseMessage(websocket.CloseGoingAway, "tab closed")), true, 0},
		{"no status", sendClose(nil), true, 0},
		{"application code", sendClose(websocket.FormatCloseMessage(4000, "x")), false, 4000},
		{"internal error", sendClose(websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "")), false, websocket.CloseInternalServerErr},
		{"TCP closed without close frame", func(c *websocket.Conn) { c.NetConn().Close() }, false, websocket.CloseAbnormalClosure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, conn, c := acceptOne(t, wsgorilla.Options{})
			tt.close(c.conn)
			_, _, err := conn.NextReader()
			if tt.wantClosed {
				if !errors.Is(err, transport.ErrWebsocketClosed) {
					t.Errorf("NextReader() = %v, want %v", err, transport.ErrWebsocketClosed)
				}
				return
			}
			if errors.Is(err, transport.ErrWebsocketClosed) || closeCode(err) != tt.wantCode {
				t.Errorf("NextReader() = %v, want close error %d", err, tt.wantCode)
			}
			// The error is final.
			if _, _, again := conn.NextReader(); again == nil || again.Error() != err.Error() {
				t.Errorf("NextReader() again = %v, want %v", again, err)
			}
		})
	}
}

func sendClose(payload []byte) func(*websocket.Conn) {
	return func(c *websocket.Conn) {
		c.WriteControl(websocket.CloseMessage, payload, time.Now().Add(time.Second))
	}
}

func TestAcceptUnwrapsResponseWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wrap func(http.ResponseWriter) http.ResponseWriter
		want int
	}{
		{"http.Hijacker", func(w http.ResponseWriter) http.ResponseWriter { return w }, http.StatusSwitchingProtocols},
		{"wrapper with Unwrap", func(w http.ResponseWriter) http.ResponseWriter { return &statusRecorder{ResponseWriter: w} }, http.StatusSwitchingProtocols},
		{"wrapper of a wrapper", func(w http.ResponseWriter) http.ResponseWriter {
			return &statusRecorder{ResponseWriter: &statusRecorder{ResponseWriter: w}}
		}, http.StatusSwitchingProtocols},
		{"opaque wrapper", func(w http.ResponseWriter) http.ResponseWriter { return struct{ http.ResponseWriter }{w} }, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			impl := wsgorilla.New(wsgorilla.Options{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, err := impl.Accept(tt.wrap(w), r, transport.WebsocketAcceptOptions{})
				if err == nil {
					conn.Close()
				}
			}))
			defer srv.Close()
			_, resp, err := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), "", nil)
			if resp == nil {
				t.Fatalf("Dial() = %v, want an HTTP response", err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("Dial() status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
