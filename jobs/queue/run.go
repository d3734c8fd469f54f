package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Handler processes a delivered task. Returning nil acknowledges it (XACK),
// so a handler must return nil only once the database reflects the outcome.
// Returning an error (or panicking) leaves the entry pending: it is delivered
// again after Config.VisibilityTimeout, to this consumer or another, until
// it has been delivered Config.MaxDeliveries times; then it is dead-lettered.
// A handler that wants a retry later than that returns nil after Schedule.
//
// ctx is canceled when Run's grace runs out; the handler should then return
// soon, with an error unless its work is recorded.
type Handler func(ctx context.Context, t Task) error

// DeadLetterFunc is called for an entry delivered more than
// Config.MaxDeliveries times, before it leaves the live stream for the
// dead-letter stream, so the caller can fail the job with a clear code. If it
// returns an error the entry stays pending, and it is called again after the
// visibility timeout.
type DeadLetterFunc func(ctx context.Context, t Task) error

// Run consumes every kind whose Config.Concurrency is positive, with that
// many handlers at once, until ctx is done. Alongside it moves due retries to
// their streams, takes over entries idle longer than the visibility timeout
// (dead-lettering those delivered too often; dead may be nil), and keeps the
// entries of running handlers from going idle.
//
// Redis errors do not stop Run: it logs them, waits (up to 5s, growing) and
// tries again, and when Redis has lost the streams or the group it makes
// them again.
//
// Once ctx is done Run stops reading (within Config.Block), waits up to
// grace for running handlers, then cancels their context and waits for them
// to return. Entries whose handlers did not return nil stay pending, so
// another consumer takes them over. Run returns nil after a shutdown like
// this; it returns an error only if it cannot start. Every goroutine Run
// starts has ended when it returns. A Queue runs one Run at a time.
func (q *Queue) Run(ctx context.Context, grace time.Duration, h Handler, dead DeadLetterFunc) error {
	if h == nil {
		return errors.New("run queue: nil handler")
	}
	if !q.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer q.running.Store(false)

	// Redis work for running handlers (heartbeats, acks, dead letters) goes
	// on after ctx is done, through the grace period: it uses bg.
	bg := context.WithoutCancel(ctx)
	hctx, cancelHandlers := context.WithCancel(bg)
	defer cancelHandlers()
	r := &runner{q: q, h: h, dead: dead, bg: bg, hctx: hctx, inflight: newInflight()}

	var loops sync.WaitGroup // stop when ctx is done
	for _, k := range Kinds {
		if n := q.cfg.Concurrency[k]; n > 0 {
			c := &consumer{r: r, kind: k, stream: q.keys.Stream(string(k)), slots: make(chan struct{}, n), cursor: "0-0"}
			loops.Go(func() { c.run(ctx) })
		}
	}
	loops.Go(func() { r.schedule(ctx) })
	stopHeartbeat := make(chan struct{})
	var heartbeat sync.WaitGroup // stops once no handler runs
	heartbeat.Go(func() { r.heartbeat(stopHeartbeat) })

	<-ctx.Done()
	graceOver := time.NewTimer(max(grace, 0))
	defer graceOver.Stop()
	loops.Wait() // no handler starts after this
	idle := make(chan struct{})
	go func() { r.work.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-graceOver.C:
		if n := r.inflight.len(); n > 0 {
			q.log.Warn("grace is over; canceling running handlers", "running", n)
		}
		cancelHandlers()
		<-idle
	}
	close(stopHeartbeat)
	heartbeat.Wait()
	return nil
}

// runner is the state of one Run.
type runner struct {
	q    *Queue
	h    Handler
	dead DeadLetterFunc
	// bg is for Redis work on behalf of handlers; it outlives Run's ctx.
	bg context.Context
	// hctx is the handlers' context, canceled when grace is over.
	hctx     context.Context
	work     sync.WaitGroup // running handlers
	inflight *inflight
}

// handle runs one delivered task and settles its entry: acknowledged when
// the handler returns nil, dead-lettered when delivered too often or
// unreadable, left pending otherwise.
func (r *runner) handle(kind Kind, t Task, raw map[string]any, malformed error) {
	q := r.q
	log := q.log.With("kind", kind, "id", t.ID, "job", t.JobID, "attempt", t.Attempt, "deliveries", t.Deliveries)
	r.inflight.add(kind, t.ID)
	switch {
	case malformed != nil:
		// No handler can make sense of it, and a DeadLetterFunc cannot fail
		// a job it cannot name: keep it for an operator to look at.
		log.Error("dead-lettering an unreadable entry", "err", malformed)
		r.inflight.remove(kind, t.ID)
		r.deadLetter(log, kind, t, raw, malformed.Error())
	case t.Deliveries > q.cfg.MaxDeliveries:
		reason := fmt.Sprintf("delivered %d times, more than the %d allowed", t.Deliveries, q.cfg.MaxDeliveries)
		if r.dead != nil {
			if err := r.call(log, r.dead, t); err != nil {
				log.Error("dead-letter callback failed; the entry stays pending and is tried again", "err", err)
				r.inflight.remove(kind, t.ID)
				return
			}
		}
		r.inflight.remove(kind, t.ID)
		r.deadLetter(log, kind, t, raw, reason)
	default:
		err := r.call(log, r.h, t)
		r.inflight.remove(kind, t.ID)
		if err != nil {
			log.Warn("handler failed; the entry stays pending and will be delivered again", "err", err)
			return
		}
		r.settle(log, "acknowledge", func() error {
			n, err := ackScript.Run(r.bg, q.rdb, []string{q.keys.Stream(string(kind))}, q.cfg.Group, t.ID).Int()
			if err == nil && n == 0 {
				log.Info("acknowledged an entry that was no longer pending (taken over, or lost with Redis's data)")
			}
			return err
		})
	}
}

// call runs fn, turning a panic into an error.
func (r *runner) call(log logger, fn func(context.Context, Task) error, t Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(r.hctx, t)
}

// deadLetter moves an entry to its kind's dead-letter stream.
func (r *runner) deadLetter(log logger, kind Kind, t Task, raw map[string]any, reason string) {
	q := r.q
	names := make([]string, 0, len(raw))
	for name := range raw {
		if !strings.HasPrefix(name, deadFieldPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	args := []any{q.cfg.Group, t.ID, q.cfg.MaxLen}
	for _, name := range names {
		args = append(args, name, fmt.Sprint(raw[name]))
	}
	args = append(args,
		fieldDeadReason, reason,
		fieldDeadID, t.ID,
		fieldDeadCount, t.Deliveries,
		fieldDeadAt, q.cfg.Now().UnixMilli(),
	)
	r.settle(log, "dead-letter", func() error {
		return deadLetterScript.Run(r.bg, q.rdb, q.keys.DeadLetterKeys(string(kind)), args...).Err()
	})
}

// settle runs op (an ack or a dead letter) a few times before giving up: a
// failed ack costs a redelivery after the visibility timeout.
func (r *runner) settle(log logger, what string, op func() error) {
	var err error
	for i := range 3 {
		if err = op(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond << i)
	}
	log.Error("could not "+what+" the entry; it will be delivered again", "err", err)
}

type logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// failures paces retries after Redis errors: 10ms, doubling up to 5s.
type failures struct{ n int }

func (f *failures) reset() { f.n = 0 }

// wait sleeps before the next try; it returns false if ctx is done first.
func (f *failures) wait(ctx context.Context) bool {
	d := min(10*time.Millisecond<<min(f.n, 10), 5*time.Second)
	f.n++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backOff handles a Redis error of a background loop: it recreates the
// stream and group if Redis lost them, logs, and waits before the next try.
// It returns false if ctx is done.
func (r *runner) backOff(ctx context.Context, f *failures, kind Kind, op string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if isNoGroup(err) && kind != "" {
		r.q.log.Warn("consumer group missing (Redis lost its data?); recreating it", "kind", kind, "op", op)
		if err := r.q.ensureGroup(ctx, kind); err != nil {
			r.q.log.Error("recreate consumer group", "kind", kind, "err", err)
		}
	} else {
		r.q.log.Error("redis error; retrying", "kind", kind, "op", op, "err", err, "failures", f.n+1)
	}
	return f.wait(ctx)
}

// isNoGroup reports whether err says the stream or its group is gone. Redis
// 7 also unblocks a reader with UNBLOCKED when the stream is deleted.
func isNoGroup(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "NOGROUP") || strings.Contains(s, "UNBLOCKED")
}
