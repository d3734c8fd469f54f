package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// loadOptions shape a closed-loop phase.
type loadOptions struct {
	concurrency int
	// warmup runs before the measured window; its operations are not
	// counted.
	warmup   time.Duration
	duration time.Duration
	// maxOps, when positive, ends the phase once that many operations
	// (warmup included) have started, even before duration.
	maxOps int64
	// scope, when set, samples this process's CPU and memory over the
	// window and labels them so.
	scope string
}

// closedLoop runs op from o.concurrency goroutines, each calling it again
// as soon as the last call returned, and measures the operations that
// started and finished inside the window after the warmup. Every loop ends
// at the window's end, after maxOps operations, or when ctx ends.
func closedLoop(ctx context.Context, name string, o loadOptions, op func(ctx context.Context, worker int) error) *Phase {
	var (
		started  atomic.Int64
		stopping atomic.Bool
		t0       atomic.Int64 // unix nanos of the window's start; 0 while warming up
		errs     = newErrorLog()
		samples  = make([][]time.Duration, o.concurrency)
		errCount = make([]int64, o.concurrency)
		wg       sync.WaitGroup
	)
	if o.warmup <= 0 {
		t0.Store(time.Now().UnixNano())
	}
	var end atomic.Int64
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() && ctx.Err() == nil {
				if o.maxOps > 0 && started.Add(1) > o.maxOps {
					return
				}
				begin := time.Now()
				err := op(ctx, w)
				done := time.Now()
				from := t0.Load()
				if from == 0 || begin.UnixNano() < from || stopping.Load() {
					continue // warming up, or past the window
				}
				samples[w] = append(samples[w], done.Sub(begin))
				if err != nil {
					errCount[w]++
					errs.add(err)
				}
				for last := end.Load(); done.UnixNano() > last && !end.CompareAndSwap(last, done.UnixNano()); last = end.Load() {
				}
			}
		}()
	}
	var smp *sampler
	if o.warmup > 0 {
		if !sleepCtx(ctx, o.warmup) {
			stopping.Store(true)
		}
		t0.Store(time.Now().UnixNano())
	}
	if o.scope != "" {
		smp = startSampler(o.scope)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	timer := time.NewTimer(o.duration)
	select {
	case <-timer.C:
	case <-finished: // maxOps reached
	case <-ctx.Done():
	}
	timer.Stop()
	stopAt := time.Now()
	stopping.Store(true)
	<-finished

	p := &Phase{Name: name, FirstErrors: errs.list()}
	if smp != nil {
		p.Resources = smp.stop()
	}
	var all []time.Duration
	for w := range samples {
		all = append(all, samples[w]...)
		p.Errors += errCount[w]
	}
	windowEnd := stopAt
	if last := time.Unix(0, end.Load()); end.Load() != 0 && last.Before(stopAt) {
		windowEnd = last
	}
	p.Ops = int64(len(all))
	p.Seconds = windowEnd.Sub(time.Unix(0, t0.Load())).Seconds()
	if p.Seconds > 0 {
		p.PerSecond = float64(p.Ops) / p.Seconds
	}
	p.Latency = summarize(all)
	return p
}

// sleepCtx sleeps d, or less if ctx ends first (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errorLog keeps the first few distinct error messages.
type errorLog struct {
	mu   sync.Mutex
	seen map[string]bool
	msgs []string
}

func newErrorLog() *errorLog { return &errorLog{seen: map[string]bool{}} }

const maxErrorMessages = 5

func (l *errorLog) add(err error) {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) < maxErrorMessages && !l.seen[msg] {
		l.seen[msg] = true
		l.msgs = append(l.msgs, msg)
	}
}

func (l *errorLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}
