package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"

	"github.com/vidgate/vidgate/graph/model"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
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
func (r *Resolver) stream(ctx context.Context, channel string, initial func(context.Context) ([]*jobs.Job, error), keep func(jobs.LiveUpdate) bool, once bool) (<-chan *model.JobUpdate, error) {
	if r.Broker == nil {
		return nil, jobs.Errorf(jobs.CodeUnavailable, "live updates are not available on this server")
	}
	release, err := acquire(ctx)
	if err != nil {
		return nil, err
	}
	sub, err := r.Broker.Subscribe(ctx, channel)
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
	out := make(chan *model.JobUpdate, 1)
	go func() {
		defer close(out)
		defer release()
		defer sub.Close()
		sent := map[string]int64{}
		send := func(u jobs.LiveUpdate) bool {
			if u.Version <= sent[u.ID] {
				return true
			}
			sent[u.ID] = u.Version
			sub.Seen(u.ID, u.Version)
			select {
			case out <- toJobUpdate(u):
				return !(once && u.Status.Terminal())
			case <-ctx.Done():
				return false
			}
		}
		sendJobs := func(js []*jobs.Job) bool {
			for _, j := range js {
				if !send(jobs.NewLiveUpdate(j, nil)) {
					return false
				}
			}
			return true
		}
		if !sendJobs(first) {
			return
		}
		for {
			m, err := sub.Next(ctx)
			switch {
			case errors.Is(err, broker.ErrGap):
				js, err := initial(ctx)
				if err != nil || !sendJobs(js) {
					return
				}
				continue
			case err != nil:
				// Closed, too slow, or the client left: end the subscription;
				// a client that resubscribes gets the current state first.
				return
			}
			var u jobs.LiveUpdate
			if json.Unmarshal(m.Payload, &u) != nil || (keep != nil && !keep(u)) {
				continue
			}
			if !send(u) {
				return
			}
		}
	}()
	return out, nil
}

func toJobUpdate(u jobs.LiveUpdate) *model.JobUpdate {
	j := &jobs.Job{PublicID: u.ID, Status: u.Status, Version: u.Version, Progress: u.Progress, Attempt: u.Attempt,
		NextAttemptAt: u.NextAttemptAt, ErrorCode: u.ErrorCode, ErrorMessage: u.ErrorMessage, UpdatedAt: u.UpdatedAt}
	v := toVideoJob(j)
	out := &model.JobUpdate{
		ID: v.ID, Status: v.Status, StatusCopy: v.StatusCopy, NextStep: v.NextStep, Version: v.Version,
		Progress: v.Progress, Attempt: v.Attempt, NextAttemptAt: v.NextAttemptAt, Error: v.Error, UpdatedAt: v.UpdatedAt,
	}
	if u.PreviousStatus != nil {
		p := model.JobStatus(*u.PreviousStatus)
		out.PreviousStatus = &p
	}
	return out
}
