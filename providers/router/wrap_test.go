package router

import (
	"context"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func TestWrapPreservesCapabilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		d         providers.Driver
		wantHooks bool
		wantIdem  bool // implements Idempotent
		wantKeys  bool // HonorsIdempotencyKeys
	}{
		{"plain", &fakeDriver{name: "runway"}, false, false, false},
		{"webhooks", fakeVerifier{&fakeDriver{name: "replicate"}}, true, false, false},
		{"idempotent", fakeIdempotent{&fakeDriver{name: "sim"}, true}, false, true, true},
		{"idempotent, not honoring", fakeIdempotent{&fakeDriver{name: "veo"}, false}, false, true, false},
		{"both", fakeBoth{fakeVerifier{&fakeDriver{name: "sim"}}, true}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(providers.NewRegistry(tt.d), Config{})
			if err != nil {
				t.Fatal(err)
			}
			w := r.Wrap(tt.d)
			if w.Name() != tt.d.Name() {
				t.Errorf("Wrap(d).Name() = %q, want %q", w.Name(), tt.d.Name())
			}
			v, hooks := w.(providers.WebhookVerifier)
			if hooks != tt.wantHooks {
				t.Fatalf("Wrap(%T) is a WebhookVerifier: %v, want %v", tt.d, hooks, tt.wantHooks)
			}
			if hooks {
				if hook, err := v.VerifyWebhook(nil, nil); err != nil || hook.EventID != "evt-"+tt.d.Name() {
					t.Errorf("VerifyWebhook = %+v, %v, want the wrapped driver's answer", hook, err)
				}
			}
			if _, idem := w.(providers.Idempotent); idem != tt.wantIdem {
				t.Fatalf("Wrap(%T) is Idempotent: %v, want %v", tt.d, idem, tt.wantIdem)
			}
			if got := providers.HonorsIdempotencyKeys(w); got != tt.wantKeys {
				t.Errorf("HonorsIdempotencyKeys(Wrap(d)) = %v, want %v", got, tt.wantKeys)
			}
			if id, err := w.Submit(context.Background(), providers.Request{}); id != "req-1" || err != nil {
				t.Errorf("Submit = %q, %v, want the wrapped driver's answer", id, err)
			}
		})
	}
}

func TestWrapObserves(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()

	call := map[string]func(providers.Driver, context.Context) error{
		"Submit": func(d providers.Driver, ctx context.Context) error {
			_, err := d.Submit(ctx, providers.Request{})
			return err
		},
		"Status": func(d providers.Driver, ctx context.Context) error {
			_, err := d.Status(ctx, "req-1")
			return err
		},
		"Cancel": func(d providers.Driver, ctx context.Context) error { return d.Cancel(ctx, "req-1") },
	}
	tests := []struct {
		name   string
		method string
		ctx    context.Context
		err    error
		want   BreakerState // after 5 calls
	}{
		{"unavailable Submit opens", "Submit", context.Background(), unavailable(), StateOpen},
		{"unavailable Status opens", "Status", context.Background(), unavailable(), StateOpen},
		{"unavailable Cancel opens", "Cancel", context.Background(), unavailable(), StateOpen},
		{"rate limited does not", "Submit", context.Background(), providers.Errorf(providers.CodeRateLimited, "429"), StateClosed},
		{"canceled by the caller: not observed", "Submit", canceled, unavailable(), StateClosed},
		{"caller's deadline passed: observed", "Status", expired, unavailable(), StateOpen},
		{"provider not called: not observed", "Submit", context.Background(),
			&providers.Error{Code: providers.CodeUnavailable, Message: "no call slot", Err: notCalledErr{}}, StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDriver{name: "sim", err: tt.err}
			r, err := New(providers.NewRegistry(d), Config{Now: newClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			w := r.Wrap(d)
			for range DefaultFailures {
				if err := call[tt.method](w, tt.ctx); err != tt.err {
					t.Fatalf("%s through Wrap = %v, want the driver's %v", tt.method, err, tt.err)
				}
			}
			if got := r.State("sim"); got != tt.want {
				t.Fatalf("after %d calls of %s failing with %v: State = %s, want %s", DefaultFailures, tt.method, tt.err, got, tt.want)
			}
		})
	}
}

// A call that began before the circuit opened and ends once it is
// half-open is stale: it neither closes nor reopens it.
func TestWrapIgnoresStaleOutcomeWhenHalfOpen(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		err  error
	}{{"stale success", nil}, {"stale failure", unavailable()}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			slow := &fakeDriver{name: "sim", err: tt.err, entered: make(chan struct{}), release: make(chan struct{})}
			r, err := New(providers.NewRegistry(slow), Config{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				r.Wrap(slow).Status(context.Background(), "req-1")
			}()
			<-slow.entered
			clk.Advance(time.Second)
			trip(r, "sim")
			clk.Advance(DefaultCooldown)
			close(slow.release)
			<-done
			if got := r.State("sim"); got != StateHalfOpen {
				t.Fatalf("after a %s from a call begun before the circuit opened: State = %s, want %s", tt.name, got, StateHalfOpen)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	sim := fakeBoth{fakeVerifier{&fakeDriver{name: "sim", err: unavailable()}}, true}
	r, err := New(providers.NewRegistry(sim, &fakeDriver{name: "runway"}), Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := r.Registry()
	if got := reg.Names(); len(got) != 2 || got[0] != "runway" || got[1] != "sim" {
		t.Fatalf("Registry().Names() = %v, want [runway sim]", got)
	}
	d, _ := reg.Get("sim")
	if _, ok := d.(providers.WebhookVerifier); !ok || !providers.HonorsIdempotencyKeys(d) {
		t.Fatalf("Registry's sim lost a capability: %T", d)
	}
	for range DefaultFailures {
		d.Submit(context.Background(), providers.Request{})
	}
	if got := r.State("sim"); got != StateOpen {
		t.Fatalf("after failures through Registry's driver: State(sim) = %s, want %s", got, StateOpen)
	}
}
