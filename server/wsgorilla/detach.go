package wsgorilla

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/gorilla/websocket"
)

// handoffKey carries, in the request context of a detached upgrade, the
// function Accept calls once the connection is hijacked.
type handoffKey struct{}

// Detach serves WebSocket upgrade requests to next (gqlgen's handler, whose
// gqlws transport uses this Implementation) on a goroutine of their own,
// and returns from ServeHTTP as soon as Accept has taken the connection over.
// Other requests go to next as they are.
//
// gqlws serves a WebSocket inside ServeHTTP, for the connection's life.
// Without Detach, net/http's state for the hijacked connection stays
// reachable all that time: its 4 KiB read and 4 KiB write buffers, the
// request it parsed, and the deep stack of its serving goroutine (net/http,
// every middleware, gqlgen, gqlws). With Detach that goroutine returns and
// all of it is freed; the goroutine reading the WebSocket starts fresh.
//
// Middleware around Detach therefore sees an upgraded request end at the
// upgrade, not when the WebSocket closes. The request's context does not
// end when ServeHTTP returns: next gets a context without the request's
// cancellation (its values kept) that ends when next returns. A panic in
// next before the upgrade is re-raised on the request's goroutine, for the
// middleware that recovers it; after the upgrade, it is logged and the
// connection dropped.
func (i *Implementation) Detach(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		d := &detached{handoff: make(chan struct{}), w: &detachedWriter{w: w}}
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		ctx = context.WithValue(ctx, handoffKey{}, d)
		// The goroutine must not hold w: whatever does holds net/http's
		// connection state. It reaches w through d.w only; and the request
		// it gets has no body, as a handshake has none, because a body
		// wrapped by middleware (http.MaxBytesReader) holds w too.
		dr := r.WithContext(ctx)
		dr.Body, dr.GetBody = http.NoBody, nil
		i.serveDetached(d, next, dr, cancel)
		<-d.handoff
		if d.panicked != nil {
			panic(d.panicked)
		}
	})
}

func (i *Implementation) serveDetached(d *detached, next http.Handler, r *http.Request, cancel context.CancelFunc) {
	go func() {
		defer cancel()
		defer func() {
			v := recover()
			if v == nil {
				d.hand(nil)
				return
			}
			if d.hand(v) {
				return // re-raised by ServeHTTP
			}
			if v != http.ErrAbortHandler {
				i.log.Error("panic serving a websocket; dropping it", "panic", fmt.Sprint(v),
					"stack", string(debug.Stack()), "remote", r.RemoteAddr)
			}
			if d.conn != nil {
				d.conn.drop()
			}
		}()
		next.ServeHTTP(d.w, r)
	}()
}

// detached is the hand-off between Detach's ServeHTTP and the goroutine
// serving the WebSocket.
type detached struct {
	once     sync.Once
	handoff  chan struct{} // closed when ServeHTTP may return
	panicked any           // next panicked before the hand-off; set before handoff closes
	conn     *conn         // the accepted connection; set before handoff closes
	w        *detachedWriter
}

// detachedWriter is the ResponseWriter next gets from Detach. It lets go
// of the request's ResponseWriter at the hand-off: gqlgen keeps the writer
// it was given (in a deferred recover) for the WebSocket's life, and
// net/http's writer holds the connection's buffers. After the hand-off it
// writes nothing. Only the goroutine serving next uses it.
type detachedWriter struct {
	w http.ResponseWriter // nil after the hand-off
}

func (d *detachedWriter) Header() http.Header {
	if d.w == nil {
		return http.Header{}
	}
	return d.w.Header()
}

func (d *detachedWriter) Write(p []byte) (int, error) {
	if d.w == nil {
		return 0, http.ErrHijacked
	}
	return d.w.Write(p)
}

func (d *detachedWriter) WriteHeader(code int) {
	if d.w != nil {
		d.w.WriteHeader(code)
	}
}

// Hijack hijacks the request's connection through the ResponseWriter
// Detach got (or the writer it wraps, see hijackable).
func (d *detachedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if d.w == nil {
		return nil, nil, http.ErrHijacked
	}
	h, ok := hijackable(d.w).(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("wsgorilla: the ResponseWriter is not an http.Hijacker")
	}
	return h.Hijack()
}

func (d *detachedWriter) Unwrap() http.ResponseWriter { return d.w }

// hand closes handoff, with the panic value v if it is the first to; it
// reports whether it was.
func (d *detached) hand(v any) (first bool) {
	d.once.Do(func() {
		first = true
		d.panicked = v
		close(d.handoff)
	})
	return first
}

// handOff tells Detach, if the request came through it, that c is the
// hijacked connection and its ServeHTTP may return.
func handOff(r *http.Request, c *conn) {
	if d, ok := r.Context().Value(handoffKey{}).(*detached); ok {
		d.once.Do(func() {
			d.conn = c
			d.w.w = nil
			close(d.handoff)
		})
	}
}
