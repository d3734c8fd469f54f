package wsgorilla_test

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

// pipeListener is an in-memory network for a synctest bubble, where real
// sockets cannot be (blocking on them is not durable): dial hands Accept
// one end of a net.Pipe.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(context.Context, string, string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// servePipes serves h on an in-memory network until the test ends, and
// returns a client of it.
func servePipes(t *testing.T, h http.Handler) websocket.Dialer {
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return websocket.Dialer{NetDialContext: l.dial}
}

// TestNoGoroutineLeak ends connections in every way, over TCP (whose
// buffers let the server's close frames and pings go out to a peer that
// is not reading, so the lingering closes and the read deadlines are
// what ends them), and checks that every goroutine is given back.
//
// It does not call t.Parallel: it counts every goroutine of the test
// binary, so it runs while the parallel tests wait.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()

	// A subtest: its cleanups (server, client conns) run before the count.
	t.Run("connections", func(t *testing.T) {
		f := newFixture(t, wsgorilla.Options{PingInterval: 100 * time.Millisecond, WriteTimeout: 200 * time.Millisecond},
			func(tr *gqlws.Transport) {
				tr.KeepAlive = 50 * time.Millisecond
				tr.InitTimeout = time.Second
			})
		tests := []struct {
			name  string
			proto string
			end   func(*client)
		}{
			{"transport-ws, client closes", protoTransportWS, func(c *client) {
				c.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				c.readCloseError(5 * time.Second)
			}},
			{"graphql-ws, client terminates", protoGraphQLWS, func(c *client) {
				c.conn.WriteJSON(wsMsg{Type: "connection_terminate"})
				c.readCloseError(5 * time.Second)
			}},
			{"graphql-ws, client terminates and stops reading", protoGraphQLWS, func(c *client) {
				c.conn.WriteJSON(wsMsg{Type: "connection_terminate"}) // the lingering close ends by its grace
			}},
			{"transport-ws, TCP drop", protoTransportWS, func(c *client) { c.conn.NetConn().Close() }},
			{"transport-ws, silent peer", protoTransportWS, func(c *client) {}}, // dropped by pings
			{"transport-ws, stalled reader", protoTransportWS, func(c *client) {
				c.conn.WriteJSON(wsMsg{ID: "2", Type: "subscribe", Payload: queryPayload("subscription { flood }")})
			}},
		}
		for _, tt := range tests {
			for range 3 {
				c := mustDial(t, f.url, tt.proto)
				c.init()
				start := "subscribe"
				if tt.proto == protoGraphQLWS {
					start = "start"
				}
				// Pings may drop a peer that does not read at any time; a
				// failed send is fine here, only leaks matter.
				c.conn.WriteJSON(wsMsg{ID: "1", Type: start, Payload: queryPayload("subscription { name }")})
				tt.end(c)
			}
		}
		if !f.waitIdle(10 * time.Second) {
			t.Errorf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.load())
		}
	})

	// The goroutines that served the connections (net/http's, for each)
	// end just after them, which nothing signals: this waits by polling.
	// The one sleep left in this package outside a synctest bubble.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("runtime.NumGoroutine() = %d, want at most %d as before\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestRepeatedCloseLeavesNothing: Close after a close frame, called again
// and again, leaves no goroutine (the lingering close) behind.
func TestRepeatedCloseLeavesNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		impl := wsgorilla.New(wsgorilla.Options{PingInterval: 10 * time.Millisecond})
		conns := make(chan transport.WebsocketConn, 1)
		d := servePipes(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{}); err == nil {
				conns <- conn
			}
		}))
		client, _, err := d.Dial("ws://vidgate.test/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		conn := <-conns
		read := make(chan error, 1)
		go func() { // answers the close frame
			_, _, err := client.ReadMessage()
			read <- err
		}()
		conn.WriteClose(1000, "bye")
		for range 3 {
			conn.Close()
		}
		if err := <-read; closeCode(err) != 1000 {
			t.Errorf("client read = %v, want close 1000", err)
		}
		client.Close()
		synctest.Wait()
		if n := impl.OpenConnections(); n != 0 {
			t.Errorf("OpenConnections() = %d, want 0", n)
		}
	})
}
