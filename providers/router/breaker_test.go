package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func TestBreakerTransitions(t *testing.T) {
	t.Parallel()
	type step struct {
		at   time.Duration // since start
		err  error         // the outcome observed at that time
		want BreakerState  // the state right after
	}
	fail := func(at time.Duration, want BreakerState) step { return step{at, unavailable(), want} }
	ok := func(at time.Duration, want BreakerState) step { return step{at, nil, want} }
	look := func(at time.Duration, want BreakerState) step { return step{at: at, want: want, err: errLook} }
	s := time.Second
	// Defaults: 5 failures within 1m open; 30s cooldown.
	opened := []step{fail(0, StateClosed), fail(s, StateClosed), fail(2*s, StateClosed), fail(3*s, StateClosed), fail(4*s, StateOpen)}
	tests := []struct {
		name  string
		steps []step
	}{
		{"starts closed", []step{look(0, StateClosed)}},
		{"closed → open after 5 unavailable", opened},
		{"a success resets the run", []step{
			fail(0, StateClosed), fail(s, StateClosed), fail(2*s, StateClosed), fail(3*s, StateClosed),
			ok(4*s, StateClosed),
			fail(5*s, StateClosed), fail(6*s, StateClosed), fail(7*s, StateClosed), fail(8*s, StateClosed),
			fail(9*s, StateOpen),
		}},
		{"failures spread wider than the window do not open", []step{
			fail(0, StateClosed), fail(30*s, StateClosed), fail(61*s, StateClosed), fail(62*s, StateClosed),
			fail(63*s, StateClosed), // the one at 0 is out of the window: 4 in it
			fail(64*s, StateOpen),
		}},
		{"other codes are successes and never open it", func() []step {
			var st []step
			for i, c := range []providers.Code{providers.CodeRateLimited, providers.CodeInvalidInput, providers.CodeContentPolicy,
				providers.CodeNotFound, providers.CodeUnauthenticated, providers.CodeUnimplemented, providers.CodeUnknown} {
				st = append(st, step{time.Duration(i) * s, providers.Errorf(c, "x"), StateClosed})
			}
			return st
		}()},
		{"a passed deadline counts as unavailable", []step{
			{0, context.DeadlineExceeded, StateClosed}, {s, context.DeadlineExceeded, StateClosed},
			{2 * s, context.DeadlineExceeded, StateClosed}, {3 * s, context.DeadlineExceeded, StateClosed},
			{4 * s, fmt.Errorf("submit: %w", context.DeadlineExceeded), StateOpen},
		}},
		{"calls that never reached the provider are ignored", []step{
			fail(0, StateClosed), fail(s, StateClosed), fail(2*s, StateClosed), fail(3*s, StateClosed),
			{4 * s, notCalledErr{}, StateClosed}, // neither a failure nor a success
			fail(5*s, StateOpen),
		}},
		{"open ignores outcomes until the cooldown", append(opened[:5:5],
			ok(5*s, StateOpen), fail(6*s, StateOpen), look(33*s, StateOpen), look(34*s, StateHalfOpen))},
		{"half-open success → closed", append(opened[:5:5], look(34*s, StateHalfOpen), ok(35*s, StateClosed),
			fail(36*s, StateClosed))}, // and the count starts over
		{"half-open failure → open, cooldown restarts", append(opened[:5:5], fail(40*s, StateOpen),
			look(69*s, StateOpen), look(70*s, StateHalfOpen))},
		{"half-open ignores calls that never reached the provider", append(opened[:5:5],
			step{40 * s, notCalledErr{}, StateHalfOpen}, ok(41*s, StateClosed))},
	}
	for _, store := range stores(t) {
		for _, tt := range tests {
			t.Run(store.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				clk := newClock()
				r, err := New(providers.NewRegistry(&fakeDriver{name: "sim"}), Config{Now: clk.Now, Shared: store.shared(t)})
				if err != nil {
					t.Fatal(err)
				}
				var at time.Duration
				for i, st := range tt.steps {
					clk.Advance(st.at - at)
					at = st.at
					if st.err != errLook {
						r.Observe("sim", st.err)
					}
					if got := r.State("sim"); got != st.want {
						t.Fatalf("step %d (at %s, err %v): State(sim) = %s, want %s", i, st.at, st.err, got, st.want)
					}
				}
			})
		}
	}
}

// errLook marks a step that only looks at the state.
var errLook = fmt.Errorf("look only")

func TestBreakerConfig(t *testing.T) {
	t.Parallel()
	clk := newClock()
	r, err := New(providers.NewRegistry(&fakeDriver{name: "sim"}), Config{
		Now: clk.Now, Breaker: BreakerConfig{Failures: 2, Window: 10 * time.Second, Cooldown: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Observe("sim", unavailable())
	clk.Advance(11 * time.Second)
	r.Observe("sim", unavailable())
	if got := r.State("sim"); got != StateClosed {
		t.Fatalf("2 failures 11s apart (window 10s): State = %s, want %s", got, StateClosed)
	}
	clk.Advance(10 * time.Second)
	r.Observe("sim", unavailable())
	if got := r.State("sim"); got != StateOpen {
		t.Fatalf("2 failures 10s apart: State = %s, want %s", got, StateOpen)
	}
	clk.Advance(59 * time.Second)
	if got := r.State("sim"); got != StateOpen {
		t.Fatalf("59s into a 1m cooldown: State = %s, want %s", got, StateOpen)
	}
	clk.Advance(time.Second)
	if got := r.State("sim"); got != StateHalfOpen {
		t.Fatalf("after a 1m cooldown: State = %s, want %s", got, StateHalfOpen)
	}
}
