package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/keyspace"
)

// SharedConfig configures breakers whose state lives in Redis (see
// Config.Shared).
type SharedConfig struct {
	// Client is the Redis (or Redis Cluster) every process shares.
	Client redis.UniversalClient
	// Prefix starts every key; default "vg". Processes that should share
	// circuits use the same one.
	Prefix string
	// CacheTTL is how long a process trusts the state it last read before
	// reading it again; default 1s. Choose reads no Redis while the cached
	// state is closed (or open and cooling down): with it, creating a job
	// costs no Redis round trip, and a circuit opened by another process
	// is seen within CacheTTL.
	CacheTTL time.Duration
	// Timeout bounds each Redis call; default 500ms.
	Timeout time.Duration
	// Logger hears of Redis errors: the first of a run of them, and the
	// recovery. Default slog.Default().
	Logger *slog.Logger
}

// Shared breaker defaults.
const (
	DefaultSharedCacheTTL = time.Second
	DefaultSharedTimeout  = 500 * time.Millisecond
)

// sharedBreakers is a breakerStore in Redis. Per provider P it keeps two
// keys (jobs/keyspace documents them): a hash of P's state (open |
// half-open; no key means closed), which expires 4 cooldowns plus a window
// after its last change, so that a circuit nobody has touched for that long
// is closed again; and a list of P's current run of consecutive failures
// within the window, which expires a window after the last one. The keys
// share the hash tag {P}, so one script can touch both on Redis Cluster.
//
// Scripts make each observation and each trial claim atomic across
// processes. Times come from the callers' clocks (the router's Now), as in
// memoryBreakers, so every process should keep decent time.
//
// Redis errors never fail a caller: a breaker that cannot be read is
// closed, and an outcome that cannot be recorded is dropped; the first
// error of a run is logged, and so is the recovery.
type sharedBreakers struct {
	rdb     redis.UniversalClient
	keys    keyspace.Keyspace
	cfg     BreakerConfig
	ttl     time.Duration // of a state hash
	cache   time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	cached map[string]sharedState

	failing atomic.Bool // the last Redis call failed
}

// sharedState is a provider's state as last read from Redis.
type sharedState struct {
	state    BreakerState
	openedAt time.Time
	trialAt  time.Time
	readAt   time.Time
}

func newSharedBreakers(c SharedConfig, bc BreakerConfig) (*sharedBreakers, error) {
	if c.Client == nil {
		return nil, errors.New("router: Shared.Client is nil")
	}
	if c.CacheTTL < 0 || c.Timeout < 0 {
		return nil, errors.New("router: negative Shared setting")
	}
	s := &sharedBreakers{
		rdb: c.Client, keys: keyspace.New(c.Prefix), cfg: bc, cache: c.CacheTTL, timeout: c.Timeout, log: c.Logger,
		ttl:    4*bc.Cooldown + bc.Window,
		cached: map[string]sharedState{},
	}
	if s.cache == 0 {
		s.cache = DefaultSharedCacheTTL
	}
	if s.timeout == 0 {
		s.timeout = DefaultSharedTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "router")
	return s, nil
}

// advanceLua moves an open circuit whose cooldown has passed to half-open.
// It expects now, cooldown and ttl (ms) in locals and the state hash's
// fields in st, opened and trial.
const advanceLua = `
local h = redis.call('HMGET', KEYS[1], 'state', 'opened', 'trial')
local st = h[1] or 'closed'
local opened = tonumber(h[2]) or 0
local trial = tonumber(h[3])
if st == 'open' and now >= opened + cooldown then
  st, trial = 'half-open', nil
  redis.call('HSET', KEYS[1], 'state', st)
  redis.call('HDEL', KEYS[1], 'trial')
  redis.call('PEXPIRE', KEYS[1], ttl)
end
`

// observeScript records one outcome. KEYS: state hash, failure list. ARGV:
// now, started, failed (1/0), failures, window, cooldown, ttl (ms). It
// returns the state after it: {state, opened, trial} ("" for none).
var observeScript = redis.NewScript(`
local now, started, failed = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local failures, window, cooldown, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
` + advanceLua + `
local function open()
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened', ARGV[1])
  redis.call('HDEL', KEYS[1], 'trial')
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {'open', ARGV[1], ''}
end
if st == 'closed' then
  if not failed then
    redis.call('DEL', KEYS[2])
    return {'closed', '', ''}
  end
  redis.call('RPUSH', KEYS[2], ARGV[1])
  while true do
    local first = tonumber(redis.call('LINDEX', KEYS[2], 0))
    if first and now - first > window then
      redis.call('LPOP', KEYS[2])
    else
      break
    end
  end
  redis.call('LTRIM', KEYS[2], -failures, -1)
  redis.call('PEXPIRE', KEYS[2], window)
  if redis.call('LLEN', KEYS[2]) >= failures then
    return open()
  end
  return {'closed', '', ''}
end
if st == 'open' or started < opened then
  -- open: outcomes are ignored until the cooldown; half-open: a call that
  -- began before the circuit opened is stale.
  return {st, tostring(h[2] or ''), trial and tostring(h[3]) or ''}
end
if failed then
  return open()
end
redis.call('DEL', KEYS[1], KEYS[2])
return {'closed', '', ''}
`)

// admitScript decides whether a new job may go to the provider and, when
// it is half-open with no trial pending (or the pending one is older than
// the cooldown), makes this job the trial. KEYS: state hash. ARGV: now,
// cooldown, ttl (ms). It returns {state, opened, trial, ok, isTrial}.
var admitScript = redis.NewScript(`
local now, cooldown, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
` + advanceLua + `
if st == 'closed' then
  return {'closed', '', '', 1, 0}
end
if st == 'half-open' and (not trial or now >= trial + cooldown) then
  redis.call('HSET', KEYS[1], 'trial', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {st, tostring(h[2]), ARGV[1], 1, 1}
end
return {st, tostring(h[2] or ''), trial and tostring(trial) or '', 0, 0}
`)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// context bounds one Redis call. The router's callers pass no context:
// these calls are short, bounded, and never fail a caller.
func (s *sharedBreakers) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// result notes how a Redis call went: the first error of a run is logged,
// and the first success after one.
func (s *sharedBreakers) result(op, provider string, err error) {
	if err != nil {
		if !s.failing.Swap(true) {
			s.log.Warn("shared circuit breaker state unavailable in Redis; treating circuits as closed until it is back",
				"op", op, "provider", provider, "err", err)
		}
		return
	}
	if s.failing.Swap(false) {
		s.log.Info("shared circuit breaker state reachable in Redis again")
	}
}

func (s *sharedBreakers) observe(provider string, now, started time.Time, failed bool) {
	ctx, cancel := s.context()
	defer cancel()
	f := "0"
	if failed {
		f = "1"
	}
	res, err := observeScript.Run(ctx, s.rdb, s.keys.BreakerKeys(provider), ms(now), ms(started), f,
		s.cfg.Failures, s.cfg.Window.Milliseconds(), s.cfg.Cooldown.Milliseconds(), s.ttl.Milliseconds()).StringSlice()
	s.result("observe", provider, err)
	if err != nil {
		return
	}
	if st, err := parseShared(res, now); err == nil {
		s.store(provider, st)
	}
}

func (s *sharedBreakers) admit(provider string, now time.Time) (bool, bool, time.Time) {
	st := s.read(provider, now)
	switch st.state {
	case StateClosed:
		return true, false, time.Time{}
	case StateOpen:
		return false, false, time.Time{}
	}
	// Half-open: claiming the one trial job must be atomic across
	// processes, so it always asks Redis.
	ctx, cancel := s.context()
	defer cancel()
	res, err := admitScript.Run(ctx, s.rdb, []string{s.keys.BreakerState(provider)}, ms(now), s.cfg.Cooldown.Milliseconds(), s.ttl.Milliseconds()).Slice()
	s.result("admit", provider, err)
	if err != nil {
		return true, false, time.Time{} // closed, as far as anyone can tell
	}
	if len(res) != 5 {
		return true, false, time.Time{}
	}
	strs := make([]string, 3)
	for i := range strs {
		strs[i], _ = res[i].(string)
	}
	fresh, err := parseShared(strs, now)
	if err != nil {
		return true, false, time.Time{}
	}
	s.store(provider, fresh)
	ok, _ := res[3].(int64)
	trial, _ := res[4].(int64)
	if trial == 1 {
		return true, true, fresh.openedAt
	}
	return ok == 1, false, time.Time{}
}

func (s *sharedBreakers) snapshot(provider string, now time.Time) (BreakerState, string) {
	st := s.read(provider, now)
	return st.state, describeState(st.state, st.openedAt, st.trialAt)
}

// read returns provider's state at now: the cached one while it is younger
// than the cache TTL, else what Redis holds. An open circuit whose
// cooldown has passed is half-open. A state that cannot be read is closed.
func (s *sharedBreakers) read(provider string, now time.Time) sharedState {
	s.mu.Lock()
	st, ok := s.cached[provider]
	s.mu.Unlock()
	if !ok || now.Sub(st.readAt) >= s.cache || now.Before(st.readAt) {
		st = s.fetch(provider, now)
	}
	if st.state == StateOpen && !now.Before(st.openedAt.Add(s.cfg.Cooldown)) {
		st.state, st.trialAt = StateHalfOpen, time.Time{}
	}
	return st
}

// fetch reads provider's state from Redis into the cache.
func (s *sharedBreakers) fetch(provider string, now time.Time) sharedState {
	ctx, cancel := s.context()
	defer cancel()
	vals, err := s.rdb.HMGet(ctx, s.keys.BreakerState(provider), "state", "opened", "trial").Result()
	s.result("read", provider, err)
	if err != nil {
		// Closed, and cached like a state read: during an outage of Redis,
		// one call per cache TTL waits for its timeout, not every choice.
		st := sharedState{state: StateClosed, readAt: now}
		s.store(provider, st)
		return st
	}
	strs := make([]string, 3)
	for i, v := range vals {
		strs[i], _ = v.(string)
	}
	st, err := parseShared(strs, now)
	if err != nil {
		s.result("read", provider, err)
		return sharedState{state: StateClosed, readAt: now}
	}
	s.store(provider, st)
	return st
}

func (s *sharedBreakers) store(provider string, st sharedState) {
	s.mu.Lock()
	s.cached[provider] = st
	s.mu.Unlock()
}

// parseShared parses {state, opened, trial} as the scripts return them and
// the state hash holds them ("" or missing state: closed).
func parseShared(v []string, now time.Time) (sharedState, error) {
	if len(v) != 3 {
		return sharedState{}, fmt.Errorf("router: malformed shared breaker state %q", v)
	}
	st := sharedState{state: StateClosed, readAt: now}
	switch v[0] {
	case "", string(StateClosed):
		return st, nil
	case string(StateOpen), string(StateHalfOpen):
		st.state = BreakerState(v[0])
	default:
		return sharedState{}, fmt.Errorf("router: unknown shared breaker state %q", v[0])
	}
	opened, err := strconv.ParseInt(v[1], 10, 64)
	if err != nil {
		return sharedState{}, fmt.Errorf("router: malformed shared breaker opening time %q", v[1])
	}
	st.openedAt = time.UnixMilli(opened)
	if v[2] != "" {
		trial, err := strconv.ParseInt(v[2], 10, 64)
		if err != nil {
			return sharedState{}, fmt.Errorf("router: malformed shared breaker trial time %q", v[2])
		}
		st.trialAt = time.UnixMilli(trial)
	}
	return st, nil
}
