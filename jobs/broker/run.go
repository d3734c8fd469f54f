package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run owns the Broker's Redis pub/sub connection until ctx is done: it
// connects, writes the SUBSCRIBE and UNSUBSCRIBE commands that local
// subscriptions call for, and reads and fans out what Redis sends, in a
// goroutine of its own.
//
// Losing the connection does not stop Run: it logs, waits (from 100ms,
// doubling up to 5s, jittered), connects again, subscribes again to every
// channel that has local subscribers, and makes their subscriptions return
// ErrGap once that is confirmed.
//
// When ctx is done Run closes the connection, ends every subscription (Next
// returns ErrClosed) and returns nil once its goroutines have ended. The
// Broker is then stopped for good: a second Run returns ErrClosed, a
// concurrent one ErrRunning.
func (b *Broker) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer b.running.Store(false)
	b.mu.Lock()
	stopped := b.stopped
	b.mu.Unlock()
	if stopped {
		return ErrClosed
	}
	defer b.stop()

	wait, failures := b.backoffMin, 0
	for {
		heard, err := b.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if heard {
			wait, failures = b.backoffMin, 0
		}
		failures++
		// Equal jitter: half the delay, plus up to as much again at random,
		// so that processes that lost Redis together do not return together.
		d := wait/2 + rand.N(wait/2+1)
		b.log.Warn("redis pub/sub connection lost; reconnecting", "err", err, "failures", failures, "retry_in", d)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		wait = min(2*wait, b.backoffMax)
	}
}

// session runs one pub/sub connection until it fails or ctx is done, and
// reports whether Redis ever answered on it. Its reader goroutine has ended
// when it returns.
func (b *Broker) session(ctx context.Context) (heard bool, err error) {
	// A new PubSub for each connection: go-redis would reconnect a PubSub by
	// itself, silently; here every loss ends the session, so that none goes
	// unnoticed (and without ErrGap).
	ps := b.rdb.Subscribe(ctx)
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()

	type result struct {
		heard bool
		err   error
	}
	read := make(chan result, 1)
	go func() {
		heard, err := b.read(ctx, ps, conn)
		read <- result{heard, err}
	}()

	ping := time.NewTicker(b.pingEvery)
	defer ping.Stop()
	// The first PING connects, and its PONG tells that Redis answers even if
	// there is nothing to subscribe to.
	if err = ps.Ping(ctx); err != nil {
		err = fmt.Errorf("ping: %w", err)
	} else {
		err = b.flush(ctx, ps, conn)
	}
	for err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case r := <-read:
			heard, err, read = r.heard, r.err, nil
		case <-b.wake:
			err = b.flush(ctx, ps, conn)
		case <-ping.C:
			if err = ps.Ping(ctx); err != nil {
				err = fmt.Errorf("ping: %w", err)
			}
		}
	}

	b.lost()
	ps.Close() // the reader's Receive fails
	if read != nil {
		r := <-read
		heard = r.heard
	}
	return heard, err
}

// read reads the connection numbered conn until it fails, and reports
// whether anything was read.
func (b *Broker) read(ctx context.Context, ps *redis.PubSub, conn uint64) (heard bool, err error) {
	for {
		// Run pings every pingEvery, so silence for two of them means the
		// connection is dead.
		msg, err := ps.ReceiveTimeout(ctx, 2*b.pingEvery)
		if err != nil {
			return heard, fmt.Errorf("receive: %w", err)
		}
		heard = true
		switch msg := msg.(type) {
		case *redis.Subscription:
			b.confirm(conn, msg)
		case *redis.Message:
			b.fanOut(conn, msg)
		}
	}
}

// flush writes the commands that the dirty topics call for on the
// connection numbered conn: SUBSCRIBE for a topic that has subscribers and
// is not subscribed, UNSUBSCRIBE for one that has none and is.
func (b *Broker) flush(ctx context.Context, ps *redis.PubSub, conn uint64) error {
	var sub, unsub []string
	b.mu.Lock()
	if b.conn != conn {
		b.mu.Unlock()
		return errors.New("connection lost")
	}
	for _, t := range b.dirty {
		t.dirty = false
		if b.topics[t.name] != t {
			continue // dropped while waiting here
		}
		if want := len(t.subs) > 0; want != t.sent {
			t.sent = want
			t.inflight++
			if want {
				sub = append(sub, t.name)
			} else {
				t.confirmed = false
				unsub = append(unsub, t.name)
			}
		}
		b.drop(t)
	}
	clear(b.dirty)
	b.dirty = b.dirty[:0]
	b.mu.Unlock()

	for len(unsub) > 0 {
		n := min(len(unsub), batch)
		if err := ps.Unsubscribe(ctx, unsub[:n]...); err != nil {
			return fmt.Errorf("unsubscribe: %w", err)
		}
		unsub = unsub[n:]
	}
	for len(sub) > 0 {
		n := min(len(sub), batch)
		if err := ps.Subscribe(ctx, sub[:n]...); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		sub = sub[n:]
	}
	return nil
}

// confirm applies Redis's reply to a SUBSCRIBE or UNSUBSCRIBE read on the
// connection numbered conn. Replies come in the order the commands were
// written, so the last one outstanding tells the topic's state.
func (b *Broker) confirm(conn uint64, m *redis.Subscription) {
	if m.Kind != "subscribe" && m.Kind != "unsubscribe" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[m.Channel]
	if b.conn != conn || t == nil || t.inflight == 0 {
		return
	}
	t.inflight--
	if t.inflight > 0 {
		return
	}
	if !t.sent {
		b.drop(t)
		return
	}
	t.confirmed = true
	if t.ready != nil {
		close(t.ready)
		t.ready = nil
	}
	for _, s := range t.subs {
		if s.gapArmed {
			s.gapArmed = false
			s.gap()
		}
	}
}

// fanOut hands a message read on the connection numbered conn to every
// local subscription of its channel. It never waits on a subscriber.
func (b *Broker) fanOut(conn uint64, rm *redis.Message) {
	var env envelope
	if err := json.Unmarshal([]byte(rm.Payload), &env); err != nil || env.Key == "" {
		b.log.Warn("dropping an unreadable pub/sub message", "channel", rm.Channel, "err", err, "size", len(rm.Payload))
		return
	}
	m := Message(env)

	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[rm.Channel]
	if b.conn != conn || t == nil {
		return
	}
	var slow []*Subscription
	for _, s := range t.subs {
		if !s.offer(m, b.buffer) {
			slow = append(slow, s)
		}
	}
	for _, s := range slow {
		b.detach(s)
	}
}

// lost records that the current connection is gone: nothing read from it
// applies any more, every topic with subscribers is to be subscribed again,
// and the subscriptions that were live are to get ErrGap once it is.
func (b *Broker) lost() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conn++
	clear(b.dirty)
	b.dirty = b.dirty[:0]
	for _, t := range b.topics {
		t.sent, t.inflight, t.dirty = false, 0, false
		if t.confirmed {
			// Every subscription of a confirmed topic has been (or is being)
			// returned by Subscribe: it may have missed messages. Those that
			// Subscribe returns later will not have.
			t.confirmed = false
			for _, s := range t.subs {
				s.gapArmed = true
			}
		}
		if len(t.subs) == 0 {
			b.drop(t)
		} else {
			b.markDirty(t)
		}
	}
}

// stop ends every subscription and makes the Broker refuse new ones.
func (b *Broker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	for _, t := range b.topics {
		for _, s := range t.subs {
			s.topic = nil
			s.end(ErrClosed)
		}
	}
	clear(b.topics)
	clear(b.dirty)
	b.dirty = nil
	close(b.done)
}
