package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/blob/mp4"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// newDriver starts a Server for cfg (with the test key and secret unless
// cfg sets its own) and returns it with a Driver for it.
func newDriver(t *testing.T, cfg Config) (*Server, *Driver) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = testSecret
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/sim"
	}
	srv, ts := startServer(t, cfg)
	return srv, NewDriver(ts.URL+cfg.Prefix, cfg.APIKey, cfg.WebhookSecret, ts.Client())
}

func textRequest(prompt string) providers.Request {
	return providers.Request{
		IdempotencyKey: "key-" + newID(""),
		Workflow:       providers.WorkflowTextToVideo,
		Prompt:         prompt,
	}
}

// waitState polls id until its state is want, and fails t after a few
// seconds.
func waitState(t *testing.T, d *Driver, id string, want providers.State) providers.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := d.Status(t.Context(), id)
		if err != nil {
			t.Fatalf("Status(%q) error = %v, want nil", id, err)
		}
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status(%q) = %+v after 5s, want state %q", id, st, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// eventually polls cond until it holds, and fails t after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
	}
}

func TestIdempotencyKeyStartsOneGeneration(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	req := textRequest("a cat")
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := d.Submit(t.Context(), req)
			if err != nil {
				t.Errorf("Submit(%q) error = %v, want nil", req.IdempotencyKey, err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	if distinct := slices.Compact(slices.Clone(ids)); len(distinct) != 1 {
		t.Errorf("%d concurrent Submit() with one key = %q, want one id", n, ids)
	}
	if got := srv.Generations(); got != 1 {
		t.Errorf("Generations() = %d, want 1", got)
	}
	if submits, gens := srv.KeyCounts(req.IdempotencyKey); submits != n || gens != 1 {
		t.Errorf("KeyCounts(%q) = %d, %d; want %d, 1", req.IdempotencyKey, submits, gens, n)
	}

	other := textRequest("a cat")
	id, err := d.Submit(t.Context(), other)
	if err != nil || id == ids[0] {
		t.Errorf("Submit() with another key = %q, %v; want a new id, nil", id, err)
	}
	if got := srv.Generations(); got != 2 {
		t.Errorf("Generations() = %d, want 2", got)
	}
}

func TestSubmitErrorDirective(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		prompt         string
		wantCode       providers.Code
		wantRetryAfter time.Duration
		failures       int // then it succeeds; -1: never
	}{
		{name: "503 twice", prompt: "x [sim submit_error=503:2 hold]", wantCode: providers.CodeUnavailable, failures: 2},
		{name: "429 once with retry after", prompt: "x [sim submit_error=429:1 retry_after=2s hold]", wantCode: providers.CodeRateLimited, wantRetryAfter: 2 * time.Second, failures: 1},
		{name: "429 rounds retry after up", prompt: "x [sim submit_error=429:1 retry_after=1500ms hold]", wantCode: providers.CodeRateLimited, wantRetryAfter: 2 * time.Second, failures: 1},
		{name: "500 always", prompt: "x [sim submit_error=500]", wantCode: providers.CodeUnavailable, failures: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, d := newDriver(t, Config{})
			req := textRequest(tt.prompt)
			attempts := tt.failures + 1
			if tt.failures < 0 {
				attempts = 4
			}
			for i := range attempts {
				id, err := d.Submit(t.Context(), req)
				if i < tt.failures || tt.failures < 0 {
					if providers.ErrorCode(err) != tt.wantCode || providers.RetryAfter(err) != tt.wantRetryAfter {
						t.Fatalf("Submit() #%d = %q, %v; want code %s, retry after %s", i+1, id, err, tt.wantCode, tt.wantRetryAfter)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Submit() #%d error = %v, want nil", i+1, err)
				}
			}
			wantGens := 1
			if tt.failures < 0 {
				wantGens = 0
			}
			if submits, gens := srv.KeyCounts(req.IdempotencyKey); submits != attempts || gens != wantGens {
				t.Errorf("KeyCounts() = %d, %d; want %d, %d", submits, gens, attempts, wantGens)
			}
		})
	}
}

func TestGenerationOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prompt     string
		want       providers.State
		wantCode   providers.Code
		wantVendor string
	}{
		{prompt: "a dog [sim latency=0s]", want: providers.StateSucceeded},
		{prompt: "a dog [sim latency=10ms fail=content_policy]", want: providers.StateFailed, wantCode: providers.CodeContentPolicy, wantVendor: CodeContentPolicy},
		{prompt: "a dog [sim latency=0s fail=invalid_input]", want: providers.StateFailed, wantCode: providers.CodeInvalidInput, wantVendor: CodeInvalidInput},
		{prompt: "a dog [sim latency=0s fail=server_error]", want: providers.StateFailed, wantCode: providers.CodeUnavailable, wantVendor: CodeServerError},
	}
	_, d := newDriver(t, Config{})
	for _, tt := range tests {
		t.Run(tt.prompt, func(t *testing.T) {
			t.Parallel()
			id, err := d.Submit(t.Context(), textRequest(tt.prompt))
			if err != nil {
				t.Fatalf("Submit(%q) error = %v", tt.prompt, err)
			}
			st := waitState(t, d, id, tt.want)
			if tt.wantCode == "" {
				if st.Error != nil || len(st.Outputs) != 1 || st.Progress != 100 {
					t.Errorf("Status(%q) = %+v, want one output, progress 100, no error", id, st)
				}
				return
			}
			if st.Error == nil || st.Error.Code != tt.wantCode || st.Error.VendorCode != tt.wantVendor {
				t.Errorf("Status(%q).Error = %v, want code %s, vendor code %s", id, st.Error, tt.wantCode, tt.wantVendor)
			}
			if st.Error != nil && strings.Contains(st.Error.Message, "dog") {
				t.Errorf("Status(%q).Error.Message = %q, want no prompt in it", id, st.Error.Message)
			}
		})
	}
}

func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	_, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	ok := providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: "a boat"}
	tests := []struct {
		name string
		edit func(*providers.Request)
		want providers.Code // "" = accepted
	}{
		{"minimal", func(*providers.Request) {}, ""},
		{"everything", func(r *providers.Request) {
			r.DurationSeconds, r.AspectRatio, r.Resolution, r.Model, r.WebhookURL = 10, "9:16", "1080p", "sim-1-turbo", "https://example.test/hook"
		}, ""},
		{"image to video", func(r *providers.Request) {
			r.Workflow, r.SourceImageURL = providers.WorkflowImageToVideo, "https://files.example.test/a.png?sig=x"
		}, ""},
		{"unknown workflow", func(r *providers.Request) { r.Workflow = "video_to_video" }, providers.CodeInvalidInput},
		{"image to video without image", func(r *providers.Request) { r.Workflow = providers.WorkflowImageToVideo }, providers.CodeInvalidInput},
		{"text to video with image", func(r *providers.Request) { r.SourceImageURL = "https://x.test/a.png" }, providers.CodeInvalidInput},
		{"empty prompt", func(r *providers.Request) { r.Prompt = " " }, providers.CodeInvalidInput},
		{"long prompt", func(r *providers.Request) { r.Prompt = strings.Repeat("é", maxPromptRunes+1) }, providers.CodeInvalidInput},
		{"duration", func(r *providers.Request) { r.DurationSeconds = 21 }, providers.CodeInvalidInput},
		{"aspect ratio", func(r *providers.Request) { r.AspectRatio = "2:1" }, providers.CodeInvalidInput},
		{"4k", func(r *providers.Request) { r.Resolution = "4k" }, ""},
		{"resolution", func(r *providers.Request) { r.Resolution, r.Model = "4k", "sim-1-turbo" }, providers.CodeInvalidInput},
		{"every option", func(r *providers.Request) {
			seed, audio := int64(42), true
			r.Seed, r.NegativePrompt, r.EndFrameURL, r.Audio = &seed, "no boat", "https://files.example.test/end.png?sig=x", &audio
		}, ""},
		{"option the model does not take", func(r *providers.Request) {
			r.Model, r.NegativePrompt = "sim-1-turbo", "no boat"
		}, providers.CodeInvalidInput},
		{"end frame url", func(r *providers.Request) { r.EndFrameURL = "/relative" }, providers.CodeInvalidInput},
		{"model", func(r *providers.Request) { r.Model = "veo-3" }, providers.CodeInvalidInput},
		{"webhook url", func(r *providers.Request) { r.WebhookURL = "/relative" }, providers.CodeInvalidInput},
		{"unknown directive", func(r *providers.Request) { r.Prompt = "a boat [sim latncy=1s]" }, providers.CodeInvalidInput},
		{"bad directive value", func(r *providers.Request) { r.Prompt = "a boat [sim fail=maybe]" }, providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := ok
			tt.edit(&req)
			id, err := d.Submit(t.Context(), req)
			if got := providers.ErrorCode(err); got != tt.want {
				t.Fatalf("Submit(%s) = %q, %v; want code %q", tt.name, id, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "boat") {
				t.Errorf("Submit(%s) error = %v, want the prompt kept out of it", tt.name, err)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	_, ts := startServer(t, Config{Prefix: "/sim", APIKey: testKey, Defaults: Behavior{Hold: true}})
	tests := []struct {
		key  string
		want providers.Code
	}{
		{testKey, ""},
		{"", providers.CodeUnauthenticated},
		{testKey + "x", providers.CodeUnauthenticated},
	}
	for _, tt := range tests {
		d := NewDriver(ts.URL+"/sim", tt.key, testSecret, ts.Client())
		if _, err := d.Submit(t.Context(), textRequest("a cat")); providers.ErrorCode(err) != tt.want {
			t.Errorf("Submit() with key %q error = %v, want code %q", tt.key, err, tt.want)
		}
	}
	// Output files are public, like a CDN's unguessable URLs.
	srv, d := newDriver(t, Config{APIKey: testKey, Defaults: Behavior{Hold: true}})
	id, _ := d.Submit(t.Context(), textRequest("a cat"))
	srv.Succeed(id)
	st := waitState(t, d, id, providers.StateSucceeded)
	resp, err := http.Get(st.Outputs[0].URL)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s without a key = %v, %v; want 200", st.Outputs[0].URL, resp, err)
	}
	resp.Body.Close()
}

func TestPrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix, base string }{
		{"", ""},
		{"/", ""},
		{"sim/", "/sim"},
		{"/providers/sim", "/providers/sim"},
	}
	for _, tt := range tests {
		srv, ts := startServer(t, Config{Prefix: tt.prefix, Defaults: Behavior{Latency: time.Millisecond}})
		d := NewDriver(ts.URL+tt.base, "", srv.WebhookSecret(), ts.Client())
		id, err := d.Submit(t.Context(), textRequest("a cat"))
		if err != nil {
			t.Fatalf("Submit() with prefix %q error = %v", tt.prefix, err)
		}
		st := waitState(t, d, id, providers.StateSucceeded)
		if want := ts.URL + tt.base + "/v1/files/" + id + ".mp4?"; !strings.HasPrefix(st.Outputs[0].URL, want) {
			t.Errorf("output URL with prefix %q = %q, want %q", tt.prefix, st.Outputs[0].URL, want)
		}
		resp, err := ts.Client().Get(ts.URL + tt.base + "/v1/nothing")
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET unknown route with prefix %q = %v, %v; want 404", tt.prefix, resp, err)
		}
		resp.Body.Close()
	}
}

// receiver is a webhook endpoint that verifies and records deliveries.
type receiver struct {
	t       *testing.T
	d       *Driver
	respond func(id string, n int) int // the status for the nth receipt of id
	mu      sync.Mutex
	got     []providers.Webhook
	seen    map[string]int
}

func newReceiver(t *testing.T, d *Driver, respond func(id string, n int) int) (*receiver, string) {
	rc := &receiver{t: t, d: d, respond: respond, seen: map[string]int{}}
	ts := httptest.NewServer(rc)
	t.Cleanup(ts.Close)
	return rc, ts.URL + "/hooks/sim"
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wh, err := rc.d.VerifyWebhook(r, body)
	if err != nil {
		rc.t.Errorf("VerifyWebhook(delivery) error = %v, want nil", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, wh)
	rc.seen[wh.EventID]++
	n := rc.seen[wh.EventID]
	rc.mu.Unlock()
	status := http.StatusNoContent
	if rc.respond != nil {
		status = rc.respond(wh.EventID, n)
	}
	w.WriteHeader(status)
}

func (rc *receiver) webhooks() []providers.Webhook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// states renders deliveries as "state/progress" for comparison.
func states(whs []providers.Webhook) []string {
	var s []string
	for _, wh := range whs {
		s = append(s, fmt.Sprintf("%s/%d", wh.Status.State, wh.Status.Progress))
	}
	return s
}

var inOrder = []string{"processing/25", "processing/50", "processing/75", "succeeded/100"}

func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		directive string
		respond   func(id string, n int) int
		want      []string // states received, in order
		wantIDs   int      // distinct webhook-ids
	}{
		{name: "in order", directive: "", want: inOrder, wantIDs: 4},
		{name: "duplicated", directive: "duplicate=2",
			want:    []string{"processing/25", "processing/25", "processing/50", "processing/50", "processing/75", "processing/75", "succeeded/100", "succeeded/100"},
			wantIDs: 4},
		{name: "reordered", directive: "reorder",
			want: []string{"succeeded/100", "processing/25", "processing/50", "processing/75"}, wantIDs: 4},
		{name: "retried until 2xx", directive: "",
			respond: func(_ string, n int) int { return []int{500, 429, 200}[min(n, 3)-1] },
			want:    []string{"processing/25", "processing/25", "processing/25", "processing/50", "processing/50", "processing/50", "processing/75", "processing/75", "processing/75", "succeeded/100", "succeeded/100", "succeeded/100"},
			wantIDs: 4},
		{name: "given up after 4 attempts", directive: "",
			respond: func(string, int) int { return http.StatusServiceUnavailable },
			want:    slices.Concat(slices.Repeat(inOrder[:1], 4), slices.Repeat(inOrder[1:2], 4), slices.Repeat(inOrder[2:3], 4), slices.Repeat(inOrder[3:], 4)),
			wantIDs: 4},
		{name: "410 stops deliveries", directive: "",
			respond: func(string, int) int { return http.StatusGone },
			want:    inOrder[:1], wantIDs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, d := newDriver(t, Config{WebhookBackoff: time.Millisecond})
			rc, hook := newReceiver(t, d, tt.respond)
			req := textRequest("a heron [sim latency=20ms " + tt.directive + "]")
			req.WebhookURL = hook
			id, err := d.Submit(t.Context(), req)
			if err != nil {
				t.Fatalf("Submit() error = %v", err)
			}
			eventually(t, fmt.Sprintf("received %q, want %q", states(rc.webhooks()), tt.want), func() bool {
				return len(rc.webhooks()) >= len(tt.want)
			})
			// Let a wrong extra delivery arrive before comparing.
			srv.Close()
			got := rc.webhooks()
			if !slices.Equal(states(got), tt.want) {
				t.Errorf("webhooks received = %q, want %q", states(got), tt.want)
			}
			ids := map[string]bool{}
			for i, wh := range got {
				ids[wh.EventID] = true
				if wh.Status.RequestID != id {
					t.Errorf("webhook %d RequestID = %q, want %q", i, wh.Status.RequestID, id)
				}
				// Copies and retries of one delivery carry one id.
				if i > 0 && got[i-1].Status.Progress == wh.Status.Progress && got[i-1].EventID != wh.EventID {
					t.Errorf("webhooks %d and %d of one state have ids %q and %q, want one id", i-1, i, got[i-1].EventID, wh.EventID)
				}
			}
			if len(ids) != tt.wantIDs {
				t.Errorf("distinct webhook-ids = %d, want %d", len(ids), tt.wantIDs)
			}
			if last := got[len(got)-1]; tt.name == "in order" && (len(last.Status.Outputs) != 1 || last.Status.Outputs[0].URL == "") {
				t.Errorf("terminal webhook outputs = %+v, want the video", last.Status.Outputs)
			}
		})
	}
}

func TestDropWebhooks(t *testing.T) {
	t.Parallel()
	_, d := newDriver(t, Config{})
	rc, hook := newReceiver(t, d, nil)
	dropped := textRequest("an owl [sim latency=0s drop_webhooks]")
	dropped.WebhookURL = hook
	id, err := d.Submit(t.Context(), dropped)
	if err != nil {
		t.Fatalf("Submit() error = %v", err)
	}
	waitState(t, d, id, providers.StateSucceeded) // polling still works

	// A control generation, submitted later and slower, to the same
	// receiver: once its deliveries are in, the dropped ones would be too.
	control := textRequest("an owl [sim latency=20ms]")
	control.WebhookURL = hook
	controlID, err := d.Submit(t.Context(), control)
	if err != nil {
		t.Fatalf("Submit() error = %v", err)
	}
	eventually(t, "control webhooks not received", func() bool { return len(rc.webhooks()) >= len(inOrder) })
	for _, wh := range rc.webhooks() {
		if wh.Status.RequestID != controlID {
			t.Errorf("received webhook %+v for %q with drop_webhooks, want none", wh.Status, id)
		}
	}
}

func TestCancelSendsTerminalWebhook(t *testing.T) {
	t.Parallel()
	_, d := newDriver(t, Config{})
	rc, hook := newReceiver(t, d, nil)
	req := textRequest("an owl [sim hold]")
	req.WebhookURL = hook
	id, _ := d.Submit(t.Context(), req)
	if err := d.Cancel(t.Context(), id); err != nil {
		t.Fatalf("Cancel(%q) error = %v", id, err)
	}
	eventually(t, "no canceled webhook", func() bool { return len(rc.webhooks()) == 1 })
	if got := states(rc.webhooks()); !slices.Equal(got, []string{"canceled/0"}) {
		t.Errorf("webhooks after Cancel = %q, want [canceled/0]", got)
	}
}

// TestCloseDoesNotWaitForSlowReceivers checks that Close stops generations
// in flight and webhook deliveries blocked on a receiver that never answers.
func TestCloseDoesNotWaitForSlowReceivers(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hang) })
	srv, d := newDriver(t, Config{Defaults: Behavior{Latency: time.Hour}})
	for _, prompt := range []string{"a [sim latency=0s]", "b", "c [sim hold]"} {
		req := textRequest(prompt)
		req.WebhookURL = slow.URL
		if _, err := d.Submit(t.Context(), req); err != nil {
			t.Fatalf("Submit(%q) error = %v", prompt, err)
		}
	}
	done := make(chan struct{})
	go func() {
		srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close() still running after 5s")
	}
	if _, err := d.Submit(t.Context(), textRequest("d")); providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Errorf("Submit() after Close error = %v, want code %s", err, providers.CodeUnavailable)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestOutputExpires(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	srv, d := newDriver(t, Config{Now: clock.Now, Defaults: Behavior{Hold: true}})
	tests := []struct {
		prompt string
		after  time.Duration
	}{
		{"default expiry", DefaultOutputExpiresAfter},
		{"[sim output_expires_after=90s]", 90 * time.Second},
	}
	for _, tt := range tests {
		id, err := d.Submit(t.Context(), textRequest(tt.prompt))
		if err != nil {
			t.Fatalf("Submit(%q) error = %v", tt.prompt, err)
		}
		srv.Succeed(id)
		st := waitState(t, d, id, providers.StateSucceeded)
		out := st.Outputs[0]
		if want := clock.Now().Add(tt.after); !out.ExpiresAt.Equal(want) {
			t.Errorf("%q: ExpiresAt = %s, want %s", tt.prompt, out.ExpiresAt, want)
		}
		get := func() int {
			resp, err := http.Get(out.URL)
			if err != nil {
				t.Fatalf("GET %s error = %v", out.URL, err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		clock.Add(tt.after - time.Second)
		if got := get(); got != http.StatusOK {
			t.Errorf("%q: GET output 1s before expiry = %d, want 200", tt.prompt, got)
		}
		clock.Add(time.Second)
		if got := get(); got != http.StatusGone {
			t.Errorf("%q: GET output at expiry = %d, want 410", tt.prompt, got)
		}
	}
}

// fetch GETs the output of a generation of prompt and returns the response
// headers and (up to 1 MiB of) the body.
func fetch(t *testing.T, d *Driver, srv *Server, req providers.Request) (http.Header, []byte) {
	t.Helper()
	id, err := d.Submit(t.Context(), req)
	if err != nil {
		t.Fatalf("Submit(%q) error = %v", req.Prompt, err)
	}
	srv.Succeed(id)
	st := waitState(t, d, id, providers.StateSucceeded)
	resp, err := http.Get(st.Outputs[0].URL)
	if err != nil {
		t.Fatalf("GET %s error = %v", st.Outputs[0].URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v; want 200", st.Outputs[0].URL, resp.StatusCode, err)
	}
	return resp.Header, body
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	// The default request: 5 s of 720p 16:9.
	std := mp4.Info{Duration: 5 * time.Second, Width: 1280, Height: 720, Brand: "isom"}
	stdLen := len(clip{seconds: 5, width: 1280, height: 720}.encode())
	tests := []struct {
		name    string
		prompt  string
		aspect  string
		want    mp4.Info
		wantLen int
		wantErr error
	}{
		{name: "landscape", prompt: "x", want: std, wantLen: stdLen},
		{name: "portrait", prompt: "x", aspect: "9:16", want: mp4.Info{Duration: 5 * time.Second, Width: 720, Height: 1280, Brand: "isom"}, wantLen: stdLen},
		{name: "moov at end", prompt: "x [sim moov_at_end]", want: std, wantLen: stdLen},
		{name: "padded", prompt: "x [sim output_size=100kB]", want: std, wantLen: 100_000},
		{name: "padded by less than a header", prompt: fmt.Sprintf("x [sim output_size=%d]", stdLen+3), want: std, wantLen: stdLen + 8},
		{name: "corrupt", prompt: "x [sim corrupt_output]", wantErr: mp4.ErrInvalid, wantLen: len(corruptBody)},
		{name: "corrupt and large", prompt: "x [sim corrupt_output output_size=5000]", wantErr: mp4.ErrInvalid, wantLen: 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := textRequest(tt.prompt)
			req.AspectRatio = tt.aspect
			h, body := fetch(t, d, srv, req)
			if ct := h.Get("Content-Type"); ct != "video/mp4" {
				t.Errorf("Content-Type = %q, want video/mp4", ct)
			}
			if cl := h.Get("Content-Length"); cl != fmt.Sprint(len(body)) || len(body) != tt.wantLen {
				t.Errorf("Content-Length = %s with %d bytes, want %d", cl, len(body), tt.wantLen)
			}
			got, err := mp4.ReadInfo(bytes.NewReader(body), int64(len(body)))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("mp4.ReadInfo(output) error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("mp4.ReadInfo(output) = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// headReader keeps the first len(head) bytes it reads and counts the rest:
// an io.ReaderAt over the head of a file whose moov comes first.
type headReader struct {
	head []byte
	n    int64
}

func (h *headReader) Write(p []byte) (int, error) {
	if h.n < int64(len(h.head)) {
		copy(h.head[h.n:], p)
	}
	h.n += int64(len(p))
	return len(p), nil
}

// TestLargeOutputStreams downloads a 200 MB output and checks that neither
// side held it in memory. It does not call t.Parallel: TotalAlloc is
// process-wide, and parallel tests would add their allocations to it.
func TestLargeOutputStreams(t *testing.T) {
	const size = 200 << 20
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}, MaxOutputSize: size})
	id, err := d.Submit(t.Context(), textRequest("x [sim output_size=200MiB]"))
	if err != nil {
		t.Fatalf("Submit() error = %v", err)
	}
	srv.Succeed(id)
	st := waitState(t, d, id, providers.StateSucceeded)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.Outputs[0].URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s error = %v", st.Outputs[0].URL, err)
	}
	defer resp.Body.Close()
	w := &headReader{head: make([]byte, 64<<10)}
	if _, err := io.Copy(w, resp.Body); err != nil {
		t.Fatalf("reading the output: %v", err)
	}
	runtime.ReadMemStats(&after)

	if resp.ContentLength != size || w.n != size {
		t.Errorf("output Content-Length = %d with %d bytes, want %d", resp.ContentLength, w.n, size)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("streaming %d bytes allocated %d bytes; heap in use %d before, %d after", size, alloc, before.HeapInuse, after.HeapInuse)
	if alloc > 16<<20 {
		t.Errorf("streaming a %d-byte output allocated %d bytes, want at most 16 MiB", size, alloc)
	}
	info, err := mp4.ReadInfo(bytes.NewReader(w.head), w.n)
	if want := (mp4.Info{Duration: 5 * time.Second, Width: 1280, Height: 720, Brand: "isom"}); err != nil || info != want {
		t.Errorf("mp4.ReadInfo(200 MB output) = %+v, %v; want %+v, nil", info, err, want)
	}
}

func TestHeadOutput(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}, MaxOutputSize: 1 << 30})
	id, _ := d.Submit(t.Context(), textRequest("x [sim output_size=1GB]"))
	srv.Succeed(id)
	st := waitState(t, d, id, providers.StateSucceeded)
	resp, err := http.Head(st.Outputs[0].URL)
	if err != nil {
		t.Fatalf("HEAD %s error = %v", st.Outputs[0].URL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 1e9 {
		t.Errorf("HEAD output = %d, Content-Length %d; want 200, %d", resp.StatusCode, resp.ContentLength, int64(1e9))
	}
}

func TestFileNotFound(t *testing.T) {
	t.Parallel()
	_, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	id, _ := d.Submit(t.Context(), textRequest("x"))
	base := strings.TrimSuffix(d.base, "/sim") + "/sim/v1/files/"
	tests := []string{"gen_nothing.mp4", id + ".mp4" /* not finished */, id}
	for _, name := range tests {
		resp, err := http.Get(base + name)
		if err != nil {
			t.Fatalf("GET %s error = %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET files/%s = %d, want 404", name, resp.StatusCode)
		}
	}
}

func TestParseDirectives(t *testing.T) {
	t.Parallel()
	base := Behavior{Latency: 8 * time.Second, RetryAfter: time.Second, OutputExpiresAfter: time.Hour, ReorderWebhooks: true}
	tests := []struct {
		prompt  string
		want    Behavior
		wantErr string
	}{
		{prompt: "a plain prompt", want: base},
		{prompt: "[simulate this] [sim]", want: base},
		{prompt: "a fox [sim latency=0s fail=content_policy]", want: with(base, func(b *Behavior) { b.Latency = 0; b.Fail = CodeContentPolicy })},
		{prompt: "[sim latency=1s] then [sim latency=2s hold]", want: with(base, func(b *Behavior) { b.Latency = 2 * time.Second; b.Hold = true })},
		{prompt: "[sim submit_error=429:3 retry_after=5s]", want: with(base, func(b *Behavior) {
			b.SubmitError, b.SubmitErrorCount, b.RetryAfter = 429, 3, 5*time.Second
		})},
		{prompt: "[sim submit_error=502]", want: with(base, func(b *Behavior) { b.SubmitError = 502 })},
		{prompt: "[sim duplicate=3 reorder=false drop_webhooks]", want: with(base, func(b *Behavior) {
			b.WebhookCopies, b.ReorderWebhooks, b.DropWebhooks = 3, false, true
		})},
		{prompt: "[sim output_expires_after=2m output_size=200MB corrupt_output moov_at_end]", want: with(base, func(b *Behavior) {
			b.OutputExpiresAfter, b.OutputSize, b.CorruptOutput, b.MoovAtEnd = 2*time.Minute, 200e6, true, true
		})},
		{prompt: "[sim output_size=3MiB]", want: with(base, func(b *Behavior) { b.OutputSize = 3 << 20 })},
		{prompt: "[sim output_size=1234]", want: with(base, func(b *Behavior) { b.OutputSize = 1234 })},
		{prompt: "[sim\tlatency=5ms\n]", want: with(base, func(b *Behavior) { b.Latency = 5 * time.Millisecond })},
		{prompt: "[sim latncy=1s]", wantErr: `sim directive: unknown setting; the known ones are latency,`},
		{prompt: "[sim fast]", wantErr: `sim directive: unknown setting`},
		{prompt: "[sim latency=soon]", wantErr: `sim directive latency: malformed value`},
		{prompt: "[sim latency=2h]", wantErr: "sim directive: latency: not between 0s and 1h0m0s"},
		{prompt: "[sim latency=-1s]", wantErr: "latency: not between"},
		{prompt: "[sim fail=sometimes]", wantErr: `fail: not one of`},
		{prompt: "[sim submit_error=404]", wantErr: "submit_error: not 429 or 500..504"},
		{prompt: "[sim submit_error=500:0]", wantErr: "COUNT ≥ 1"},
		{prompt: "[sim duplicate=11]", wantErr: "duplicate: not between"},
		{prompt: "[sim output_size=17GiB]", wantErr: "want a byte count up to 16GiB"},
		{prompt: "[sim output_size=lots]", wantErr: "want a byte count"},
		{prompt: "[sim hold=perhaps]", wantErr: "want true or false"},
	}
	for _, tt := range tests {
		got, err := ParseDirectives(tt.prompt, base)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDirectives(%q) error = %v, want one containing %q", tt.prompt, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDirectives(%q) = %+v, %v; want %+v, nil", tt.prompt, got, err, tt.want)
		}
	}
}

func with(b Behavior, edit func(*Behavior)) Behavior {
	edit(&b)
	return b
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero", Config{}, false},
		{"full", Config{Prefix: "/sim", APIKey: "k", WebhookSecret: testSecret, PublicURL: "https://vidgate.example"}, false},
		{"bad secret", Config{WebhookSecret: "whsec_???"}, true},
		{"relative public URL", Config{PublicURL: "vidgate.example"}, true},
		{"bad default", Config{Defaults: Behavior{Fail: "often"}}, true},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("Config(%s).Validate() = %v, want error %t", tt.name, err, tt.wantErr)
		}
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{PublicURL: "https://vidgate.example/", Defaults: Behavior{Hold: true}})
	id, _ := d.Submit(t.Context(), textRequest("x"))
	srv.Succeed(id)
	st := waitState(t, d, id, providers.StateSucceeded)
	if want := "https://vidgate.example/sim/v1/files/" + id + ".mp4?"; !strings.HasPrefix(st.Outputs[0].URL, want) {
		t.Errorf("output URL = %q, want %q", st.Outputs[0].URL, want)
	}
}

func TestServerControlErrors(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	if err := srv.Succeed("gen_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Succeed(unknown) = %v, want %v", err, ErrNotFound)
	}
	if _, err := srv.WebhookRequest("gen_none", "http://x.test/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("WebhookRequest(unknown) = %v, want %v", err, ErrNotFound)
	}
	id, _ := d.Submit(t.Context(), textRequest("x"))
	if err := srv.Fail(id, CodeContentPolicy); err != nil {
		t.Errorf("Fail(%q) = %v, want nil", id, err)
	}
	if err := srv.Succeed(id); !errors.Is(err, ErrFinished) {
		t.Errorf("Succeed(failed generation) = %v, want %v", err, ErrFinished)
	}
}

func TestVerifyWebhookErrors(t *testing.T) {
	t.Parallel()
	const newSecret = "whsec_c2VjcmV0LW51bWJlci10d28tZm9yLXJvdGF0aW9u"
	signer, err := stdwebhooks.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"id":"gen_1","status":"processing","progress":50}`
	tests := []struct {
		name    string
		secrets string
		body    string
		at      time.Time
		want    providers.Code
	}{
		{name: "valid", secrets: testSecret, body: good},
		{name: "rotation: old secret still listed", secrets: newSecret + " " + testSecret, body: good},
		{name: "no secret configured", secrets: "", body: good, want: providers.CodeUnauthenticated},
		{name: "malformed secret", secrets: "whsec_???", body: good, want: providers.CodeUnauthenticated},
		{name: "other secret", secrets: newSecret, body: good, want: providers.CodeUnauthenticated},
		{name: "replayed after 10 minutes", secrets: testSecret, body: good, at: time.Now().Add(-10 * time.Minute), want: providers.CodeUnauthenticated},
		{name: "not JSON", secrets: testSecret, body: "<html>", want: providers.CodeInvalidInput},
		{name: "unknown status", secrets: testSecret, body: `{"id":"gen_1","status":"dreaming"}`, want: providers.CodeInvalidInput},
		{name: "no id", secrets: testSecret, body: `{"status":"queued"}`, want: providers.CodeInvalidInput},
		{name: "succeeded without output", secrets: testSecret, body: `{"id":"gen_1","status":"succeeded"}`, want: providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := NewDriver("http://sim.invalid", "", tt.secrets, nil)
			at := tt.at
			if at.IsZero() {
				at = time.Now()
			}
			r := httptest.NewRequest(http.MethodPost, "/hooks/sim", nil)
			signer.SetHeaders(r.Header, "msg_1", at, []byte(tt.body))
			wh, err := d.VerifyWebhook(r, []byte(tt.body))
			if got := providers.ErrorCode(err); got != tt.want {
				t.Fatalf("VerifyWebhook(%s) = %+v, %v; want code %q", tt.name, wh, err, tt.want)
			}
			if err == nil && (wh.EventID != "msg_1" || wh.Status.RequestID != "gen_1" || wh.Status.State != providers.StateProcessing || wh.Status.Progress != 50) {
				t.Errorf("VerifyWebhook(%s) = %+v, want msg_1 with gen_1 processing at 50", tt.name, wh)
			}
		})
	}
}

func TestDriverUnavailable(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there any more
	d := NewDriver(url, "", testSecret, nil)
	if _, err := d.Submit(t.Context(), textRequest("x")); providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Errorf("Submit() to a closed server error = %v, want code %s", err, providers.CodeUnavailable)
	}
	// A proxy's HTML error page classifies by status.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	d = NewDriver(proxy.URL, "", testSecret, proxy.Client())
	if _, err := d.Status(t.Context(), "gen_1"); providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Errorf("Status() through a failing proxy error = %v, want code %s", err, providers.CodeUnavailable)
	}
	// A deadline is a transient failure.
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := d.Status(ctx, "gen_1"); providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Errorf("Status() past its deadline error = %v, want code %s", err, providers.CodeUnavailable)
	}
}

// slow_submit starts the generation and answers late: a client that gives
// up first and submits again with the same key gets the same generation.
func TestSlowSubmitDirective(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{})
	req := textRequest("a heron [sim slow_submit=2s:1 hold]")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := d.Submit(ctx, req)
	cancel()
	if err == nil || providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Fatalf("Submit() with a 200ms deadline = %v, want an unavailable error", err)
	}
	if got := srv.Generations(); got != 1 {
		t.Fatalf("Generations() after the timed-out submit = %d, want 1 (the provider accepted the work)", got)
	}
	start := time.Now()
	id, err := d.Submit(t.Context(), req)
	if err != nil || id == "" {
		t.Fatalf("second Submit() = %q, %v", id, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("second Submit() took %v; only the first submission is slow", took)
	}
	if submits, gens := srv.KeyCounts(req.IdempotencyKey); submits != 2 || gens != 1 {
		t.Errorf("KeyCounts = %d, %d; want 2 submissions, 1 generation", submits, gens)
	}
	if _, err := ParseDirectives("x [sim slow_submit=fast]", Behavior{}); err == nil {
		t.Error("slow_submit=fast was accepted")
	}
}
