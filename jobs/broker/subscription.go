package broker

import (
	"context"
	"slices"
	"sync"
)

// Subscription receives the messages of one channel. Next is meant for one
// goroutine; Seen and Close may be called from any.
type Subscription struct {
	b *Broker

	// Guarded by Broker.mu:
	topic    *topic // nil once detached (closed, slow, or the Broker stopped)
	idx      int    // position in topic.subs
	gapArmed bool   // live when the connection was lost: ErrGap once resubscribed

	// wake holds one token when Next may have something to return; nil
	// for a subscription made by SubscribeNotify, which calls notify.
	wake   chan struct{}
	notify func()

	mu      sync.Mutex
	pending []Message // at most one per key, in the order keys arrived
	seen    versions  // highest version returned or Seen, per key
	gapped  bool      // Next returns ErrGap before anything else
	err     error     // terminal: ErrSlowConsumer, or ErrClosed when the Broker stopped
	closed  bool
}

// Next returns the next message: for each key, the newest version received
// and not returned yet, keys in the order they first arrived. It never
// returns a version at or below one already returned or Seen for its key.
//
// Next returns ErrGap once after the Broker lost and regained Redis, as
// soon as the channel is subscribed again; then it carries on (messages that
// arrived before the loss may follow: Seen with the version re-read drops
// the stale ones). It returns ErrSlowConsumer once the subscription fell
// behind by more than Config.Buffer keys (for good), and ErrClosed once it
// is closed or the Broker stopped. If ctx ends first it returns ctx.Err();
// the subscription stays usable.
//
// The versions remembered per key are what an idle subscription costs
// beyond its fixed size: a few dozen bytes per key it has returned.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	for {
		m, ok, err := s.TryNext()
		if ok || err != nil {
			return m, err
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// TryNext is Next without waiting: ok is false (and err nil) when there is
// nothing to return yet. It is what a reader notified by SubscribeNotify
// calls.
func (s *Subscription) TryNext() (m Message, ok bool, err error) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		s.wakeOthers()
		return Message{}, false, ErrClosed
	case s.err != nil:
		err := s.err
		s.mu.Unlock()
		s.wakeOthers()
		return Message{}, false, err
	case s.gapped:
		s.gapped = false
		s.mu.Unlock()
		return Message{}, false, ErrGap
	}
	for len(s.pending) > 0 {
		m := s.pending[0]
		n := copy(s.pending, s.pending[1:])
		s.pending[n] = Message{}
		s.pending = s.pending[:n]
		if n == 0 && cap(s.pending) > 4 {
			s.pending = nil // give back what a burst grew
		}
		if v, ok := s.seen.get(m.Key); ok && m.Version <= v {
			continue
		}
		s.seen.set(m.Key, m.Version)
		more := n > 0
		s.mu.Unlock()
		if more {
			s.wakeOthers()
		}
		return m, true, nil
	}
	s.mu.Unlock()
	return Message{}, false, nil
}

// Seen tells the subscription that its reader already has version of key
// (e.g. the current state, read from the database and sent first): Next
// drops every message for key at or below it.
//
// It reports whether version is newer than every version of key returned
// or Seen before (and the subscription has not ended): a reader that sends
// state from elsewhere (the database) sends it only then.
func (s *Subscription) Seen(key string, version int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil {
		return false
	}
	if v, ok := s.seen.get(key); ok && v >= version {
		return false
	}
	s.seen.set(key, version)
	for i, m := range s.pending {
		if m.Key == key {
			if m.Version <= version {
				s.pending = slices.Delete(s.pending, i, i+1)
			}
			break
		}
	}
	return true
}

// Close ends the subscription; its channel is unsubscribed from Redis if it
// was the process's last subscription to it. Next returns ErrClosed from
// then on. Close may be called more than once, and while Next runs.
func (s *Subscription) Close() {
	b := s.b
	b.mu.Lock()
	b.detach(s)
	b.mu.Unlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.pending, s.seen = nil, versions{}
	s.mu.Unlock()
	s.signal()
}

// offer queues m unless the subscription already has it or newer. It
// reports false if m would be one key too many: the subscription is then
// ended with ErrSlowConsumer, and the caller detaches it. Broker.mu is held.
func (s *Subscription) offer(m Message, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil {
		return true
	}
	if v, ok := s.seen.get(m.Key); ok && m.Version <= v {
		return true
	}
	for i := range s.pending {
		if s.pending[i].Key == m.Key {
			if m.Version > s.pending[i].Version {
				s.pending[i] = m // status is state: the newest supersedes
			}
			return true
		}
	}
	if len(s.pending) >= limit {
		s.err = ErrSlowConsumer
		s.pending, s.seen = nil, versions{}
		s.signal()
		return false
	}
	s.pending = append(s.pending, m)
	s.signal()
	return true
}

// gap makes Next return ErrGap next. Broker.mu is held.
func (s *Subscription) gap() {
	s.mu.Lock()
	if !s.closed && s.err == nil {
		s.gapped = true
	}
	s.mu.Unlock()
	s.signal()
}

// end ends the subscription with err, unless it has already ended.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		s.pending, s.seen = nil, versions{}
	}
	s.mu.Unlock()
	s.signal()
}

// wakeOthers passes the wake token on to another caller of Next (or to
// this one's next call). A SubscribeNotify reader calls TryNext until it
// reports nothing and needs no token.
func (s *Subscription) wakeOthers() {
	if s.wake != nil {
		s.signal()
	}
}

// signal wakes Next, or notifies a SubscribeNotify reader, without ever
// waiting.
func (s *Subscription) signal() {
	if s.notify != nil {
		s.notify()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// versions maps keys to the highest version returned. Most subscriptions
// follow one key (one job), so the first few live in a slice, which costs far
// less than a map; a subscription to many keys (an owner's jobs) moves to a
// map.
type versions struct {
	few  []keyVersion
	many map[string]int64
}

type keyVersion struct {
	key     string
	version int64
}

// fewMax is how many keys versions keeps in its slice.
const fewMax = 8

func (vs *versions) get(key string) (int64, bool) {
	if vs.many != nil {
		v, ok := vs.many[key]
		return v, ok
	}
	for _, kv := range vs.few {
		if kv.key == key {
			return kv.version, true
		}
	}
	return 0, false
}

func (vs *versions) set(key string, version int64) {
	if vs.many != nil {
		vs.many[key] = version
		return
	}
	for i := range vs.few {
		if vs.few[i].key == key {
			vs.few[i].version = version
			return
		}
	}
	if len(vs.few) < fewMax {
		vs.few = append(vs.few, keyVersion{key, version})
		return
	}
	vs.many = make(map[string]int64, 2*fewMax)
	for _, kv := range vs.few {
		vs.many[kv.key] = kv.version
	}
	vs.many[key] = version
	vs.few = nil
}
