package wsgorilla

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// maxCloseReason is the longest close reason a close frame can carry: a
// control frame payload is at most 125 bytes, 2 of them the status code.
const maxCloseReason = 123

// errConnClosed is returned by reads and writes on a connection this side
// closed. It wraps net.ErrClosed.
var errConnClosed = fmt.Errorf("wsgorilla: connection closed: %w", net.ErrClosed)

// conn adapts a *websocket.Conn to transport.WebsocketConn.
//
// Concurrency: gorilla allows one reader and one writer at a time, plus
// WriteControl (close, ping, pong frames) concurrently with both. readMu
// serializes readers (gqlws's reader and the lingering close); writeMu
// serializes data writers.
type conn struct {
	impl *Implementation
	ws   *websocket.Conn

	readMu  sync.Mutex
	writeMu sync.Mutex

	readErr error // first read error; guarded by readMu

	closeSent atomic.Bool // a close frame went out
	closing   atomic.Bool // Close was called: reads drain, deadlines are ignored
	dropped   atomic.Bool // the socket is closed
	closeOnce sync.Once
	dropOnce  sync.Once

	dlMu sync.Mutex // serializes moving the read deadline with Close

	pingMu      sync.Mutex
	pingTimer   *time.Timer
	pingStopped bool
}

var (
	_ transport.WebsocketConn        = (*conn)(nil)
	_ transport.WebsocketReadLimiter = (*conn)(nil)
)

func (i *Implementation) newConn(ws *websocket.Conn) *conn {
	i.open.Add(1)
	c := &conn{impl: i, ws: ws}
	i.connsMu.Lock()
	if i.conns == nil {
		i.conns = map[*conn]struct{}{}
	}
	i.conns[c] = struct{}{}
	if i.onChange != nil {
		i.onChange()
	}
	i.connsMu.Unlock()
	if i.pingInterval > 0 {
		_ = ws.SetReadDeadline(time.Now().Add(2 * i.pingInterval))
		// Runs inside NextReader, on the reading goroutine.
		ws.SetPongHandler(func(string) error {
			c.dlMu.Lock()
			defer c.dlMu.Unlock()
			if c.closing.Load() {
				return nil // Close's deadline stands
			}
			return ws.SetReadDeadline(time.Now().Add(2 * i.pingInterval))
		})
		// A timer rather than a goroutine per connection: an idle connection
		// then holds no goroutine stack for its pings.
		c.pingMu.Lock()
		c.pingTimer = time.AfterFunc(i.pingInterval, c.ping)
		c.pingMu.Unlock()
	}
	return c
}

// NextReader returns the next data message, read in full so that errors
// (read limit, deadline, close) surface here rather than half-way through
// the caller's JSON decoding. A close by the peer with 1000 (normal), 1001
// (going away) or no status returns transport.ErrWebsocketClosed; after
// Close, any end of the connection does, or an error wrapping net.ErrClosed.
// Other errors pass through. An error is final: later calls return it again.
func (c *conn) NextReader() (int, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	mt, data, err := c.nextMessageLocked()
	if err != nil {
		return mt, nil, c.readError(err)
	}
	return mt, bytes.NewReader(data), nil
}

// nextMessageLocked reads the next data message; after Close it discards
// messages until the connection ends. c.readMu must be held.
func (c *conn) nextMessageLocked() (int, []byte, error) {
	for {
		if c.readErr != nil {
			return 0, nil, c.readErr
		}
		if c.dropped.Load() {
			return 0, nil, errConnClosed
		}
		mt, r, err := c.ws.NextReader()
		var data []byte
		if err == nil {
			data, err = io.ReadAll(r)
		}
		if err != nil {
			// gorilla's errors are sticky too, but it panics after 1000
			// repeated reads on a failed connection; never ask it again.
			c.readErr = err
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has sent the peer a close frame (1009): Close
				// lingers, so that the peer reads it rather than a reset.
				c.closeSent.Store(true)
			}
			return mt, nil, err
		}
		if c.closing.Load() {
			continue // draining after our close frame: nobody wants data now
		}
		return mt, data, nil
	}
}

func (c *conn) readError(err error) error {
	var ce *websocket.CloseError
	isClose := errors.As(err, &ce)
	if c.closing.Load() {
		if isClose {
			return transport.ErrWebsocketClosed
		}
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		return fmt.Errorf("%w (%w)", errConnClosed, err)
	}
	if isClose {
		switch ce.Code {
		case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived:
			return transport.ErrWebsocketClosed
		}
	}
	return err
}

// WriteJSON writes v as one text message, with a deadline of
// Options.WriteTimeout. A write that fails on the socket closes the
// connection.
func (c *conn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.dropped.Load() {
		return errConnClosed
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.impl.writeTimeout))
	err = c.ws.WriteMessage(websocket.TextMessage, data)
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		c.logDrop("websocket write failed; dropping connection", err)
		c.drop()
	}
	return err
}

// WriteClose sends a close frame with closeCode and message, the message cut
// to 123 bytes. A code that may not be sent on the wire (such as 1005 or 1006)
// sends a close frame without status. The write goes through gorilla's
// WriteControl, which is serialized with every other write by gorilla's
// internal write lock and waits at most the close grace period (the shorter
// of WriteTimeout and 1s) for that lock and the socket.
func (c *conn) WriteClose(closeCode int, message string) error {
	if c.closing.Load() {
		return nil
	}
	err := c.ws.WriteControl(websocket.CloseMessage, closePayload(closeCode, message),
		time.Now().Add(c.impl.closeGrace))
	switch {
	case err == nil:
		c.closeSent.Store(true)
	case errors.Is(err, websocket.ErrCloseSent):
		// Already sent: by gorilla answering the peer's close frame, or
		// failing a read (1009 for a message over the read limit, 1002 for
		// a protocol error).
		c.closeSent.Store(true)
		err = nil
	}
	return err
}

// closePayload formats a close frame body, never longer than a control frame
// allows and always valid UTF-8 (peers fail the connection otherwise).
func closePayload(code int, reason string) []byte {
	if !validWireCloseCode(code) {
		return nil
	}
	reason = truncateUTF8(reason, maxCloseReason)
	return websocket.FormatCloseMessage(code, reason)
}

// validWireCloseCode reports whether RFC 6455 (section 7.4) allows code in a
// close frame.
func validWireCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Close closes the connection; it is idempotent and always returns nil. When
// a close frame was sent, the socket is closed in the background once the
// peer answers, hangs up, or the close grace period (at most 1s) passes;
// reads until then discard data and end with transport.ErrWebsocketClosed or
// an error wrapping net.ErrClosed. Otherwise the socket is closed at once.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.dlMu.Lock()
		c.closing.Store(true)
		c.dlMu.Unlock()
		c.stopPing()
		if !c.closeSent.Load() {
			c.drop()
			return
		}
		// Lingering close. The deadline bounds a reader that is blocked now
		// as well as the drain below.
		_ = c.ws.SetReadDeadline(time.Now().Add(c.impl.closeGrace))
		go c.linger()
	})
	return nil
}

// linger waits for the peer to end the connection after our close frame,
// discarding what it still sends, then closes the socket.
func (c *conn) linger() {
	defer c.drop()
	c.readMu.Lock() // waits for an active reader; the deadline bounds it
	defer c.readMu.Unlock()
	_, _, err := c.nextMessageLocked()
	var ce *websocket.CloseError
	var ne net.Error
	if errors.As(err, &ce) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		// The peer answered the close frame or hung up; or it is silent (a
		// missed read deadline) and waiting is pointless.
		return
	}
	// gorilla stopped reading mid-stream (a message over the read limit, a
	// protocol error): discard raw bytes until the peer hangs up or the
	// deadline passes, so that the close does not reset the connection
	// under a close frame the peer has not read yet. No gorilla reader is
	// active: its error is final and c.readMu is held.
	_, _ = io.Copy(io.Discard, c.ws.NetConn())
}

func (c *conn) logDrop(msg string, err error) {
	if !c.dropped.Load() {
		c.impl.log.Info(msg, "err", err, "remote", c.ws.RemoteAddr().String())
	}
}

// drop closes the socket at once.
func (c *conn) drop() {
	c.dropOnce.Do(func() {
		c.closing.Store(true)
		c.dropped.Store(true)
		c.stopPing()
		_ = c.ws.Close()
		c.impl.open.Add(-1)
		c.impl.connsMu.Lock()
		delete(c.impl.conns, c)
		if c.impl.onChange != nil {
			c.impl.onChange()
		}
		c.impl.connsMu.Unlock()
	})
}

func (c *conn) Subprotocol() string {
	return c.ws.Subprotocol()
}

// SetReadLimit sets the maximum message size. A larger message fails the
// read, and the peer gets a close frame with 1009 (message too big).
func (c *conn) SetReadLimit(limit int64) {
	c.ws.SetReadLimit(limit)
}

// ping runs on the ping timer: it sends a ping frame and re-arms the timer.
// A ping that cannot be written in time drops the connection.
func (c *conn) ping() {
	if c.closing.Load() {
		return
	}
	err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.impl.writeTimeout))
	if err != nil {
		if c.closing.Load() || errors.Is(err, websocket.ErrCloseSent) {
			return
		}
		c.logDrop("websocket ping failed; dropping connection", err)
		c.drop()
		return
	}
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if !c.pingStopped {
		c.pingTimer.Reset(c.impl.pingInterval)
	}
}

func (c *conn) stopPing() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pingStopped = true
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
}
