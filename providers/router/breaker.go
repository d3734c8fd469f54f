package router

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// BreakerState is the state of a provider's circuit breaker.
type BreakerState string

const (
	// StateClosed: the provider takes new jobs. Consecutive CodeUnavailable
	// outcomes open it.
	StateClosed BreakerState = "closed"
	// StateOpen: new jobs go to a fallback. The router moves it to
	// StateHalfOpen once BreakerConfig.Cooldown has passed.
	StateOpen BreakerState = "open"
	// StateHalfOpen: the provider gets one trial job; the next outcome
	// observed closes or reopens it.
	StateHalfOpen BreakerState = "half-open"
)

// Breaker defaults.
const (
	DefaultFailures = 5
	DefaultWindow   = time.Minute
	DefaultCooldown = 30 * time.Second
)

// BreakerConfig configures every provider's circuit breaker.
type BreakerConfig struct {
	// Failures is how many consecutive CodeUnavailable outcomes, all within
	// Window, open a circuit; 0 means DefaultFailures.
	Failures int
	// Window bounds how far apart those failures may be; 0 means
	// DefaultWindow. Failures spread wider than that are a flaky provider,
	// which the worker's retries handle, not an outage.
	Window time.Duration
	// Cooldown is how long a circuit stays open before a trial job is sent
	// (and how long a trial may go without an outcome before another job
	// becomes the trial); 0 means DefaultCooldown.
	Cooldown time.Duration
}

func (c BreakerConfig) withDefaults() (BreakerConfig, error) {
	if c.Failures < 0 || c.Window < 0 || c.Cooldown < 0 {
		return c, errors.New("router: negative breaker setting")
	}
	if c.Failures == 0 {
		c.Failures = DefaultFailures
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Cooldown == 0 {
		c.Cooldown = DefaultCooldown
	}
	return c, nil
}

// breaker is one provider's circuit breaker. Time is passed in, so the
// breaker itself has no clock.
type breaker struct {
	cfg BreakerConfig

	mu    sync.Mutex
	state BreakerState
	// failures are the times of the current run of consecutive failures
	// that fall within cfg.Window of the latest, oldest first (closed only).
	failures []time.Time
	// openedAt is when the circuit last opened (open and half-open).
	openedAt time.Time
	// trialAt is when Choose last sent a trial job (half-open only); zero
	// if none is pending.
	trialAt time.Time
}

func newBreaker(cfg BreakerConfig) *breaker {
	return &breaker{cfg: cfg, state: StateClosed}
}

// advance moves an open circuit whose cooldown has passed to half-open.
// b.mu is held.
func (b *breaker) advance(now time.Time) {
	if b.state == StateOpen && !now.Before(b.openedAt.Add(b.cfg.Cooldown)) {
		b.state, b.trialAt = StateHalfOpen, time.Time{}
	}
}

// observe records the outcome of a call that started at started and ended
// at now.
func (b *breaker) observe(now, started time.Time, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	switch b.state {
	case StateClosed:
		if !failed {
			b.failures = b.failures[:0]
			return
		}
		cut := 0
		for cut < len(b.failures) && now.Sub(b.failures[cut]) > b.cfg.Window {
			cut++
		}
		b.failures = append(b.failures[cut:], now)
		if len(b.failures) >= b.cfg.Failures {
			b.open(now)
		}
	case StateOpen:
		// Calls that were in flight when it opened, and polls of jobs already
		// there: the cooldown runs regardless.
	case StateHalfOpen:
		if started.Before(b.openedAt) {
			return // stale: began before the outage was noticed
		}
		if failed {
			b.open(now)
			return
		}
		b.state, b.failures, b.trialAt = StateClosed, b.failures[:0], time.Time{}
	}
}

func (b *breaker) open(now time.Time) {
	b.state, b.openedAt, b.trialAt, b.failures = StateOpen, now, time.Time{}, b.failures[:0]
}

// admit reports whether a new job may go to the provider: always when
// closed; when half-open, if no trial is pending (or the pending one is
// older than the cooldown), in which case this job becomes the trial:
// trial is true, and openedAt is when the circuit opened.
func (b *breaker) admit(now time.Time) (ok, trial bool, openedAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	switch b.state {
	case StateClosed:
		return true, false, time.Time{}
	case StateHalfOpen:
		if b.trialAt.IsZero() || !now.Before(b.trialAt.Add(b.cfg.Cooldown)) {
			b.trialAt = now
			return true, true, b.openedAt
		}
	}
	return false, false, time.Time{}
}

// snapshot returns the state at now and a description of it for an event
// log: "circuit open since 12:01:03 UTC".
func (b *breaker) snapshot(now time.Time) (BreakerState, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return b.state, describeState(b.state, b.openedAt, b.trialAt)
}

// describeState describes a circuit for an event log.
func describeState(st BreakerState, openedAt, trialAt time.Time) string {
	switch st {
	case StateOpen:
		return "circuit open since " + clock(openedAt)
	case StateHalfOpen:
		if !trialAt.IsZero() {
			return fmt.Sprintf("circuit open since %s, a trial job sent at %s", clock(openedAt), clock(trialAt))
		}
		return fmt.Sprintf("circuit open since %s, retrying", clock(openedAt))
	}
	return "circuit closed"
}

// breakerStore keeps every provider's circuit breaker: in the process's
// memory (memoryBreakers), or in Redis for every process to share
// (sharedBreakers, see Config.Shared). Time is passed in.
type breakerStore interface {
	// observe records the outcome of a call to provider that started at
	// started and ended at now.
	observe(provider string, now, started time.Time, failed bool)
	// admit reports whether a new job may go to provider (see
	// breaker.admit).
	admit(provider string, now time.Time) (ok, trial bool, openedAt time.Time)
	// snapshot returns provider's state at now and a description of it.
	snapshot(provider string, now time.Time) (BreakerState, string)
}

// memoryBreakers is a breakerStore in the process's memory.
type memoryBreakers struct {
	cfg BreakerConfig

	mu sync.Mutex
	m  map[string]*breaker
}

func newMemoryBreakers(cfg BreakerConfig) *memoryBreakers {
	return &memoryBreakers{cfg: cfg, m: map[string]*breaker{}}
}

// get returns provider's breaker, made on first use.
func (s *memoryBreakers) get(provider string) *breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[provider]
	if !ok {
		b = newBreaker(s.cfg)
		s.m[provider] = b
	}
	return b
}

func (s *memoryBreakers) observe(provider string, now, started time.Time, failed bool) {
	s.get(provider).observe(now, started, failed)
}

func (s *memoryBreakers) admit(provider string, now time.Time) (bool, bool, time.Time) {
	return s.get(provider).admit(now)
}

func (s *memoryBreakers) snapshot(provider string, now time.Time) (BreakerState, string) {
	return s.get(provider).snapshot(now)
}

// clock formats t for an event log, whose entries carry their date.
func clock(t time.Time) string {
	return t.UTC().Format("15:04:05") + " UTC"
}
