// Package gqlws serves GraphQL over WebSockets as a gqlgen transport: the
// graphql-transport-ws protocol (the graphql-ws library's) and the legacy
// graphql-ws protocol (subscriptions-transport-ws, Apollo's old client).
//
// It exists to hold as little as possible per connection. gqlgen's own
// transport.Websocket runs three goroutines for every connection (the
// reader, one waiting to close the socket when the context ends, a
// keep-alive ticker for graphql-ws) and one more for every subscription,
// blocked on the resolver's channel. Each goroutine holds a stack, and at
// ten thousand connections the stacks are most of the server's memory per
// connection. Here a connection runs one goroutine, its reader; timers are
// runtime timers (time.AfterFunc), and a subscription whose resolver
// supports it (see Wake) holds no goroutine at all while it has nothing to
// send: a goroutine runs only while there is something to write.
//
// # Protocol
//
// graphql-transport-ws follows the protocol document of the graphql-ws
// library: connection_init (once, within InitTimeout: 4408 otherwise, and
// 4429 for a second one), connection_ack, ping and pong both ways,
// subscribe (before the ack: 4401; an id in use: 4409), next, error,
// complete. A message that is not valid JSON or of no known type closes
// the connection with 4400. Queries and mutations may be sent as well
// and get one next and a complete.
//
// graphql-ws (legacy) uses connection_init, connection_ack,
// connection_error, ka (keep-alive, every KeepAlive), start, data, error,
// complete, stop and connection_terminate. A client that asks for no
// subprotocol is served this one, as gqlgen does.
//
// # Authentication
//
// InitFunc gets the connection_init payload and returns the context the
// connection's operations run in (with the caller's identity, say). An
// error refuses the connection: a *CloseError chooses the close code and
// reason (4401 Unauthorized, for example); any other error closes with 4403
// and the error's text. On the legacy protocol a connection_error message
// with the text comes first.
package gqlws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// Subprotocols, in order of preference.
const (
	TransportWS = "graphql-transport-ws"
	GraphQLWS   = "graphql-ws"
)

// Close codes of the graphql-transport-ws protocol.
const (
	CloseInvalidMessage   = 4400
	CloseUnauthorized     = 4401
	CloseForbidden        = 4403
	CloseInitTimeout      = 4408
	CloseSubscriberExists = 4409
	CloseTooManyInits     = 4429
)

// Defaults for zero Transport fields.
const (
	DefaultInitTimeout   = 10 * time.Second
	DefaultKeepAlive     = 15 * time.Second
	DefaultReadLimit     = 1 << 20
	DefaultMaxOperations = 64
)

// CloseError is an error from InitFunc that chooses how the connection is
// closed.
type CloseError struct {
	Code   int
	Reason string // sent in the close frame; keep it short (123 bytes at most)
	// Message, if set, is the longer explanation the legacy protocol's
	// connection_error carries (default: Reason).
	Message string
}

func (e *CloseError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Reason
}

// Transport is a graphql.Transport for WebSocket upgrade requests. Add it
// to a gqlgen server before the HTTP transports.
type Transport struct {
	// Upgrader accepts the WebSocket (wsgorilla.Implementation). When Accept
	// fails it must have written the HTTP error itself.
	Upgrader transport.WebsocketImplementation

	// InitFunc authenticates connection_init; see the package documentation.
	// nil accepts every connection.
	InitFunc func(ctx context.Context, payload map[string]any) (context.Context, error)

	// CloseFunc, if set, is called once when a connection that InitFunc
	// accepted ends, with the context InitFunc returned.
	CloseFunc func(ctx context.Context)

	// InitTimeout is how long a client has to send connection_init
	// (default 10s).
	InitTimeout time.Duration

	// KeepAlive is the interval of "ka" messages on the legacy protocol
	// (default 15s; negative turns them off). graphql-transport-ws has no
	// server keep-alive; WebSocket pings (wsgorilla) keep both alive.
	KeepAlive time.Duration

	// ReadLimit is the largest message read from a client (default 1 MiB);
	// a larger one closes the connection (1009).
	ReadLimit int64

	// MaxOperations caps the operations one connection runs at once
	// (queries, mutations and subscriptions; default 64, negative: no cap).
	// One more gets an error message with extensions.code RATE_LIMITED, and
	// the connection carries on. (Resolvers may cap subscriptions lower.)
	MaxOperations int

	// closing is the close every connection gets once CloseAll has been
	// called; mu guards conns, the open connections, for CloseAll.
	closing atomic.Pointer[closeFrame]
	mu      sync.Mutex
	conns   map[*conn]struct{}

	// Logger gets a line when a connection closes ("websocket closed":
	// subprotocol, duration, operations, the close code the server sent)
	// and panics recovered while serving, with the upgrade request's
	// context; nil discards.
	Logger *slog.Logger
}

var _ graphql.Transport = (*Transport)(nil)

type closeFrame struct {
	code   int
	reason string
}

// CloseAll closes every open connection with code and reason, and any
// that opens afterwards as soon as it is accepted: for a shutdown, with a
// code graphql-ws clients reconnect on (1001 Going Away or 1012 Service
// Restart; 1000, 4400, 4401, 4409, 4429, 4500 and most 1xxx codes are
// fatal to them). From the call on, an operation that ends gets no
// complete (nor error): it did not finish, its connection is going away,
// and the client should subscribe again elsewhere.
func (t *Transport) CloseAll(code int, reason string) {
	t.closing.Store(&closeFrame{code: code, reason: reason})
	t.mu.Lock()
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.closeOpen(code, reason)
	}
}

// shuttingDown reports whether CloseAll has been called.
func (t *Transport) shuttingDown() bool { return t.closing.Load() != nil }

// track adds c to the open connections, or reports the close to send it
// at once when CloseAll has been called.
func (t *Transport) track(c *conn) *closeFrame {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.closing.Load(); f != nil {
		return f // CloseAll has copied the connections already, or is about to
	}
	if t.conns == nil {
		t.conns = map[*conn]struct{}{}
	}
	t.conns[c] = struct{}{}
	return nil
}

func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

type connKey struct{}

// Closer returns a function that closes the connection ctx belongs to (the
// context InitFunc gets, or one made from it) with code and reason, unless
// it has closed already: for revoking a connection's credential. It returns
// nil for a context of no gqlws connection.
func Closer(ctx context.Context) func(code int, reason string) {
	c, _ := ctx.Value(connKey{}).(*conn)
	if c == nil {
		return nil
	}
	return c.closeOpen
}

type expiryKey struct{}

type expiry struct {
	at time.Time
	closeFrame
}

// CloseAt returns ctx marked so that, when InitFunc returns it, the
// connection is closed with code and reason at t: when the credential that
// authenticated it expires (code 4401, say). A t already past closes the
// connection instead of acknowledging it.
func CloseAt(ctx context.Context, t time.Time, code int, reason string) context.Context {
	return context.WithValue(ctx, expiryKey{}, &expiry{at: t, closeFrame: closeFrame{code: code, reason: reason}})
}

// Supports claims WebSocket upgrade requests.
func (t *Transport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHas(r.Header, "Connection", "upgrade") &&
		headerHas(r.Header, "Upgrade", "websocket")
}

// Do upgrades the request and serves the connection until it closes.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ws, err := t.Upgrader.Accept(w, r, transport.WebsocketAcceptOptions{
		ResponseHeader: http.Header{},
		Subprotocols:   []string{TransportWS, GraphQLWS},
	})
	if err != nil {
		return // the Upgrader answered the request
	}
	limit := t.ReadLimit
	if limit == 0 {
		limit = DefaultReadLimit
	}
	if l, ok := ws.(transport.WebsocketReadLimiter); ok && limit > 0 {
		l.SetReadLimit(limit)
	}
	c := &conn{
		t:       t,
		ws:      ws,
		legacy:  ws.Subprotocol() != TransportWS,
		exec:    exec,
		headers: r.Header,
		ops:     map[string]*operation{},
		started: time.Now(),
	}
	c.ctx = context.WithValue(r.Context(), connKey{}, c)
	if f := t.track(c); f != nil {
		c.closeWith(f.code, f.reason)
	}
	defer t.untrack(c)
	c.serve()
}

// conn is one WebSocket connection.
type conn struct {
	t       *Transport
	ws      transport.WebsocketConn
	legacy  bool
	exec    graphql.GraphExecutor
	headers http.Header

	// Written by the reader only; ctx is the connection's context (the one
	// InitFunc returned, once it has), cancel ends it and every operation.
	ctx      context.Context
	cancel   context.CancelFunc
	initSeen bool
	acked    atomic.Bool
	started  time.Time
	opCount  int          // operations started (reader only)
	sentCode atomic.Int32 // the close code the server sent, if it closed
	// sentReason is the reason sent with sentCode; written once, by the
	// closeWith that set sentCode.
	sentReason atomic.Pointer[string]

	writeMu sync.Mutex

	mu        sync.Mutex
	ops       map[string]*operation
	closed    bool
	initTimer *time.Timer
	kaTimer   *time.Timer
	expTimer  *time.Timer // CloseAt's
}

// envelope is every message of both protocols.
type envelope struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type outMessage struct {
	ID      string `json:"id,omitempty"`
	Type    string `json:"type"`
	Payload any    `json:"payload,omitempty"`
}

func (c *conn) serve() {
	c.ctx, c.cancel = context.WithCancel(c.ctx)
	defer c.shutdown()
	timeout := c.t.InitTimeout
	if timeout == 0 {
		timeout = DefaultInitTimeout
	}
	if timeout > 0 {
		c.mu.Lock()
		c.initTimer = time.AfterFunc(timeout, func() {
			c.closeWith(CloseInitTimeout, "Connection initialisation timeout")
		})
		c.mu.Unlock()
	}
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		m, err := readEnvelope(r)
		if errors.Is(err, errInvalid) {
			c.closeWith(CloseInvalidMessage, "Invalid message received")
			return
		}
		if err != nil {
			return // over the read limit, or the connection broke
		}
		if !c.handle(m) {
			return
		}
	}
}

var errInvalid = errors.New("invalid message")

// buffers hold a message while it is decoded: an idle connection holds
// none.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func readEnvelope(r io.Reader) (envelope, error) {
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return envelope{}, err
	}
	var m envelope // Payload is copied out of buf
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m.Type == "" {
		return envelope{}, errInvalid
	}
	return m, nil
}

// handle acts on one message; false ends the connection.
func (c *conn) handle(m envelope) bool {
	switch m.Type {
	case "connection_init":
		return c.init(m.Payload)
	case "ping":
		if c.legacy {
			break
		}
		c.write(outMessage{Type: "pong", Payload: rawOrNil(m.Payload)})
		return true
	case "pong":
		if c.legacy {
			break
		}
		return true
	case "subscribe", "start":
		if (m.Type == "start") != c.legacy {
			break
		}
		if !c.acked.Load() {
			c.closeWith(CloseUnauthorized, "Unauthorized")
			return false
		}
		if m.ID == "" || len(m.ID) > maxIDLength {
			c.closeWith(CloseInvalidMessage, "Invalid message received: subscribe needs an id of 1 to 128 bytes")
			return false
		}
		c.opCount++
		return c.start(m.ID, m.Payload)
	case "complete", "stop":
		if (m.Type == "stop") != c.legacy {
			break
		}
		c.mu.Lock()
		o := c.ops[m.ID]
		c.mu.Unlock()
		if o != nil {
			o.stop()
		}
		return true
	case "connection_terminate":
		if !c.legacy {
			break
		}
		c.closeWith(1000, "terminated")
		return false
	}
	c.closeWith(CloseInvalidMessage, "Invalid message received: unknown type "+truncate(m.Type, 40))
	return false
}

func (c *conn) init(payload json.RawMessage) bool {
	if c.initSeen {
		c.closeWith(CloseTooManyInits, "Too many initialisation requests")
		return false
	}
	c.initSeen = true
	// The init timeout counts until connection_init arrives, not until
	// InitFunc has answered.
	c.mu.Lock()
	if c.initTimer != nil {
		c.initTimer.Stop()
		c.initTimer = nil
	}
	c.mu.Unlock()
	var p map[string]any
	if len(payload) > 0 && string(payload) != "null" {
		if err := json.Unmarshal(payload, &p); err != nil {
			c.closeWith(CloseInvalidMessage, "Invalid message received: connection_init payload is not an object")
			return false
		}
	}
	if p == nil {
		p = map[string]any{}
	}
	if c.t.InitFunc != nil {
		ctx, err := c.t.InitFunc(c.ctx, p)
		if err != nil {
			code, reason := CloseForbidden, err.Error()
			var ce *CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			if c.legacy {
				c.write(outMessage{Type: "connection_error", Payload: map[string]string{"message": err.Error()}})
			}
			c.closeWith(code, reason)
			return false
		}
		if ctx != nil {
			c.ctx = ctx
		}
	}
	if e, ok := c.ctx.Value(expiryKey{}).(*expiry); ok {
		d := time.Until(e.at)
		if d <= 0 {
			c.closeWith(e.code, e.reason)
			return false
		}
		c.mu.Lock()
		if !c.closed {
			c.expTimer = time.AfterFunc(d, func() { c.closeOpen(e.code, e.reason) })
		}
		c.mu.Unlock()
	}
	c.acked.Store(true)
	c.write(outMessage{Type: "connection_ack"})
	if c.legacy {
		c.write(outMessage{Type: "ka"})
		if ka := c.keepAlive(); ka > 0 {
			c.mu.Lock()
			if !c.closed {
				c.kaTimer = time.AfterFunc(ka, c.sendKeepAlive)
			}
			c.mu.Unlock()
		}
	}
	return true
}

func (c *conn) keepAlive() time.Duration {
	if c.t.KeepAlive == 0 {
		return DefaultKeepAlive
	}
	return c.t.KeepAlive
}

func (c *conn) sendKeepAlive() {
	c.write(outMessage{Type: "ka"})
	c.mu.Lock()
	if !c.closed && c.kaTimer != nil {
		c.kaTimer.Reset(c.keepAlive())
	}
	c.mu.Unlock()
}

// write sends one message. A failed write closes the socket (wsgorilla
// does), which ends the reader and so the connection.
func (c *conn) write(m outMessage) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.WriteJSON(m)
}

// closeWith sends a close frame and closes the socket; the reader then
// ends the connection.
func (c *conn) closeWith(code int, reason string) {
	if c.sentCode.CompareAndSwap(0, int32(code)) {
		c.sentReason.Store(&reason)
	}
	c.writeMu.Lock()
	_ = c.ws.WriteClose(code, reason)
	c.writeMu.Unlock()
	_ = c.ws.Close()
}

// closeOpen is closeWith from outside the reader (timers, Closer,
// CloseAll): nothing is sent to a connection that has ended already, so
// the close code logged is the one the client got.
func (c *conn) closeOpen(code int, reason string) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.closeWith(code, reason)
	}
}

// shutdown runs once the reader has stopped: every operation ends, and
// CloseFunc is told.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.closed = true
	for _, t := range []*time.Timer{c.initTimer, c.kaTimer, c.expTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.initTimer, c.kaTimer, c.expTimer = nil, nil, nil
	ops := make([]*operation, 0, len(c.ops))
	for _, o := range c.ops {
		ops = append(ops, o)
	}
	c.mu.Unlock()
	c.cancel()
	for _, o := range ops {
		o.end()
	}
	_ = c.ws.Close()
	if c.acked.Load() && c.t.CloseFunc != nil {
		c.t.CloseFunc(c.ctx)
	}
	if l := c.t.Logger; l != nil {
		proto := TransportWS
		if c.legacy {
			proto = GraphQLWS
		}
		reason := ""
		if r := c.sentReason.Load(); r != nil {
			reason = *r
		}
		l.LogAttrs(c.ctx, slog.LevelInfo, "websocket closed",
			slog.String("subprotocol", proto),
			slog.Int64("duration_ms", time.Since(c.started).Milliseconds()),
			slog.Bool("acknowledged", c.acked.Load()),
			slog.Int("operations", c.opCount),
			slog.Int("server_close_code", int(c.sentCode.Load())), // 0: the client left, or the socket broke
			slog.String("server_close_reason", reason))
	}
}

func (c *conn) logPanic(v any) {
	if c.t.Logger != nil {
		c.t.Logger.Error("panic serving a websocket operation", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
}

func rawOrNil(p json.RawMessage) any {
	if len(p) == 0 || string(p) == "null" {
		return nil
	}
	return p
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// headerHas reports whether a comma-separated header has token (any case).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
