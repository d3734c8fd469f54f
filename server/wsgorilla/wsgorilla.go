// Package wsgorilla accepts WebSockets on github.com/gorilla/websocket for
// vidgate's GraphQL WebSocket transport, server/gqlws: an Implementation
// is gqlws.Transport's Upgrader (it implements gqlgen's
// transport.WebsocketImplementation, the interface gqlws accepts through).
//
// Wiring:
//
//	ws := wsgorilla.New(wsgorilla.Options{
//		AllowedOrigins: []string{"https://app.example.com"},
//		PingInterval:   wsgorilla.RecommendedPingInterval,
//	})
//	srv.AddTransport(&gqlws.Transport{Upgrader: ws, InitFunc: ...})
//	mux.Handle("/graphql", ws.Detach(srv)) // see Detach: frees net/http's per-connection state
//	...
//	ws.CloseAll(1001, "server shutting down; reconnect") // on shutdown
//
// gqlws reads with NextReader from one goroutine, writes with WriteJSON,
// closes with WriteClose and Close, and caps messages with SetReadLimit;
// OpenConnections counts what is open, for metrics.
//
// # Deadlines and liveness
//
// Writes: every data frame written by WriteJSON gets a write deadline of
// Options.WriteTimeout. A write that misses it (a client that stopped reading
// and whose socket buffers are full) closes the connection at once, so
// gqlws's reader returns and the connection ends, its operations with it.
// gorilla marks the connection broken after a failed write anyway; without
// the close, the reader would go on reading from a connection that can no
// longer be written to.
//
// Reads: Options.PingInterval sends WebSocket ping control frames and keeps
// a read deadline: 2×PingInterval after accept, extended to
// now+2×PingInterval on every pong control frame. A peer that misses it is
// dropped. WebSocket pings work for both of gqlws's subprotocols
// (graphql-ws has no ping of its own), are answered by every browser and
// by WebSocket client libraries without any application code, and keep
// proxies and load balancers from timing out idle connections. Pongs are
// only seen while gqlws reads, so 2×PingInterval must exceed the longest
// pause in reading, such as a slow InitFunc.
//
// # Closing
//
// WriteClose sends a close frame (code and reason, the reason cut to 123
// bytes on a UTF-8 boundary) with a short deadline. Close after a close frame
// was sent lingers: it keeps reading, discarding data, until the peer answers
// with its own close frame, closes the TCP connection, or a short grace
// period (at most one second) passes, and then closes the socket. Closing at
// once could reset the TCP connection while the peer still had data in
// flight (for example a message over the read limit), and a reset can
// discard the close frame, and so the close code, before the peer reads it.
// A peer that already missed a read deadline is not waited for. Close
// without a prior close frame closes the socket at once.
//
// # Refused upgrades
//
// A refused origin gets 403 and a request that is no valid WebSocket
// handshake 400 (405 for a method other than GET), written by Accept;
// gqlws then writes nothing more.
package wsgorilla

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// Defaults applied by New to zero (or negative) Options fields.
const (
	DefaultWriteTimeout     = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadBufferSize   = 1024
	DefaultWriteBufferSize  = 1024
)

// RecommendedPingInterval is the Options.PingInterval vidgate should run
// with: dead peers are dropped within 2×30s, and idle connections see
// traffic often enough for common proxy idle timeouts (60s and more).
const RecommendedPingInterval = 30 * time.Second

// maxCloseGrace bounds both the write of a close frame and how long Close
// waits for the peer's answer to it.
const maxCloseGrace = time.Second

// Options configures an Implementation. The zero value is usable.
type Options struct {
	// AllowedOrigins lists the origins browsers may open a connection from,
	// exactly as sent in the Origin header ("https://app.example.com",
	// compared case-insensitively), or "*" for any origin. Empty means same
	// origin only: the host in the Origin header must equal the request
	// Host. A request without an Origin header (not from a browser) is
	// always allowed. A refused origin gets HTTP 403 and no upgrade.
	AllowedOrigins []string

	// WriteTimeout is the deadline for every single write (default 10s). A
	// write that misses it closes the connection.
	WriteTimeout time.Duration

	// HandshakeTimeout bounds writing the upgrade response (default 10s).
	HandshakeTimeout time.Duration

	// ReadBufferSize and WriteBufferSize are the I/O buffer sizes (default
	// 1024 each); they do not limit message sizes. The read buffer is held
	// for the life of a connection. Write buffers come from a pool shared by
	// the connections of one Implementation and are held only while a message
	// is being written, so idle connections hold none.
	ReadBufferSize, WriteBufferSize int

	// EnableCompression negotiates permessage-deflate (default false).
	EnableCompression bool

	// PingInterval, when positive, sends a WebSocket ping control frame every
	// interval and drops a peer that has not answered with a pong for
	// 2×PingInterval. 0 turns it off.
	PingInterval time.Duration

	// Logger receives refused handshakes and dropped connections; nil
	// discards.
	Logger *slog.Logger
}

// Implementation is a transport.WebsocketImplementation on gorilla/websocket.
// It is safe for concurrent use; create it once with New.
type Implementation struct {
	upgrader     websocket.Upgrader
	writeTimeout time.Duration
	closeGrace   time.Duration
	pingInterval time.Duration
	log          *slog.Logger

	allowAll bool
	allowed  map[string]struct{} // lower-cased origins; nil means same origin

	open atomic.Int64

	connsMu sync.Mutex
	conns   map[*conn]struct{} // open connections, for CloseAll
	// onChange, set by tests only, is called with connsMu held when a
	// connection opens or closes.
	onChange func()
}

var _ transport.WebsocketImplementation = (*Implementation)(nil)

// New returns an Implementation configured by opts, with defaults for the
// zero fields.
func New(opts Options) *Implementation {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = DefaultReadBufferSize
	}
	if opts.WriteBufferSize <= 0 {
		opts.WriteBufferSize = DefaultWriteBufferSize
	}
	if opts.PingInterval < 0 {
		opts.PingInterval = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	impl := &Implementation{
		writeTimeout: opts.WriteTimeout,
		closeGrace:   min(opts.WriteTimeout, maxCloseGrace),
		pingInterval: opts.PingInterval,
		log:          opts.Logger,
	}
	for _, o := range opts.AllowedOrigins {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		if o == "*" {
			impl.allowAll = true
			continue
		}
		if o == "" {
			continue
		}
		if impl.allowed == nil {
			impl.allowed = make(map[string]struct{})
		}
		impl.allowed[o] = struct{}{}
	}

	impl.upgrader = websocket.Upgrader{
		HandshakeTimeout:  opts.HandshakeTimeout,
		ReadBufferSize:    opts.ReadBufferSize,
		WriteBufferSize:   opts.WriteBufferSize,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: opts.EnableCompression,
		CheckOrigin:       impl.originAllowed,
		Error:             impl.handshakeError,
	}
	return impl
}

// originAllowed reports whether r's Origin header passes
// Options.AllowedOrigins; Accept applies it.
func (i *Implementation) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || i.allowAll {
		return true
	}
	if i.allowed != nil {
		_, ok := i.allowed[strings.ToLower(origin)]
		return ok
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// CloseAll sends every open connection a close frame with code and reason
// and closes it: on shutdown, 1001 (going away) tells clients to reconnect,
// to another process.
func (i *Implementation) CloseAll(code int, reason string) {
	i.connsMu.Lock()
	conns := make([]*conn, 0, len(i.conns))
	for c := range i.conns {
		conns = append(conns, c)
	}
	i.connsMu.Unlock()
	for _, c := range conns {
		_ = c.WriteClose(code, reason)
		_ = c.Close()
	}
}

// OpenConnections returns how many accepted connections have not yet been
// closed, for metrics and leak checks.
func (i *Implementation) OpenConnections() int64 {
	return i.open.Load()
}

// handshakeError writes the HTTP error for a refused upgrade.
func (i *Implementation) handshakeError(w http.ResponseWriter, r *http.Request, status int, reason error) {
	level := slog.LevelDebug
	if status == http.StatusForbidden {
		level = slog.LevelInfo
	}
	i.log.Log(r.Context(), level, "websocket upgrade refused",
		"status", status, "reason", reason.Error(),
		"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	w.Header().Set("Sec-Websocket-Version", "13")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.Error(w, http.StatusText(status), status)
}

// handshakeHeaders are written by gorilla itself; copies from the response
// writer or from the caller's options would duplicate them or make gorilla
// refuse.
var handshakeHeaders = map[string]bool{
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Accept":     true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
	"Content-Length":           true,
	"Content-Type":             true,
	"Transfer-Encoding":        true,
}

// Accept upgrades the request, negotiating one of options.Subprotocols, and
// sends options.ResponseHeader (and headers already set on w by middleware)
// with the 101 response. On failure the HTTP error has been written.
func (i *Implementation) Accept(
	w http.ResponseWriter,
	r *http.Request,
	options transport.WebsocketAcceptOptions,
) (transport.WebsocketConn, error) {
	header := http.Header{}
	for _, src := range []http.Header{w.Header(), options.ResponseHeader} {
		for k, vs := range src {
			k = http.CanonicalHeaderKey(k)
			if handshakeHeaders[k] {
				continue
			}
			header[k] = append(header[k], vs...)
		}
	}

	up := i.upgrader // copy: Subprotocols is per call
	up.Subprotocols = options.Subprotocols

	ws, err := up.Upgrade(hijackable(w), r, header)
	if err != nil {
		return nil, err
	}
	c := i.newConn(ws)
	handOff(r, c) // w is no longer used: Detach's ServeHTTP may return
	return c, nil
}

// hijackable returns w if it is an http.Hijacker. Otherwise, for a wrapper
// from a middleware (a status recorder, say) with an Unwrap method, as
// http.ResponseController understands it, it returns w with a Hijack method
// that hijacks the innermost Hijacker; HTTP errors are still written through
// w, so the middleware sees them. gorilla itself only type-asserts.
func hijackable(w http.ResponseWriter) http.ResponseWriter {
	if _, ok := w.(http.Hijacker); ok {
		return w
	}
	for inner := w; ; {
		u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w // gorilla answers 500: not a Hijacker
		}
		inner = u.Unwrap()
		if h, ok := inner.(http.Hijacker); ok {
			return hijackWriter{ResponseWriter: w, hijacker: h}
		}
	}
}

type hijackWriter struct {
	http.ResponseWriter
	hijacker http.Hijacker
}

func (w hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.hijacker.Hijack()
}
