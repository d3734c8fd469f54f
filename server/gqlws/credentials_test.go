package gqlws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/gqlws"
)

// These tests run in a synctest bubble, so that timers (a credential's
// expiry) run on the bubble's clock. The network cannot be in a bubble:
// connections are in memory (pipeConn), accepted by pipeUpgrader, and the
// fixture (whose HTTP server goes unused) is made outside it.

// frame is what the server sent: a message, or the close frame (code set).
type frame struct {
	msg
	code   int
	reason string
}

// pipeConn is one in-memory WebSocket. Like gorilla's, it writes nothing
// after the close frame.
type pipeConn struct {
	proto string
	in    chan []byte
	out   chan frame

	mu        sync.Mutex
	closeSent bool
	gate      chan struct{} // if set, WriteClose waits for it
	closing   atomic.Bool   // WriteClose was called
	done      chan struct{}
	once      sync.Once
}

var errCloseSent = errors.New("close sent")

func (m *pipeConn) NextReader() (int, io.Reader, error) {
	select {
	case b := <-m.in:
		return websocket.TextMessage, bytes.NewReader(b), nil
	case <-m.done:
		return 0, nil, io.EOF
	}
}

func (m *pipeConn) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var f frame
	if err := json.Unmarshal(b, &f.msg); err != nil {
		return err
	}
	return m.put(f)
}

func (m *pipeConn) WriteClose(code int, reason string) error {
	m.closing.Store(true)
	if m.gate != nil {
		<-m.gate
	}
	return m.put(frame{code: code, reason: reason})
}

func (m *pipeConn) put(f frame) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.done:
		return io.ErrClosedPipe
	default:
	}
	if m.closeSent {
		return errCloseSent
	}
	m.closeSent = f.code != 0
	m.out <- f
	return nil
}

func (m *pipeConn) Close() error {
	m.once.Do(func() { close(m.done) })
	return nil
}

func (m *pipeConn) Subprotocol() string { return m.proto }

type pipeConnKey struct{}

// pipeUpgrader accepts the pipeConn in the request's context.
type pipeUpgrader struct{}

func (pipeUpgrader) Accept(_ http.ResponseWriter, r *http.Request, _ transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return r.Context().Value(pipeConnKey{}).(*pipeConn), nil
}

// pipeClient is the test's end of a pipeConn.
type pipeClient struct {
	t *testing.T
	m *pipeConn
}

// open serves a new in-memory connection with f's handler.
func (f *fixture) open(t *testing.T, proto string) *pipeClient {
	m := &pipeConn{proto: proto, in: make(chan []byte), out: make(chan frame, 64), done: make(chan struct{})}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r = r.WithContext(context.WithValue(r.Context(), pipeConnKey{}, m))
	go f.srv.Config.Handler.ServeHTTP(httptest.NewRecorder(), r)
	t.Cleanup(func() { m.Close() })
	return &pipeClient{t: t, m: m}
}

func (c *pipeClient) send(m msg) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	select {
	case c.m.in <- b:
	case <-c.m.done:
		c.t.Fatalf("send(%+v): the connection is closed", m)
	}
}

// next returns what the server sent (but legacy keep-alives) once
// everything in the bubble has settled, or false for nothing.
func (c *pipeClient) next() (frame, bool) {
	synctest.Wait()
	for {
		select {
		case f := <-c.m.out:
			if f.Type == "ka" {
				continue
			}
			return f, true
		default:
			return frame{}, false
		}
	}
}

func (c *pipeClient) expect(typ, id, payload string) {
	c.t.Helper()
	f, ok := c.next()
	if !ok || f.code != 0 || f.Type != typ || f.ID != id || (payload != "" && string(f.Payload) != payload) {
		c.t.Fatalf("next() = %+v %v, want {type %s id %q payload %s}", f, ok, typ, id, payload)
	}
}

func (c *pipeClient) expectClose(code int, reason string) {
	c.t.Helper()
	f, ok := c.next()
	if !ok || f.code != code || f.reason != reason {
		c.t.Fatalf("next() = %+v %v, want close %d %q", f, ok, code, reason)
	}
}

// expectTypes checks the types of everything the server sent (legacy
// keep-alives included) once the bubble has settled.
func (c *pipeClient) expectTypes(want ...string) {
	c.t.Helper()
	synctest.Wait()
	var got []string
	for more := true; more; {
		select {
		case f := <-c.m.out:
			got = append(got, f.Type)
		default:
			more = false
		}
	}
	if !slices.Equal(got, want) {
		c.t.Fatalf("sent %q, want %q", got, want)
	}
}

func (c *pipeClient) expectNothing() {
	c.t.Helper()
	if f, ok := c.next(); ok {
		c.t.Fatalf("next() = %+v, want nothing", f)
	}
}

// lastFeed is the newest ticks subscription.
func (f *fixture) lastFeed(t *testing.T) *feed {
	t.Helper()
	synctest.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.feeds) == 0 {
		t.Fatal("no ticks subscription started")
	}
	return f.feeds[len(f.feeds)-1]
}

// TestCredentialExpiry: a connection whose InitFunc returned CloseAt
// delivers until then, and is closed at that moment with the code given,
// after which nothing more is sent for its subscription.
func TestCredentialExpiry(t *testing.T) {
	for _, proto := range []string{gqlws.TransportWS, gqlws.GraphQLWS} {
		t.Run(proto, func(t *testing.T) {
			f := newFixture(t, func(tr *gqlws.Transport) {
				tr.Upgrader = pipeUpgrader{}
				tr.KeepAlive = -1
				tr.InitFunc = func(ctx context.Context, _ map[string]any) (context.Context, error) {
					return gqlws.CloseAt(ctx, time.Now().Add(time.Hour), gqlws.CloseUnauthorized, "Unauthorized: token expired"), nil
				}
			})
			synctest.Test(t, func(t *testing.T) {
				c := f.open(t, proto)
				c.send(msg{Type: "connection_init"})
				c.expect("connection_ack", "", "")
				sub := subscribe("1", "subscription { ticks }")
				next := "next"
				if proto == gqlws.GraphQLWS {
					sub.Type, next = "start", "data"
				}
				c.send(sub)
				fd := f.lastFeed(t)
				fd.emit(t, 1)
				c.expect(next, "1", `{"data":{"ticks":1}}`)

				time.Sleep(time.Hour - time.Second)
				fd.emit(t, 2)
				c.expect(next, "1", `{"data":{"ticks":2}}`)

				time.Sleep(time.Second)
				c.expectClose(gqlws.CloseUnauthorized, "Unauthorized: token expired")
				select {
				case fd.out <- 3:
					fd.ready()
				default:
				}
				c.expectNothing()
				if n := f.closeCount(); n != 1 {
					t.Errorf("CloseFunc called %d times, want 1", n)
				}
			})
		})
	}
}

// TestCredentialAlreadyExpired: an expiry already past refuses the
// connection rather than acknowledging it.
func TestCredentialAlreadyExpired(t *testing.T) {
	f := newFixture(t, func(tr *gqlws.Transport) {
		tr.Upgrader = pipeUpgrader{}
		tr.InitFunc = func(ctx context.Context, _ map[string]any) (context.Context, error) {
			return gqlws.CloseAt(ctx, time.Now(), gqlws.CloseUnauthorized, "Unauthorized: token expired"), nil
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c := f.open(t, gqlws.TransportWS)
		c.send(msg{Type: "connection_init"})
		c.expectClose(gqlws.CloseUnauthorized, "Unauthorized: token expired")
	})
}

// TestCloser: the function Closer returns (for a revoked credential)
// closes the connection with its code; nothing is sent afterwards, and a
// second call does nothing.
func TestCloser(t *testing.T) {
	var revoke func(int, string)
	f := newFixture(t, func(tr *gqlws.Transport) {
		tr.Upgrader = pipeUpgrader{}
		tr.InitFunc = func(ctx context.Context, _ map[string]any) (context.Context, error) {
			revoke = gqlws.Closer(ctx)
			return ctx, nil
		}
	})
	synctest.Test(t, func(t *testing.T) {
		if gqlws.Closer(context.Background()) != nil {
			t.Error("Closer(a context of no connection) is not nil")
		}
		c := f.open(t, gqlws.TransportWS)
		c.send(msg{Type: "connection_init"})
		c.expect("connection_ack", "", "")
		c.send(subscribe("1", "subscription { ticks }"))
		fd := f.lastFeed(t)
		fd.emit(t, 1)
		c.expect("next", "1", `{"data":{"ticks":1}}`)

		revoke(gqlws.CloseUnauthorized, "Unauthorized: API key revoked")
		c.expectClose(gqlws.CloseUnauthorized, "Unauthorized: API key revoked")
		revoke(gqlws.CloseUnauthorized, "again")
		fd.end()
		c.expectNothing()
	})
}

// TestCloseAllMovesSubscriptions: a shutdown closes every connection with
// the code given (one graphql-ws clients retry on) and sends no complete,
// not even for a subscription that ends while the shutdown is under way
// (the broker stopping, say): the clients subscribe again elsewhere. The
// close lines log the code.
func TestCloseAllMovesSubscriptions(t *testing.T) {
	var buf syncBuffer
	var tr *gqlws.Transport
	f := newFixture(t, func(x *gqlws.Transport) {
		tr = x
		x.Upgrader = pipeUpgrader{}
		x.KeepAlive = -1
		x.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var clients []*pipeClient
		var feeds []*feed
		for i, proto := range []string{gqlws.TransportWS, gqlws.GraphQLWS} {
			c := f.open(t, proto)
			c.m.gate = gate // the close frame waits until the test opens the gate
			c.send(msg{Type: "connection_init"})
			c.expect("connection_ack", "", "")
			sub, next := subscribe("s", "subscription { ticks }"), "next"
			if i == 1 {
				sub.Type, next = "start", "data"
			}
			c.send(sub)
			fd := f.lastFeed(t)
			fd.emit(t, 1)
			c.expect(next, "s", `{"data":{"ticks":1}}`)
			clients, feeds = append(clients, c), append(feeds, fd)
		}

		go tr.CloseAll(1001, "server shutting down; reconnect")
		synctest.Wait() // CloseAll waits on the first connection's close frame
		// The other connection's subscription ends meanwhile (its source
		// stopping too, say), before its connection is closed.
		waiting := 0
		for i, c := range clients {
			if !c.m.closing.Load() {
				feeds[i].end()
				waiting++
			}
		}
		if waiting != 1 {
			t.Fatalf("%d connections not yet closing, want 1", waiting)
		}
		synctest.Wait()
		close(gate)
		for _, c := range clients {
			c.expectClose(1001, "server shutting down; reconnect")
			c.expectNothing()
		}

		// A connection that opens during the shutdown is closed at once.
		late := f.open(t, gqlws.TransportWS)
		late.expectClose(1001, "server shutting down; reconnect")

		synctest.Wait()
		lines := buf.lines(t)
		if len(lines) != 3 {
			t.Fatalf("log lines %v, want 3", lines)
		}
		for _, l := range lines {
			if l["msg"] != "websocket closed" || l["server_close_code"] != 1001.0 {
				t.Errorf("log line %v, want websocket closed with server_close_code 1001", l)
			}
		}
	})
}
