package runway

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func textRequest() providers.Request {
	return providers.Request{
		Workflow:        providers.WorkflowTextToVideo,
		Prompt:          "A paper boat drifting down a rain-soaked street, macro lens.",
		DurationSeconds: 5,
		AspectRatio:     "16:9",
		Resolution:      "720p",
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Conn: providers.Conn{APIKey: "key"}}, true},
		{"no key", Config{}, false},
		{"blank key", Config{Conn: providers.Conn{APIKey: "  "}}, false},
		{"relative base", Config{Conn: providers.Conn{APIKey: "key", BaseURL: "/v1"}}, false},
		{"ftp base", Config{Conn: providers.Conn{APIKey: "key", BaseURL: "ftp://runway.example"}}, false},
		{"negative timeout", Config{Conn: providers.Conn{APIKey: "key", Timeout: -time.Second}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v, %v; want ok %v", tt.cfg, d, err, tt.ok)
			}
			if tt.ok && (d.api.BaseString() != DefaultBaseURL || d.api.Timeout() != DefaultTimeout || d.HonorsIdempotencyKeys()) {
				t.Errorf("New(%+v) = base %q, timeout %s, keys %v; want %q, %s, false", tt.cfg, d.api.BaseString(), d.api.Timeout(), d.HonorsIdempotencyKeys(), DefaultBaseURL, DefaultTimeout)
			}
		})
	}
}

func TestRatioFor(t *testing.T) {
	t.Parallel()
	tti, itv := providers.WorkflowTextToVideo, providers.WorkflowImageToVideo
	tests := []struct {
		model      string
		wf         providers.Workflow
		aspect     string
		resolution string
		want       string // "" means CodeInvalidInput
	}{
		{"gen4_turbo", itv, "16:9", "720p", "1280:720"},
		{"gen4_turbo", itv, "9:16", "720p", "720:1280"},
		{"gen4_turbo", itv, "1:1", "720p", "960:960"},
		{"gen4_turbo", itv, "4:3", "720p", "1104:832"},
		{"gen4_turbo", itv, "3:4", "720p", "832:1104"},
		{"gen4_turbo", itv, "21:9", "720p", "1584:672"},
		{"gen4_turbo", itv, "16:9", "1080p", ""}, // gen4 makes 720p only
		{"gen4_turbo", tti, "16:9", "720p", ""},  // image-to-video only
		{"gen4.5", tti, "16:9", "720p", "1280:720"},
		{"gen4.5", tti, "9:16", "720p", "720:1280"},
		{"gen4.5", tti, "1:1", "720p", ""}, // text-to-video: 16:9 and 9:16 only
		{"gen4.5", itv, "21:9", "720p", "1584:672"},
		{"veo3.1", tti, "16:9", "1080p", "1920:1080"},
		{"veo3.1", itv, "9:16", "1080p", "1080:1920"},
		{"veo3.1", tti, "4:3", "720p", ""},
		{"veo3", tti, "9:16", "720p", "720:1280"},
		{"future_model", tti, "4:3", "720p", "1104:832"}, // unknown model: Runway judges
		{"future_model", tti, "21:9", "1080p", ""},       // no Runway size at all
		{"gen4_turbo", itv, "2:1", "720p", ""},
		{"gen4_turbo", itv, "16:9", "4k", ""},
	}
	for _, tt := range tests {
		got, err := ratioFor(tt.model, tt.wf, tt.aspect, tt.resolution)
		if tt.want == "" {
			if providers.ErrorCode(err) != providers.CodeInvalidInput {
				t.Errorf("ratioFor(%s, %s, %s, %s) = %q, %v; want code %s", tt.model, tt.wf, tt.aspect, tt.resolution, got, err, providers.CodeInvalidInput)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("ratioFor(%s, %s, %s, %s) = %q, %v; want %q", tt.model, tt.wf, tt.aspect, tt.resolution, got, err, tt.want)
		}
	}
}

// TestDurationFor: a length the model makes is sent as it is; any other is
// refused with the lengths the model does make, never rounded up into a
// longer clip that Runway would bill (the old rounding sent 10 s for 6 s).
func TestDurationFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model string
		secs  int
		want  int    // 0 means CodeInvalidInput
		says  string // what the refusal names
	}{
		{"gen4_turbo", 5, 5, ""},
		{"gen4_turbo", 2, 2, ""},
		{"gen4_turbo", 6, 6, ""},
		{"gen4_turbo", 10, 10, ""},
		{"gen4_turbo", 11, 0, "2 to 10 seconds"},
		{"gen4.5", 7, 7, ""},
		{"gen4.5", 1, 0, "2 to 10 seconds"},
		{"gen4.5", 30, 0, "2 to 10 seconds"},
		{"gen3a_turbo", 10, 10, ""},
		{"gen3a_turbo", 6, 0, "5 or 10 seconds"},
		{"veo3.1", 6, 6, ""},
		{"veo3.1", 5, 0, "4, 6 or 8 seconds"},
		{"veo3.1_fast", 7, 0, "4, 6 or 8 seconds"},
		{"veo3", 8, 8, ""},
		{"veo3", 4, 0, "model veo3 makes videos of 8 seconds, not 4"},
		{"future_model", 17, 17, ""},
		{"gen4.5", 0, 0, "positive"},
	}
	for _, tt := range tests {
		got, err := durationFor(tt.model, tt.secs)
		if tt.want == 0 {
			if providers.ErrorCode(err) != providers.CodeInvalidInput || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("durationFor(%s, %d) = %d, %v; want code %s naming %q", tt.model, tt.secs, got, err, providers.CodeInvalidInput, tt.says)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("durationFor(%s, %d) = %d, %v; want %d", tt.model, tt.secs, got, err, tt.want)
		}
	}
}

// A duration the model makes reaches Runway unchanged, and one it does not
// make is refused before any call, naming what the model makes: a 6 s
// request for gen4_turbo is no longer billed as 10 s, nor 5 s on veo3.1
// as 6 s. Every size and length each known model makes is accepted by the
// fake, which validates per model from the SDK's schemas.
func TestSubmitDurationsPerModel(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	for model, spec := range models {
		for _, wf := range []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo} {
			offered := spec.text
			if wf == providers.WorkflowImageToVideo {
				offered = spec.image
			}
			var aspect, resolution string
			for _, k := range [][2]string{{"16:9", "720p"}, {"9:16", "1080p"}, {"1:1", "720p"}} {
				if slices.Contains(offered, ratios[k]) {
					aspect, resolution = k[0], k[1]
					break
				}
			}
			if aspect == "" {
				continue // gen3a_turbo: none of our sizes
			}
			for secs := 1; secs <= 12; secs++ {
				req := textRequest()
				req.Workflow, req.Model, req.DurationSeconds, req.AspectRatio, req.Resolution = wf, model, secs, aspect, resolution
				if wf == providers.WorkflowImageToVideo {
					req.SourceImageURL = "https://blob.example/src.png"
				}
				before := len(f.seen())
				_, err := d.Submit(t.Context(), req)
				calls := f.seen()[before:]
				if !slices.Contains(spec.durations, secs) {
					if providers.ErrorCode(err) != providers.CodeInvalidInput || len(calls) != 0 {
						t.Errorf("Submit(%s %s %d s) = %v after %d calls; want CodeInvalidInput and no call", model, wf, secs, err, len(calls))
					}
					continue
				}
				if err != nil {
					t.Errorf("Submit(%s %s %d s) error = %v", model, wf, secs, err)
					continue
				}
				var body struct {
					Duration int `json:"duration"`
				}
				if len(calls) != 1 || json.Unmarshal(calls[0].Body, &body) != nil || body.Duration != secs {
					t.Errorf("Submit(%s %s %d s) sent %+v, want one call with duration %d", model, wf, secs, calls, secs)
				}
			}
		}
	}
}

func TestFailureClass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		want providers.Code
	}{
		{"SAFETY.INPUT.TEXT", providers.CodeContentPolicy},
		{"SAFETY.INPUT.IMAGE", providers.CodeContentPolicy},
		{"SAFETY.OUTPUT.VIDEO", providers.CodeContentPolicy},
		{"SAFETY", providers.CodeContentPolicy},
		{"INPUT_PREPROCESSING.SAFETY.TEXT", providers.CodeContentPolicy},
		{"INPUT_PREPROCESSING.INTERNAL", providers.CodeUnavailable},
		{"INTERNAL.BAD_OUTPUT.CODE01", providers.CodeUnavailable},
		{"INTERNAL", providers.CodeUnavailable},
		{"ASSET.INVALID", providers.CodeInvalidInput},
		{"SAFETYNET.X", providers.CodeUnknown}, // a prefix, not a segment
		{"", providers.CodeUnknown},
		{"SOMETHING.NEW", providers.CodeUnknown},
	}
	for _, tt := range tests {
		if got := failureClass(tt.code); got != tt.want {
			t.Errorf("failureClass(%q) = %s, want %s", tt.code, got, tt.want)
		}
	}
}

// TestStatusMapping feeds each task fixture through a fake Runway and
// checks the portable status.
func TestStatusMapping(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 10, 2, 9, 14, 7, 0, time.UTC)
	tests := []struct {
		fixture    string
		progress   float64
		state      providers.State
		wantProg   int
		code       providers.Code
		vendorCode string
		outputs    int
	}{
		{"task_pending.json", 0, providers.StateQueued, 0, "", "", 0},
		{"task_throttled.json", 0, providers.StateQueued, 0, "", "", 0},
		{"task_running.json", 0.4178, providers.StateProcessing, 42, "", "", 0},
		{"task_running.json", 1, providers.StateProcessing, 99, "", "", 0},
		{"task_succeeded.json", 0, providers.StateSucceeded, 0, "", "", 1},
		{"task_failed_safety_input_text.json", 0, providers.StateFailed, 0, providers.CodeContentPolicy, "SAFETY.INPUT.TEXT", 0},
		{"task_failed_safety_output.json", 0, providers.StateFailed, 0, providers.CodeContentPolicy, "SAFETY.OUTPUT.VIDEO", 0},
		{"task_failed_input_preprocessing_safety.json", 0, providers.StateFailed, 0, providers.CodeContentPolicy, "INPUT_PREPROCESSING.SAFETY.TEXT", 0},
		{"task_failed_internal_bad_output.json", 0, providers.StateFailed, 0, providers.CodeUnavailable, "INTERNAL.BAD_OUTPUT.CODE01", 0},
		{"task_failed_asset_invalid.json", 0, providers.StateFailed, 0, providers.CodeInvalidInput, "ASSET.INVALID", 0},
		{"task_failed_no_code.json", 0, providers.StateFailed, 0, providers.CodeUnknown, "", 0},
		{"task_cancelled.json", 0, providers.StateCanceled, 0, "", "", 0},
	}
	f := newFake(t)
	d := f.driver(t, Config{})
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			id := "task-" + strings.TrimSuffix(tt.fixture, ".json") + "-" + strings.ReplaceAll(time.Duration(tt.progress*1e9).String(), ".", "_")
			f.put(id, tt.fixture, created, tt.progress)
			st, err := d.Status(t.Context(), id)
			if err != nil {
				t.Fatalf("Status(%s) error = %v", tt.fixture, err)
			}
			if st.RequestID != id || st.State != tt.state || st.Progress != tt.wantProg || len(st.Outputs) != tt.outputs {
				t.Errorf("Status(%s) = %+v, want id %q, state %s, progress %d, %d outputs", tt.fixture, st, id, tt.state, tt.wantProg, tt.outputs)
			}
			switch {
			case tt.code == "" && st.Error != nil:
				t.Errorf("Status(%s).Error = %v, want nil", tt.fixture, st.Error)
			case tt.code != "" && (st.Error == nil || st.Error.Code != tt.code || st.Error.VendorCode != tt.vendorCode):
				t.Errorf("Status(%s).Error = %+v, want code %s, vendor code %q", tt.fixture, st.Error, tt.code, tt.vendorCode)
			}
		})
	}
}

// Runway's output URLs expire 24–48 h after they are issued and are
// renewed by reading the task again, so the driver states no expiry: the
// old createdAt+24h called the URL of a task finished two days ago dead
// (and the job failed) though a read renews it. Each read here gives a
// fresh URL.
func TestOutputsCarryNoInventedExpiry(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	created := time.Now().Add(-72 * time.Hour).UTC()
	f.put("done", "task_succeeded.json", created, 0)
	var urls []string
	for range 2 {
		st, err := d.Status(t.Context(), "done")
		if err != nil || len(st.Outputs) != 1 {
			t.Fatalf("Status(done) = %+v, %v; want one output", st, err)
		}
		o := st.Outputs[0]
		if !o.ExpiresAt.IsZero() {
			t.Errorf("Status(done).Outputs[0].ExpiresAt = %s, want zero (Runway states none; a read renews the URL)", o.ExpiresAt)
		}
		if o.Kind != providers.OutputVideo || o.ContentType != "video/mp4" || !strings.HasPrefix(o.URL, f.srv.URL+"/files/") {
			t.Errorf("Status(done).Outputs[0] = %+v, want a video/mp4 video at the fake's /files/", o)
		}
		urls = append(urls, o.URL)
	}
	if urls[0] == urls[1] {
		t.Errorf("two reads gave the same URL %s; the fake should renew it as Runway does", urls[0])
	}
}

func TestSubmitBody(t *testing.T) {
	t.Parallel()
	image := textRequest()
	image.Workflow, image.SourceImageURL, image.AspectRatio, image.DurationSeconds = providers.WorkflowImageToVideo, "https://blob.example/src.png?sig=abc", "4:3", 7
	veo := textRequest()
	veo.Model, veo.Resolution, veo.AspectRatio, veo.DurationSeconds = "veo3.1", "1080p", "9:16", 6
	seeded := textRequest()
	seed, audio := int64(4294967295), false
	seeded.Seed = &seed
	withAudio := veo
	withAudio.Audio = &audio
	tests := []struct {
		name string
		req  providers.Request
		path string
		want map[string]any
	}{
		{"text", textRequest(), "/v1/text_to_video", map[string]any{
			"model": "gen4.5", "promptText": textRequest().Prompt, "ratio": "1280:720", "duration": 5.0}},
		{"image", image, "/v1/image_to_video", map[string]any{
			"model": "gen4_turbo", "promptText": image.Prompt, "promptImage": image.SourceImageURL, "ratio": "1104:832", "duration": 7.0}},
		{"veo via runway", veo, "/v1/text_to_video", map[string]any{
			"model": "veo3.1", "promptText": veo.Prompt, "ratio": "1080:1920", "duration": 6.0}},
		{"seed", seeded, "/v1/text_to_video", map[string]any{
			"model": "gen4.5", "promptText": seeded.Prompt, "ratio": "1280:720", "duration": 5.0, "seed": 4294967295.0}},
		{"audio off", withAudio, "/v1/text_to_video", map[string]any{
			"model": "veo3.1", "promptText": veo.Prompt, "ratio": "1080:1920", "duration": 6.0, "audio": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{})
			if _, err := d.Submit(t.Context(), tt.req); err != nil {
				t.Fatalf("Submit(%+v) error = %v", tt.req, err)
			}
			reqs := f.seen()
			if len(reqs) != 1 || reqs[0].Path != tt.path {
				t.Fatalf("Submit(%+v) sent %+v, want one POST %s", tt.req, reqs, tt.path)
			}
			var got map[string]any
			if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("Submit(%+v) body = %v, want %v", tt.req, got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("Submit(%+v) body[%q] = %v, want %v", tt.req, k, got[k], v)
				}
			}
		})
	}
}

// TestSubmitRefusesBeforeCalling: what Runway cannot make is refused
// without a call (and without a charge).
func TestSubmitRefusesBeforeCalling(t *testing.T) {
	t.Parallel()
	mod := func(m func(*providers.Request)) providers.Request {
		r := textRequest()
		m(&r)
		return r
	}
	tests := []struct {
		name string
		req  providers.Request
		want providers.Code
	}{
		{"21:9 at 1080p", mod(func(r *providers.Request) { r.AspectRatio, r.Resolution = "21:9", "1080p" }), providers.CodeInvalidInput},
		{"gen4.5 text 1:1", mod(func(r *providers.Request) { r.AspectRatio = "1:1" }), providers.CodeInvalidInput},
		{"gen4.5 1080p", mod(func(r *providers.Request) { r.Resolution = "1080p" }), providers.CodeInvalidInput},
		{"too long", mod(func(r *providers.Request) { r.DurationSeconds = 30 }), providers.CodeInvalidInput},
		{"image without url", mod(func(r *providers.Request) { r.Workflow = providers.WorkflowImageToVideo }), providers.CodeInvalidInput},
		{"gen4_turbo text", mod(func(r *providers.Request) { r.Model = "gen4_turbo" }), providers.CodeInvalidInput},
		{"unknown workflow", mod(func(r *providers.Request) { r.Workflow = "video_to_video" }), providers.CodeUnimplemented},
		{"audio on gen4.5", mod(func(r *providers.Request) { r.Audio = new(bool) }), providers.CodeInvalidInput},
		{"negative prompt", mod(func(r *providers.Request) { r.NegativePrompt = "fog" }), providers.CodeInvalidInput},
		{"seed on veo3", mod(func(r *providers.Request) {
			r.Model, r.DurationSeconds, r.Seed = "veo3", 8, new(int64)
		}), providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{})
			id, err := d.Submit(t.Context(), tt.req)
			if providers.ErrorCode(err) != tt.want {
				t.Errorf("Submit(%+v) = %q, %v; want code %s", tt.req, id, err, tt.want)
			}
			if n := len(f.seen()); n != 0 {
				t.Errorf("Submit(%+v) made %d calls, want none", tt.req, n)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 10, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		reply      *fakeReply // the next create's answer
		key        string     // API key the driver sends; "" the right one
		hang       bool
		op         string // "submit" (default) or "status"
		code       providers.Code
		retryAfter time.Duration
	}{
		{name: "429 seconds", reply: &fakeReply{status: 429, fixture: "error_429.json", retryAfter: "7"}, code: providers.CodeRateLimited, retryAfter: 7 * time.Second},
		{name: "429 date", reply: &fakeReply{status: 429, fixture: "error_429.json", retryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)}, code: providers.CodeRateLimited, retryAfter: 90 * time.Second},
		{name: "429 no header", reply: &fakeReply{status: 429, fixture: "error_429.json"}, code: providers.CodeRateLimited},
		{name: "500", reply: &fakeReply{status: 500, fixture: "error_503.json"}, code: providers.CodeUnavailable},
		{name: "502", reply: &fakeReply{status: 502, fixture: "error_503.json"}, code: providers.CodeUnavailable},
		{name: "503", reply: &fakeReply{status: 503, fixture: "error_503.json"}, code: providers.CodeUnavailable},
		{name: "504", reply: &fakeReply{status: 504, fixture: "error_503.json"}, code: providers.CodeUnavailable},
		{name: "400", reply: &fakeReply{status: 400, fixture: "error_400_ratio.json"}, code: providers.CodeInvalidInput},
		{name: "401", key: "key_wrong", code: providers.CodeUnauthenticated},
		{name: "401 on status", key: "key_wrong", op: "status", code: providers.CodeUnauthenticated},
		{name: "404 on status", op: "status", code: providers.CodeNotFound},
		{name: "timeout", hang: true, code: providers.CodeUnavailable},
		{name: "timeout on status", hang: true, op: "status", code: providers.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{Conn: providers.Conn{APIKey: tt.key, Now: func() time.Time { return now }, Timeout: 100 * time.Millisecond}})
			if tt.reply != nil {
				f.failNextCreate(*tt.reply)
			}
			f.setHang(tt.hang)
			var err error
			if tt.op == "status" {
				_, err = d.Status(t.Context(), "6b3cd1a2-0000-0000-0000-000000000000")
			} else {
				_, err = d.Submit(t.Context(), textRequest())
			}
			if got := providers.ErrorCode(err); got != tt.code {
				t.Errorf("%s: error = %v (code %s), want code %s", tt.op, err, got, tt.code)
			}
			if got := providers.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("RetryAfter(%v) = %s, want %s", err, got, tt.retryAfter)
			}
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Errorf("error = %T, want a *providers.Error", err)
			} else if strings.Contains(e.Error(), fakeKey) || strings.Contains(e.Error(), "key_wrong") {
				t.Errorf("error %q contains the API key", e.Error())
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	f.srv.Close()
	if _, err := d.Submit(t.Context(), textRequest()); providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Errorf("Submit() to a closed server error = %v, want code %s", err, providers.CodeUnavailable)
	}
}

func TestPromptNotInErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	req := textRequest()
	req.Prompt = strings.Repeat("a very long prompt ", 60) // over 1000 characters: Runway quotes nothing, but might
	_, err := d.Submit(t.Context(), req)
	if providers.ErrorCode(err) != providers.CodeInvalidInput {
		t.Fatalf("Submit(long prompt) error = %v, want code %s", err, providers.CodeInvalidInput)
	}
	// A vendor that does quote it back: drivertest's Redaction case.
	if strings.Contains(err.Error(), req.Prompt[:40]) {
		t.Errorf("Submit(long prompt) error = %q, want the prompt kept out", err)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fixture   string // "" means no such task
		wantCode  providers.Code
		deletes   bool
		wantState providers.State // after Cancel
	}{
		{"pending", "task_pending.json", "", true, providers.StateCanceled},
		{"throttled", "task_throttled.json", "", true, providers.StateCanceled},
		{"running", "task_running.json", "", true, providers.StateCanceled},
		{"succeeded", "task_succeeded.json", "", false, providers.StateSucceeded},
		{"failed", "task_failed_safety_input_text.json", "", false, providers.StateFailed},
		{"cancelled", "task_cancelled.json", "", false, providers.StateCanceled},
		{"unknown", "", providers.CodeNotFound, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{})
			const id = "6b3cd1a2-9f0e-4d7a-8a55-1e2f3c4d5e6f"
			if tt.fixture != "" {
				f.put(id, tt.fixture, time.Now(), 0.5)
			}
			err := d.Cancel(t.Context(), id)
			if providers.ErrorCode(err) != tt.wantCode {
				t.Fatalf("Cancel(%s) error = %v, want code %q", tt.name, err, tt.wantCode)
			}
			deleted := false
			for _, r := range f.seen() {
				deleted = deleted || r.Method == http.MethodDelete
			}
			if deleted != tt.deletes {
				t.Errorf("Cancel(%s) sent DELETE = %v, want %v (a DELETE deletes a finished task and its outputs)", tt.name, deleted, tt.deletes)
			}
			if tt.wantState == "" {
				return
			}
			if st, err := d.Status(t.Context(), id); err != nil || st.State != tt.wantState {
				t.Errorf("Status(%s) after Cancel = %+v, %v; want state %s", tt.name, st, err, tt.wantState)
			}
			if err := d.Cancel(t.Context(), id); err != nil {
				t.Errorf("Cancel(%s) again error = %v, want nil", tt.name, err)
			}
		})
	}
}
