package router

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/queue/queuetest"
	"github.com/vidgate/vidgate/providers"
)

// store is where a test's breakers keep their state: shared returns the
// Config.Shared to use (nil: in memory).
type store struct {
	name   string
	shared func(t *testing.T) *SharedConfig
}

// stores lists the in-memory breakers, and shared ones on miniredis and,
// when VIDGATE_TEST_REDIS_URL is set, on the real Redis (each test under a
// key prefix of its own, deleted when it ends).
func stores(t *testing.T) []store {
	out := []store{{"memory", func(*testing.T) *SharedConfig { return nil }}}
	for _, b := range queuetest.Backends(t) {
		out = append(out, store{"shared-" + b.Name, func(t *testing.T) *SharedConfig {
			r := b.Open(t)
			return &SharedConfig{Client: r.Client, Prefix: r.Prefix, Logger: queuetest.Logger(t)}
		}})
	}
	return out
}

// The breaker a worker process feeds is the one an API process routes
// by: failures observed by one router open the circuit another sees
// (within the cache TTL), the cooldown makes it half-open everywhere with
// one trial job among all processes, and a success observed by the worker
// closes it for all.
func TestSharedBreakerAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, st := range stores(t)[1:] {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			shared := st.shared(t)
			clk := newClock()
			reg := providers.NewRegistry(&fakeDriver{name: "sim"}, &fakeDriver{name: "replicate"})
			newR := func(cfg Config) *Router {
				cfg.Now, cfg.Shared = clk.Now, shared
				r, err := New(reg, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			api := Config{Default: map[providers.Workflow]string{providers.WorkflowTextToVideo: "sim"}, Fallback: []string{"replicate"}}
			worker, api1, api2 := newR(Config{}), newR(api), newR(api)
			choose := func(r *Router, want, wantReason string) {
				t.Helper()
				got, reason, err := r.Choose(providers.WorkflowTextToVideo, "")
				if err != nil || got != want || !strings.HasPrefix(reason, wantReason) {
					t.Fatalf("Choose = %q, %q, %v; want %q, %q…", got, reason, err, want, wantReason)
				}
			}
			choose(api1, "sim", "default for text_to_video") // api1 has read the closed state

			trip(worker, "sim")
			if got := worker.State("sim"); got != StateOpen {
				t.Fatalf("worker: State(sim) after 5 failures = %s, want open", got)
			}
			choose(api2, "replicate", "sim is unavailable (circuit open since 12:01:03 UTC); fell back to replicate")
			// api1 trusts what it read for up to a second.
			choose(api1, "sim", "default for text_to_video")
			clk.Advance(DefaultSharedCacheTTL)
			choose(api1, "replicate", "sim is unavailable (circuit open since 12:01:03 UTC)")

			// After the cooldown: one trial job among all processes.
			clk.Advance(DefaultCooldown)
			choose(api1, "sim", "default for text_to_video; a trial job for sim")
			choose(api2, "replicate", "sim is unavailable (circuit open since 12:01:03 UTC, a trial job sent at")
			if got := worker.State("sim"); got != StateHalfOpen {
				t.Fatalf("worker: State(sim) after the cooldown = %s, want half-open", got)
			}

			// The trial succeeds, as the worker sees it: closed everywhere.
			clk.Advance(time.Second)
			worker.Observe("sim", nil)
			clk.Advance(DefaultSharedCacheTTL)
			choose(api1, "sim", "default for text_to_video")
			choose(api2, "sim", "default for text_to_video")
			if got := api2.State("sim"); got != StateClosed {
				t.Fatalf("api2: State(sim) after the trial succeeded = %s, want closed", got)
			}
		})
	}
}

// Redis trouble never fails a choice: circuits read as closed, outcomes
// are dropped, and the trouble is logged once, not per call.
func TestSharedBreakerRedisDown(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	clk := newClock()
	r, err := New(providers.NewRegistry(&fakeDriver{name: "sim"}), Config{
		Default: map[providers.Workflow]string{providers.WorkflowTextToVideo: "sim"}, Now: clk.Now,
		Shared: &SharedConfig{Client: rdb, Prefix: "down", Logger: log, Timeout: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		trip(r, "sim")
		got, reason, err := r.Choose(providers.WorkflowTextToVideo, "")
		if err != nil || got != "sim" || reason != "default for text_to_video" {
			t.Fatalf("Choose with Redis down = %q, %q, %v; want sim as if closed", got, reason, err)
		}
		clk.Advance(2 * DefaultSharedCacheTTL)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "shared circuit breaker state unavailable"); n != 1 {
		t.Errorf("logged the outage %d times, want once:\n%s", n, buf.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Nothing the shared breakers write outlives its use: every key expires.
func TestSharedBreakerKeysExpire(t *testing.T) {
	t.Parallel()
	for _, st := range stores(t)[1:] {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			shared := st.shared(t)
			clk := newClock()
			r, err := New(providers.NewRegistry(&fakeDriver{name: "sim"}, &fakeDriver{name: "fal"}), Config{Now: clk.Now, Shared: shared})
			if err != nil {
				t.Fatal(err)
			}
			trip(r, "sim")                  // an open circuit
			r.Observe("fal", unavailable()) // a run of one failure
			ctx := t.Context()
			keys, err := shared.Client.Keys(ctx, shared.Prefix+":*").Result()
			if err != nil || len(keys) != 2 {
				t.Fatalf("keys = %v, %v; want the open circuit's state and fal's failures", keys, err)
			}
			for _, k := range keys {
				ttl, err := shared.Client.PTTL(ctx, k).Result()
				if err != nil || ttl <= 0 || ttl > 4*DefaultCooldown+DefaultWindow {
					t.Errorf("PTTL %s = %s, %v; want a TTL of at most 4 cooldowns and a window", k, ttl, err)
				}
			}
			if !strings.Contains(strings.Join(keys, " "), shared.Prefix+":breaker:{sim}:state") {
				t.Errorf("keys %v, want %s:breaker:{sim}:state", keys, shared.Prefix)
			}
		})
	}
}
