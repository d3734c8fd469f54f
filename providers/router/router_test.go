package router

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func newRouter(t *testing.T, cfg Config) (*Router, *fakeClock) {
	t.Helper()
	clk := newClock()
	cfg.Now = clk.Now
	reg := providers.NewRegistry(&fakeDriver{name: "sim"}, &fakeDriver{name: "replicate"}, &fakeDriver{name: "fal"})
	r, err := New(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

// trip opens provider's circuit (default breaker: 5 failures).
func trip(r *Router, provider string) {
	for range DefaultFailures {
		r.Observe(provider, unavailable())
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	t2v, i2v := providers.WorkflowTextToVideo, providers.WorkflowImageToVideo
	base := Config{
		Default:  map[providers.Workflow]string{t2v: "sim", i2v: "replicate"},
		Fallback: []string{"sim", "replicate", "fal"},
	}
	reroute := base
	reroute.RerouteRequested = true
	noFallback := base
	noFallback.Fallback = nil
	onlyT2V := base
	onlyT2V.Default = map[providers.Workflow]string{t2v: "sim"}

	tests := []struct {
		name       string
		cfg        Config
		open       []string
		workflow   providers.Workflow
		requested  string
		want       string
		wantReason string
		wantErr    string // a *ChoiceError's message
	}{
		{name: "default", cfg: base, workflow: t2v,
			want: "sim", wantReason: "default for text_to_video"},
		{name: "default per workflow", cfg: base, workflow: i2v,
			want: "replicate", wantReason: "default for image_to_video"},
		{name: "requested", cfg: base, workflow: t2v, requested: "fal",
			want: "fal", wantReason: "requested"},
		{name: "unknown requested", cfg: base, workflow: t2v, requested: "sora",
			wantErr: `unknown provider "sora"; available: fal, replicate, sim`},
		{name: "a long unknown name is cut", cfg: base, workflow: t2v, requested: strings.Repeat("x", 1000),
			wantErr: `unknown provider "` + strings.Repeat("x", 64) + `"; available: fal, replicate, sim`},
		{name: "no default for the workflow", cfg: onlyT2V, workflow: i2v,
			wantErr: "no default provider for image_to_video; name one of: fal, replicate, sim"},
		{name: "no default, but requested", cfg: onlyT2V, workflow: i2v, requested: "fal",
			want: "fal", wantReason: "requested"},
		{name: "default open: first closed fallback", cfg: base, open: []string{"sim"}, workflow: t2v,
			want: "replicate", wantReason: "sim is unavailable (circuit open since 12:01:03 UTC); fell back to replicate"},
		{name: "fallbacks skip open ones", cfg: base, open: []string{"sim", "replicate"}, workflow: t2v,
			want: "fal", wantReason: "sim is unavailable (circuit open since 12:01:03 UTC); fell back to fal"},
		{name: "other workflow's default unaffected", cfg: base, open: []string{"sim"}, workflow: i2v,
			want: "replicate", wantReason: "default for image_to_video"},
		{name: "all open: the default anyway", cfg: base, open: []string{"sim", "replicate", "fal"}, workflow: t2v,
			want: "sim", wantReason: "every candidate provider is unavailable (sim: circuit open since 12:01:03 UTC; " +
				"replicate: circuit open since 12:01:03 UTC; fal: circuit open since 12:01:03 UTC); sent to sim anyway"},
		{name: "open without fallbacks: the default anyway", cfg: noFallback, open: []string{"sim"}, workflow: t2v,
			want: "sim", wantReason: "sim is unavailable (circuit open since 12:01:03 UTC) and no other fallback is configured; sent there anyway"},
		{name: "requested open: honoured", cfg: base, open: []string{"fal"}, workflow: t2v, requested: "fal",
			want: "fal", wantReason: "requested; fal is unavailable (circuit open since 12:01:03 UTC), but the job asked for it"},
		{name: "requested open, RerouteRequested: falls back", cfg: reroute, open: []string{"fal"}, workflow: t2v, requested: "fal",
			want: "sim", wantReason: "fal was requested but is unavailable (circuit open since 12:01:03 UTC); fell back to sim"},
		{name: "requested closed, RerouteRequested: honoured", cfg: reroute, open: []string{"sim"}, workflow: t2v, requested: "fal",
			want: "fal", wantReason: "requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newRouter(t, tt.cfg)
			for _, p := range tt.open {
				trip(r, p)
			}
			got, reason, err := r.Choose(tt.workflow, tt.requested)
			if tt.wantErr != "" {
				var ce *ChoiceError
				if !errors.As(err, &ce) || err.Error() != tt.wantErr {
					t.Fatalf("Choose(%s, %.20q) error = %v, want *ChoiceError %q", tt.workflow, tt.requested, err, tt.wantErr)
				}
				if want := []string{"fal", "replicate", "sim"}; strings.Join(ce.Available, ",") != strings.Join(want, ",") {
					t.Errorf("ChoiceError.Available = %v, want %v", ce.Available, want)
				}
				return
			}
			if err != nil || got != tt.want || reason != tt.wantReason {
				t.Fatalf("Choose(%s, %q) = %q, %q, %v, want %q, %q, nil", tt.workflow, tt.requested, got, reason, err, tt.want, tt.wantReason)
			}
		})
	}
}

// A half-open default gets one trial job; others fall back until an
// outcome, or until the trial has gone a cooldown without one.
func TestChooseHalfOpenTrial(t *testing.T) {
	t.Parallel()
	for _, store := range stores(t) {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			testChooseHalfOpenTrial(t, store.shared(t))
		})
	}
}

func testChooseHalfOpenTrial(t *testing.T, shared *SharedConfig) {
	r, clk := newRouter(t, Config{
		Default:  map[providers.Workflow]string{providers.WorkflowTextToVideo: "sim"},
		Fallback: []string{"replicate"},
		Shared:   shared,
	})
	t2v := providers.WorkflowTextToVideo
	trip(r, "sim")
	clk.Advance(DefaultCooldown)

	steps := []struct {
		advance    time.Duration
		observe    bool // observe a success from sim first
		want       string
		wantReason string
	}{
		{0, false, "sim", "default for text_to_video; a trial job for sim, whose circuit opened at 12:01:03 UTC"},
		{time.Second, false, "replicate", "sim is unavailable (circuit open since 12:01:03 UTC, a trial job sent at 12:01:33 UTC); fell back to replicate"},
		{DefaultCooldown - time.Second, false, "sim", "default for text_to_video; a trial job for sim, whose circuit opened at 12:01:03 UTC"},
		{time.Second, true, "sim", "default for text_to_video"},
		{0, false, "sim", "default for text_to_video"},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if st.observe {
			r.Observe("sim", nil)
		}
		got, reason, err := r.Choose(t2v, "")
		if err != nil || got != st.want || reason != st.wantReason {
			t.Fatalf("step %d: Choose = %q, %q, %v, want %q, %q, nil", i, got, reason, err, st.want, st.wantReason)
		}
	}
}

// Of many jobs chosen at once for a half-open provider, one is the trial.
func TestChooseOneTrialUnderConcurrency(t *testing.T) {
	t.Parallel()
	for _, store := range stores(t) {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			testChooseOneTrialUnderConcurrency(t, store.shared(t))
		})
	}
}

func testChooseOneTrialUnderConcurrency(t *testing.T, shared *SharedConfig) {
	r, clk := newRouter(t, Config{
		Default:  map[providers.Workflow]string{providers.WorkflowTextToVideo: "sim"},
		Fallback: []string{"replicate"},
		Shared:   shared,
	})
	trip(r, "sim")
	clk.Advance(DefaultCooldown)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count = map[string]int{}
	)
	for range 50 {
		wg.Go(func() {
			got, _, err := r.Choose(providers.WorkflowTextToVideo, "")
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			count[got]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count["sim"] != 1 || count["replicate"] != 49 {
		t.Fatalf("50 concurrent Choose on a half-open sim = %v, want sim:1 replicate:49", count)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	reg := providers.NewRegistry(&fakeDriver{name: "sim"}, &fakeDriver{name: "replicate"})
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for success
	}{
		{"empty", Config{}, ""},
		{"valid", Config{Default: map[providers.Workflow]string{providers.WorkflowTextToVideo: "sim"}, Fallback: []string{"replicate"}}, ""},
		{"unknown default", Config{Default: map[providers.Workflow]string{providers.WorkflowImageToVideo: "luma"}},
			`router: default for image_to_video "luma" is not a configured provider (configured: replicate, sim)`},
		{"unknown fallback", Config{Fallback: []string{"sim", "veo"}},
			`router: fallback "veo" is not a configured provider (configured: replicate, sim)`},
		{"unknown workflow", Config{Default: map[providers.Workflow]string{"text_to_gif": "sim"}},
			`router: default for unknown workflow "text_to_gif"`},
		{"negative breaker setting", Config{Breaker: BreakerConfig{Cooldown: -time.Second}},
			"router: negative breaker setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(reg, tt.cfg)
			if got := errString(err); got != tt.wantErr {
				t.Fatalf("New(%+v) error = %q, want %q", tt.cfg, got, tt.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
