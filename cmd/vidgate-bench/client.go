package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The subscribers scenario runs its WebSocket clients in a child process
// (this binary again, in the hidden "client" mode), so that the server's
// heap and stacks, measured in the parent, hold only the server's side of
// each connection. Parent and child talk in JSON lines: commands on the
// child's stdin, events on its stdout.

const (
	clientCommand = "client"
	// clientEnv names the child's configuration file. The parent sets it
	// as well as passing "client <file>", so a test binary (which cannot
	// take a subcommand) can be the child too: see TestMain.
	clientEnv = "VIDGATE_BENCH_CLIENT"
)

// clientConfig is what the child is to open.
type clientConfig struct {
	URL             string      `json:"url"` // ws://host:port/graphql
	Tokens          []string    `json:"tokens"`
	Field           string      `json:"field"` // myJobs or jobStatus
	Subs            []clientSub `json:"subs"`
	DialConcurrency int         `json:"dial_concurrency"`
}

// clientSub is one connection with one subscription.
type clientSub struct {
	Token int            `json:"token"` // index into Tokens
	Query string         `json:"query"`
	Vars  map[string]any `json:"vars,omitempty"`
	// Jobs are the public ids the subscription reports on.
	Jobs []string `json:"jobs"`
}

// clientCmd is a command from the parent.
type clientCmd struct {
	// Cmd is "measure" (count updates stamped at or after Since) or
	// "report" (answer with a clientReport, checking Final).
	Cmd   string `json:"cmd"`
	Since int64  `json:"since,omitempty"` // unix nanoseconds
	// Final holds the last version of each job the parent changed.
	Final map[string]int64 `json:"final,omitempty"`
}

// clientEvent is a line from the child.
type clientEvent struct {
	Type string `json:"type"` // "ready" or "report"
	// ready
	Subscribed int     `json:"subscribed"`
	Failed     int     `json:"failed"`
	Seconds    float64 `json:"seconds"`
	// Connect is the time from dialing to the subscription's first state.
	Connect Latency `json:"connect_ms"`
	// report
	Received    int64   `json:"received"`
	Latency     Latency `json:"latency_ms"`
	Disconnects int64   `json:"disconnects"`
	// Stale counts subscriptions that did not receive the final version of
	// one of their jobs.
	Stale int `json:"stale"`
	// Errors counts subscriptions that failed or ended.
	Errors      int64    `json:"errors"`
	FirstErrors []string `json:"first_errors,omitempty"`
}

// runClient is the child: it opens every subscription, says "ready", then
// follows the parent's commands until its stdin closes.
func runClient(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	path := os.Getenv(clientEnv)
	if len(args) > 0 {
		path = args[0]
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	var cfg clientConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &clients{cfg: cfg, errs: newErrorLog(), conns: make([]*wsConn, len(cfg.Subs))}
	out := json.NewEncoder(stdout)

	start := time.Now()
	failed, connect := c.openAll(ctx)
	if err := out.Encode(clientEvent{Type: "ready", Subscribed: len(cfg.Subs) - failed, Failed: failed,
		Seconds: time.Since(start).Seconds(), Connect: summarize(connect), FirstErrors: c.errs.list()}); err != nil {
		return err
	}

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var cmd clientCmd
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return fmt.Errorf("client: command: %w", err)
		}
		switch cmd.Cmd {
		case "measure":
			c.since.Store(cmd.Since)
		case "report":
			if err := out.Encode(c.report(cmd.Final)); err != nil {
				return err
			}
		}
	}
	cancel()
	c.closeAll()
	return sc.Err()
}

// clients are the child's connections.
type clients struct {
	cfg   clientConfig
	conns []*wsConn
	errs  *errorLog
	// since is when measuring starts (unix ns); 0 before.
	since       atomic.Int64
	disconnects atomic.Int64
	ended       atomic.Int64

	mu      sync.Mutex
	samples []time.Duration
}

// wsConn is one connection and its subscription's state.
type wsConn struct {
	conn *websocket.Conn
	// last is the highest version received per job id; received counts
	// measured updates. Both are written by the connection's reader only,
	// and read after the reader is done or for the report (under mu).
	mu       sync.Mutex
	last     map[string]int64
	received int64
	done     chan struct{}
}

// openAll opens every connection, at most DialConcurrency at once, and
// returns once each has its subscription's first state or failed. It
// returns how many failed, and how long each took.
func (c *clients) openAll(ctx context.Context) (int, []time.Duration) {
	var failed atomic.Int64
	took := make([]time.Duration, len(c.cfg.Subs))
	sem := make(chan struct{}, max(c.cfg.DialConcurrency, 1))
	var wg sync.WaitGroup
	for i, s := range c.cfg.Subs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			begin := time.Now()
			wc, err := c.open(ctx, s)
			took[i] = time.Since(begin)
			if err != nil {
				failed.Add(1)
				c.errs.add(fmt.Errorf("subscription %d: %w", i, err))
				return
			}
			c.conns[i] = wc
		}()
	}
	wg.Wait()
	return int(failed.Load()), took
}

var dialer = websocket.Dialer{
	Subprotocols:     []string{"graphql-transport-ws"},
	HandshakeTimeout: 30 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// open dials, authenticates, subscribes and waits for the subscription's
// first message (the current state, sent once the server's broker
// subscription is confirmed), then leaves a reader running.
func (c *clients) open(ctx context.Context, s clientSub) (*wsConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, _, err := dialer.DialContext(dctx, c.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	fail := func(err error) (*wsConn, error) {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + c.cfg.Tokens[s.Token]}}); err != nil {
		return fail(err)
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for acked := false; !acked; {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			return fail(fmt.Errorf("waiting for connection_ack: %w", err))
		}
		switch m.Type {
		case "connection_ack":
			acked = true
		case "ping":
			conn.WriteJSON(map[string]any{"type": "pong"})
		default:
			return fail(fmt.Errorf("got %s before connection_ack: %s", m.Type, m.Payload))
		}
	}
	if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": s.Query, "variables": s.Vars}}); err != nil {
		return fail(err)
	}
	wc := &wsConn{conn: conn, last: map[string]int64{}, done: make(chan struct{})}
	for {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			return fail(fmt.Errorf("waiting for the first state: %w", err))
		}
		if m.Type == "ping" {
			conn.WriteJSON(map[string]any{"type": "pong"})
			continue
		}
		if m.Type != "next" {
			return fail(fmt.Errorf("subscription: %s %s", m.Type, m.Payload))
		}
		if _, _, err := c.update(wc, m.Payload); err != nil {
			return fail(err)
		}
		break
	}
	conn.SetReadDeadline(time.Time{})
	conn.SetWriteDeadline(time.Time{})
	go c.read(wc)
	return wc, nil
}

// update records one "next" payload: its version per job, and, when it was
// stamped after measuring started, its delivery latency.
func (c *clients) update(wc *wsConn, payload json.RawMessage) (measured bool, lat time.Duration, err error) {
	var p struct {
		Data map[string]*struct {
			ID        string    `json:"id"`
			Version   int64     `json:"version"`
			UpdatedAt time.Time `json:"updatedAt"`
		} `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	now := time.Now()
	if err := json.Unmarshal(payload, &p); err != nil {
		return false, 0, err
	}
	u := p.Data[c.cfg.Field]
	if u == nil {
		return false, 0, fmt.Errorf("update without data: %s", payload)
	}
	wc.mu.Lock()
	if u.Version > wc.last[u.ID] {
		wc.last[u.ID] = u.Version
	}
	since := c.since.Load()
	if since != 0 && u.UpdatedAt.UnixNano() >= since {
		wc.received++
		measured, lat = true, now.Sub(u.UpdatedAt)
	}
	wc.mu.Unlock()
	return measured, lat, nil
}

// read follows a connection until it closes.
func (c *clients) read(wc *wsConn) {
	defer close(wc.done)
	for {
		var m wsMessage
		if err := wc.conn.ReadJSON(&m); err != nil {
			if !errors.Is(err, net.ErrClosed) && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				c.disconnects.Add(1)
				c.errs.add(fmt.Errorf("read: %w", err))
			}
			return
		}
		switch m.Type {
		case "next":
			measured, lat, err := c.update(wc, m.Payload)
			if err != nil {
				c.ended.Add(1)
				c.errs.add(err)
				continue
			}
			if measured {
				c.mu.Lock()
				c.samples = append(c.samples, lat)
				c.mu.Unlock()
			}
		case "ping":
			wc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			wc.conn.WriteJSON(map[string]any{"type": "pong"})
		case "error", "complete":
			c.ended.Add(1)
			c.errs.add(fmt.Errorf("subscription ended: %s %s", m.Type, m.Payload))
		}
	}
}

// report summarizes what was received and checks that every subscription
// holds the final version of each of its jobs.
func (c *clients) report(final map[string]int64) clientEvent {
	ev := clientEvent{Type: "report"}
	stale := 0
	for i, wc := range c.conns {
		if wc == nil {
			continue
		}
		wc.mu.Lock()
		ev.Received += wc.received
		for _, id := range c.cfg.Subs[i].Jobs {
			if v, ok := final[id]; ok && wc.last[id] < v {
				stale++
				break
			}
		}
		wc.mu.Unlock()
	}
	c.mu.Lock()
	ev.Latency = summarize(append([]time.Duration(nil), c.samples...))
	c.mu.Unlock()
	ev.Stale = stale
	ev.Disconnects = c.disconnects.Load()
	ev.Errors = c.ended.Load()
	ev.FirstErrors = c.errs.list()
	return ev
}

func (c *clients) closeAll() {
	for _, wc := range c.conns {
		if wc == nil {
			continue
		}
		wc.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		wc.conn.Close()
		<-wc.done
	}
}
