package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"

	"github.com/vidgate/vidgate/graph/model"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/server/gqlws"
)

// Subscriptions are fed by the broker, never by the database: a
// subscription reads the database once when it starts (the current state,
// sent first) and again only after the broker reports a gap (Redis
// reconnected, messages may be lost). Everything in between comes from the
// payload of each message.

type slotsKey struct{}

// WithSubscriptionLimit caps the subscriptions one WebSocket connection
// may hold at once; the transport puts it in the connection's context.
func WithSubscriptionLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, slotsKey{}, &slots{max: int32(n)})
}

type slots struct {
	max  int32
	used atomic.Int32
}

var active atomic.Int64

// ActiveSubscriptions is how many subscriptions this process is serving.
func ActiveSubscriptions() int64 { return active.Load() }

func acquire(ctx context.Context) (release func(), err error) {
	s, ok := ctx.Value(slotsKey{}).(*slots)
	if ok && s.used.Add(1) > s.max {
		s.used.Add(-1)
		return nil, jobs.Errorf(jobs.CodeRateLimited, "this connection already has %d subscriptions: close one, or open another connection", s.max)
	}
	active.Add(1)
	return func() {
		active.Add(-1)
		if ok {
			s.used.Add(-1)
		}
	}, nil
}

// stream runs one subscription on channel. initial reads the current state
// (sent first, and re-read after a gap); it runs after the broker
// subscription is confirmed, so no change falls between the two. keep, if
// set, filters updates. With once, the subscription ends after a terminal
// status (jobStatus).
//
// A subscription holds no goroutine of its own while nothing arrives: the
// broker notifies it, and a goroutine runs only while there is something
// to send (see liveStream.pump). Thousands of idle subscriptions cost their
// state, not thousands of goroutine stacks.
func (r *Resolver) stream(ctx context.Context, channel string, initial func(context.Context) ([]*jobs.Job, error), keep func(jobs.LiveUpdate) bool, once bool) (<-chan *model.JobUpdate, error) {
	if r.Broker == nil {
		return nil, jobs.Errorf(jobs.CodeUnavailable, "live updates are not available on this server")
	}
	release, err := acquire(ctx)
	if err != nil {
		return nil, err
	}
	ls := &liveStream{ctx: ctx, initial: initial, keep: keep, once: once, release: release,
		claims: r.visibleClaim, out: make(chan *model.JobUpdate, 1)}
	// Setting up counts as a running pump: notifications that arrive while
	// the state is read only count, and the pump started below acts on them.
	ls.kicks.Store(1)
	sub, err := r.Broker.SubscribeNotify(ctx, channel, ls.kick)
	if err != nil {
		release()
		return nil, err
	}
	first, err := initial(ctx)
	if err != nil {
		sub.Close()
		release()
		return nil, err
	}
	ls.sub, ls.backlog = sub, first
	ls.stopAfter = context.AfterFunc(ctx, sub.Close) // the client left: end, through the pump
	// Over gqlws, the transport takes each update when told to, so the
	// subscription holds no goroutine there either while it is idle.
	ls.delivered, _ = gqlws.Wake(ctx)
	go ls.pump()
	return ls.out, nil
}

// liveStream is one subscription between the broker and gqlgen, which
// receives from out (and ends the subscription when out is closed).
type liveStream struct {
	ctx       context.Context
	sub       *broker.Subscription
	initial   func(context.Context) ([]*jobs.Job, error)
	keep      func(jobs.LiveUpdate) bool
	once      bool
	release   func()
	claims    func(context.Context, model.JobStatus, *model.ReviewClaim) *model.ReviewClaim
	stopAfter func() bool
	out       chan *model.JobUpdate
	delivered func() // from gqlws.Wake: called after each send on out, and after closing it

	// kicks counts notifications not yet acted on; the kick that raises it
	// from 0 starts a pump, which runs until it has drained everything and
	// no kick came in meanwhile. So at most one pump runs at a time, and
	// one always runs after a notification.
	kicks atomic.Int64

	// Owned by the running pump:
	backlog []*jobs.Job // state read from the database, still to send
	done    bool        // out is closed
}

// kick is the broker's notification (it runs with the broker's locks
// held, so it only starts a goroutine).
func (s *liveStream) kick() {
	if s.kicks.Add(1) == 1 {
		go s.pump()
	}
}

func (s *liveStream) pump() {
	for {
		n := s.kicks.Load()
		s.drain()
		if s.kicks.CompareAndSwap(n, 0) {
			return
		}
	}
}

// drain sends everything there is to send, and ends the subscription when
// it is over: the broker closed or dropped it (too slow), the client left,
// the state could not be re-read after a gap, or a terminal status went
// out with once.
func (s *liveStream) drain() {
	if s.done {
		return
	}
	for {
		if len(s.backlog) > 0 {
			j := s.backlog[0]
			s.backlog[0] = nil
			s.backlog = s.backlog[1:]
			u := jobs.NewLiveUpdate(j, nil)
			// Sent only if newer than what the subscriber already has.
			if !s.sub.Seen(u.ID, u.Version) {
				continue
			}
			if !s.send(u) {
				s.finish()
				return
			}
			continue
		}
		s.backlog = nil
		m, ok, err := s.sub.TryNext()
		switch {
		case errors.Is(err, broker.ErrGap):
			js, err := s.initial(s.ctx)
			if err != nil {
				s.finish()
				return
			}
			s.backlog = js
			continue
		case err != nil:
			// Closed, too slow, or the client left: end the subscription;
			// a client that resubscribes gets the current state first.
			s.finish()
			return
		case !ok:
			return
		}
		// TryNext returns only versions newer than those sent (each sent
		// version was returned by it or claimed with Seen).
		var u jobs.LiveUpdate
		if json.Unmarshal(m.Payload, &u) != nil || (s.keep != nil && !s.keep(u)) {
			continue
		}
		if !s.send(u) {
			s.finish()
			return
		}
	}
}

// send hands u to gqlgen, waiting while it is busy; false means the
// subscription is over.
func (s *liveStream) send(u jobs.LiveUpdate) bool {
	ju := toJobUpdate(u)
	ju.ReviewClaim = s.claims(s.ctx, ju.Status, ju.ReviewClaim)
	select {
	case s.out <- ju:
		if s.delivered != nil {
			s.delivered()
		}
		return !(s.once && u.Status.Terminal())
	case <-s.ctx.Done():
		return false
	}
}

func (s *liveStream) finish() {
	s.done = true
	s.backlog = nil
	s.stopAfter()
	s.sub.Close()
	s.release()
	close(s.out)
	if s.delivered != nil {
		s.delivered()
	}
}

func toJobUpdate(u jobs.LiveUpdate) *model.JobUpdate {
	j := &jobs.Job{PublicID: u.ID, Status: u.Status, Version: u.Version, Progress: u.Progress, Attempt: u.Attempt,
		NextAttemptAt: u.NextAttemptAt, ErrorCode: u.ErrorCode, ErrorMessage: u.ErrorMessage, UpdatedAt: u.UpdatedAt,
		ClaimedBy: u.ClaimedBy, ClaimExpiresAt: u.ClaimExpiresAt}
	v := toVideoJob(j)
	out := &model.JobUpdate{
		ID: v.ID, Status: v.Status, StatusCopy: v.StatusCopy, NextStep: v.NextStep, Version: v.Version,
		Progress: v.Progress, Attempt: v.Attempt, NextAttemptAt: v.NextAttemptAt, Error: v.Error, UpdatedAt: v.UpdatedAt,
		ReviewClaim: v.StoredClaim,
	}
	if u.PreviousStatus != nil {
		p := model.JobStatus(*u.PreviousStatus)
		out.PreviousStatus = &p
	}
	return out
}
