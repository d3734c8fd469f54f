package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
)

// closeTooManyConnections closes a WebSocket whose identity already holds
// its share of connections (the graphql-ws convention for rate limits).
const closeTooManyConnections = 4429

// identitySlots caps the long-lived connections (WebSockets and SSE
// subscription streams) each identity holds open in this process. The cap
// is per process, not shared: behind a load balancer spreading N API
// processes, one identity can hold up to N times the cap. That bounds what
// one token can pin on one machine, which is what the cap is for.
type identitySlots struct {
	max  int // < 0: no cap
	mu   sync.Mutex
	open map[string]int // subject → open connections; no zero entries
}

func newIdentitySlots(max int) *identitySlots {
	return &identitySlots{max: max, open: map[string]int{}}
}

// acquire takes a slot for subject, or reports false when it holds max.
// release frees the slot; calling it more than once frees it once.
func (s *identitySlots) acquire(subject string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max >= 0 && s.open[subject] >= s.max {
		return nil, false
	}
	s.open[subject]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[subject]--; s.open[subject] <= 0 {
				delete(s.open, subject)
			}
		})
	}, true
}

// Open returns how many slots are held, in all and by subject.
func (s *identitySlots) Open() (total int, bySubject map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bySubject = make(map[string]int, len(s.open))
	for k, v := range s.open {
		total += v
		bySubject[k] = v
	}
	return total, bySubject
}

func (s *identitySlots) refusal() string {
	return "too many connections: this identity already holds " + strconv.Itoa(s.max) +
		" WebSockets or event streams on this server; close one before opening another"
}

type slotKey struct{}

// holdSlot ties a taken slot to a WebSocket connection's context: it is
// freed when the transport closes the connection (CloseFunc) or, failing
// that, when the connection's request context ends.
func holdSlot(ctx context.Context, release func()) context.Context {
	context.AfterFunc(ctx, release)
	return context.WithValue(ctx, slotKey{}, release)
}

func releaseSlot(ctx context.Context) {
	if release, ok := ctx.Value(slotKey{}).(func()); ok {
		release()
	}
}

// streamSet ends the open Server-Sent Events streams on shutdown
// (CloseConnections): they would otherwise hold http.Server.Shutdown for
// its whole grace, the broker that ends subscriptions being stopped only
// after the server.
type streamSet struct {
	mu     sync.Mutex
	open   map[*context.CancelFunc]struct{}
	closed bool
}

// add tracks a stream until the returned function is called; after
// closeAll the stream is ended at once.
func (s *streamSet) add(cancel context.CancelFunc) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		cancel()
		return func() {}
	}
	if s.open == nil {
		s.open = map[*context.CancelFunc]struct{}{}
	}
	h := &cancel
	s.open[h] = struct{}{}
	return func() {
		s.mu.Lock()
		delete(s.open, h)
		s.mu.Unlock()
	}
}

func (s *streamSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	open := s.open
	s.open = nil
	s.mu.Unlock()
	for h := range open {
		(*h)()
	}
}

// withStreamCap holds a slot for each Server-Sent Events subscription for
// as long as its stream is open; a stream over the cap is refused with 429
// RATE_LIMITED before it starts. It runs after authentication. Streams
// end on shutdown (streams.closeAll).
func withStreamCap(slots *identitySlots, streams *streamSet, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !prefersEventStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		release, ok := slots.acquire(auth.ActorFrom(r.Context()).Subject)
		if !ok {
			w.Header().Set("Retry-After", "30")
			writeError(w, http.StatusTooManyRequests, string(jobs.CodeRateLimited), slots.refusal())
			return
		}
		defer release()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer streams.add(cancel)()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
