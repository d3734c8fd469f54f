package luma

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func textRequest() providers.Request {
	return providers.Request{
		Workflow:        providers.WorkflowTextToVideo,
		Prompt:          "A lighthouse on a cliff at dusk, waves breaking below, slow aerial orbit.",
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
		{"with token", Config{Conn: providers.Conn{APIKey: "key"}, CallbackToken: fakeToken}, true},
		{"no key", Config{CallbackToken: fakeToken}, false},
		{"short token", Config{Conn: providers.Conn{APIKey: "key"}, CallbackToken: "secret"}, false},
		{"bad base", Config{Conn: providers.Conn{APIKey: "key", BaseURL: "api.lumalabs.ai"}}, false},
		{"negative timeout", Config{Conn: providers.Conn{APIKey: "key", Timeout: -1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v, %v; want ok %v", tt.cfg, d, err, tt.ok)
			}
			if tt.ok && (d.api.BaseString() != DefaultBaseURL || d.models[providers.WorkflowTextToVideo] != DefaultModel || d.HonorsIdempotencyKeys()) {
				t.Errorf("New(%+v) = base %q, model %q, keys %v; want %q, %q, false", tt.cfg, d.api.BaseString(), d.models[providers.WorkflowTextToVideo], d.HonorsIdempotencyKeys(), DefaultBaseURL, DefaultModel)
			}
		})
	}
}

func TestFailureClass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason string
		want   providers.Code
	}{
		{"Advanced moderation failed", providers.CodeContentPolicy},
		{"400: prompt not allowed because advanced moderation failed", providers.CodeContentPolicy},
		{"Prompt violates our content policy", providers.CodeContentPolicy},
		{"Image flagged by safety filter", providers.CodeContentPolicy},
		{"NSFW content detected", providers.CodeContentPolicy},
		{"400: failed to moderate image", providers.CodeInvalidInput}, // Luma could not fetch the image
		{"400: keyframe image has an unsupported format", providers.CodeInvalidInput},
		{"Invalid keyframe url", providers.CodeInvalidInput},
		{"failed to fetch image from url", providers.CodeInvalidInput},
		{"500: internal server error", providers.CodeUnavailable},
		{"Request timed out", providers.CodeUnavailable},
		{"5 seconds is too short", providers.CodeUnknown}, // not a 5xx
		{"Generation failed", providers.CodeUnknown},
		{"", providers.CodeUnknown},
	}
	for _, tt := range tests {
		if got := failureClass(tt.reason); got != tt.want {
			t.Errorf("failureClass(%q) = %s, want %s", tt.reason, got, tt.want)
		}
	}
}

func TestDurationFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model string
		secs  int
		want  int // 0 means CodeInvalidInput
	}{
		{"ray-2", 5, 5},
		{"ray-2", 1, 0}, // never rounded: not up into a longer, billed clip
		{"ray-2", 6, 0},
		{"ray-flash-2", 9, 9},
		{"ray-2", 10, 0},
		{"ray-3", 12, 12}, // unknown model: Luma judges
		{"ray-2", 0, 0},
	}
	for _, tt := range tests {
		got, err := durationFor(tt.model, tt.secs)
		if tt.want == 0 {
			if providers.ErrorCode(err) != providers.CodeInvalidInput {
				t.Errorf("durationFor(%s, %d) = %d, %v; want code %s", tt.model, tt.secs, got, err, providers.CodeInvalidInput)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("durationFor(%s, %d) = %d, %v; want %d", tt.model, tt.secs, got, err, tt.want)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture string
		state   providers.State
		code    providers.Code
		outputs []string // kinds
	}{
		{"generation_queued.json", providers.StateQueued, "", nil},
		{"generation_dreaming.json", providers.StateProcessing, "", nil},
		{"generation_completed.json", providers.StateSucceeded, "", []string{providers.OutputVideo, providers.OutputThumbnail}},
		{"generation_failed_moderation.json", providers.StateFailed, providers.CodeContentPolicy, nil},
		{"generation_failed_moderate_image.json", providers.StateFailed, providers.CodeInvalidInput, nil},
		{"generation_failed_invalid.json", providers.StateFailed, providers.CodeInvalidInput, nil},
		{"generation_failed_internal.json", providers.StateFailed, providers.CodeUnavailable, nil},
		{"generation_failed_unknown.json", providers.StateFailed, providers.CodeUnknown, nil},
	}
	f := newFake(t)
	d := f.driver(t, Config{})
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			id := "gen-" + strings.TrimSuffix(tt.fixture, ".json")
			f.put(id, tt.fixture)
			st, err := d.Status(t.Context(), id)
			if err != nil {
				t.Fatalf("Status(%s) error = %v", tt.fixture, err)
			}
			if st.RequestID != id || st.State != tt.state || st.Progress != 0 {
				t.Errorf("Status(%s) = %+v, want id %q, state %s, progress 0", tt.fixture, st, id, tt.state)
			}
			var kinds []string
			for _, o := range st.Outputs {
				kinds = append(kinds, o.Kind)
				if !o.ExpiresAt.IsZero() || !strings.HasPrefix(o.URL, f.srv.URL+"/cdn/"+id+"/") {
					t.Errorf("Status(%s) output %+v, want a URL at the fake's CDN and no ExpiresAt (Luma documents none)", tt.fixture, o)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tt.outputs, ",") {
				t.Errorf("Status(%s) output kinds = %v, want %v", tt.fixture, kinds, tt.outputs)
			}
			switch {
			case tt.code == "" && st.Error != nil:
				t.Errorf("Status(%s).Error = %v, want nil", tt.fixture, st.Error)
			case tt.code != "" && (st.Error == nil || st.Error.Code != tt.code):
				t.Errorf("Status(%s).Error = %+v, want code %s", tt.fixture, st.Error, tt.code)
			}
		})
	}
}

func TestSubmitBody(t *testing.T) {
	t.Parallel()
	image := textRequest()
	image.Workflow, image.SourceImageURL, image.DurationSeconds, image.Resolution = providers.WorkflowImageToVideo, "https://blob.example/src.png?sig=abc", 9, "1080p"
	hooked := textRequest()
	hooked.WebhookURL = "https://vidgate.example/webhooks/luma?region=eu"
	ending := image
	ending.EndFrameURL = "https://blob.example/end.png?sig=def"
	tests := []struct {
		name string
		req  providers.Request
		want string // the body, as JSON
	}{
		{"text", textRequest(), `{"prompt":"` + textRequest().Prompt + `","model":"ray-2","aspect_ratio":"16:9","duration":"5s","resolution":"720p"}`},
		{"image", image, `{"prompt":"` + image.Prompt + `","model":"ray-2","aspect_ratio":"16:9","duration":"9s","resolution":"1080p",` +
			`"keyframes":{"frame0":{"type":"image","url":"https://blob.example/src.png?sig=abc"}}}`},
		{"end frame", ending, `{"prompt":"` + image.Prompt + `","model":"ray-2","aspect_ratio":"16:9","duration":"9s","resolution":"1080p",` +
			`"keyframes":{"frame0":{"type":"image","url":"https://blob.example/src.png?sig=abc"},"frame1":{"type":"image","url":"https://blob.example/end.png?sig=def"}}}`},
		{"callback", hooked, `{"prompt":"` + hooked.Prompt + `","model":"ray-2","aspect_ratio":"16:9","duration":"5s","resolution":"720p",` +
			`"callback_url":"https://vidgate.example/webhooks/luma?region=eu\u0026token=` + fakeToken + `"}`},
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
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != prefix+"/generations/video" {
				t.Fatalf("Submit(%+v) sent %+v, want one POST /generations/video", tt.req, reqs)
			}
			if got := strings.TrimSpace(string(reqs[0].Body)); got != tt.want {
				t.Errorf("Submit(%+v) body = %s, want %s", tt.req, got, tt.want)
			}
		})
	}
}

func TestSubmitWithoutTokenSendsNoCallback(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: f.srv.URL + prefix, HTTPClient: f.srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	req := textRequest()
	req.WebhookURL = "https://vidgate.example/webhooks/luma"
	if _, err := d.Submit(t.Context(), req); err != nil {
		t.Fatalf("Submit() error = %v", err)
	}
	if body := string(f.seen()[0].Body); strings.Contains(body, "callback_url") {
		t.Errorf("Submit() without a CallbackToken sent %s, want no callback_url (its callbacks could not be verified)", body)
	}
}

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
		{"aspect", mod(func(r *providers.Request) { r.AspectRatio = "2:1" }), providers.CodeInvalidInput},
		{"resolution", mod(func(r *providers.Request) { r.Resolution = "8k" }), providers.CodeInvalidInput},
		{"too long", mod(func(r *providers.Request) { r.DurationSeconds = 12 }), providers.CodeInvalidInput},
		{"image without url", mod(func(r *providers.Request) { r.Workflow = providers.WorkflowImageToVideo }), providers.CodeInvalidInput},
		{"bad webhook url", mod(func(r *providers.Request) { r.WebhookURL = "vidgate/webhooks" }), providers.CodeInvalidInput},
		{"workflow", mod(func(r *providers.Request) { r.Workflow = "extend" }), providers.CodeUnimplemented},
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
		reply      *fakeReply
		key        string
		hang       bool
		op         string
		code       providers.Code
		retryAfter time.Duration
	}{
		{name: "429 seconds", reply: &fakeReply{status: 429, fixture: "error_429.json", retryAfter: "12"}, code: providers.CodeRateLimited, retryAfter: 12 * time.Second},
		{name: "429 date", reply: &fakeReply{status: 429, fixture: "error_429.json", retryAfter: now.Add(time.Minute).Format(http.TimeFormat)}, code: providers.CodeRateLimited, retryAfter: time.Minute},
		{name: "500", reply: &fakeReply{status: 500, fixture: "error_500.json"}, code: providers.CodeUnavailable},
		{name: "502", reply: &fakeReply{status: 502, fixture: "error_500.json"}, code: providers.CodeUnavailable},
		{name: "503", reply: &fakeReply{status: 503, fixture: "error_500.json"}, code: providers.CodeUnavailable},
		{name: "400", reply: &fakeReply{status: 400, fixture: "error_400.json"}, code: providers.CodeInvalidInput},
		{name: "400 moderation", reply: &fakeReply{status: 400, fixture: "error_400_moderation.json"}, code: providers.CodeContentPolicy},
		{name: "422", reply: &fakeReply{status: 422, fixture: "error_422.json"}, code: providers.CodeInvalidInput},
		{name: "401", key: "luma-wrong-key", code: providers.CodeUnauthenticated},
		{name: "404 on status", op: "status", code: providers.CodeNotFound},
		{name: "404 on cancel", op: "cancel", code: providers.CodeNotFound},
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
			switch tt.op {
			case "status":
				_, err = d.Status(t.Context(), "d1c5b2e0-0000-0000-0000-000000000000")
			case "cancel":
				err = d.Cancel(t.Context(), "d1c5b2e0-0000-0000-0000-000000000000")
			default:
				_, err = d.Submit(t.Context(), textRequest())
			}
			if got := providers.ErrorCode(err); got != tt.code {
				t.Errorf("%s error = %v (code %s), want code %s", tt.name, err, got, tt.code)
			}
			if got := providers.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("RetryAfter(%v) = %s, want %s", err, got, tt.retryAfter)
			}
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %T, want a *providers.Error", err)
			}
			if s := e.Error(); strings.Contains(s, "PROMPT_ECHO") || strings.Contains(s, "2:1") || strings.Contains(s, fakeKey) {
				t.Errorf("error %q quotes an input value or the key, want loc and msg only", s)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fixture   string
		deletes   bool
		wantState providers.State
	}{
		{"queued", "generation_queued.json", true, providers.StateCanceled},
		{"dreaming", "generation_dreaming.json", true, providers.StateCanceled},
		{"completed", "generation_completed.json", false, providers.StateSucceeded},
		{"failed", "generation_failed_moderation.json", false, providers.StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{})
			const id = "d1c5b2e0-4c8f-4f47-9a8e-2b7c1f3e9a10"
			f.put(id, tt.fixture)
			if err := d.Cancel(t.Context(), id); err != nil {
				t.Fatalf("Cancel(%s) error = %v, want nil", tt.name, err)
			}
			deleted := false
			for _, r := range f.seen() {
				deleted = deleted || r.Method == http.MethodDelete
			}
			if deleted != tt.deletes {
				t.Errorf("Cancel(%s) sent DELETE = %v, want %v (a DELETE removes a finished generation's video)", tt.name, deleted, tt.deletes)
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

// TestFixturesParse keeps the fixtures honest: each generation fixture
// decodes into the driver's type with a known state.
func TestFixturesParse(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"generation_queued.json", "generation_completed.json", "callback_completed.json", "generation_failed_moderation.json"} {
		data, err := json.Marshal(loadFixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		var g generation
		if err := json.Unmarshal(data, &g); err != nil {
			t.Fatalf("json.Unmarshal(%s) error = %v", name, err)
		}
		if _, err := g.AsStatus(g.ID, providers.Redactor{}); err != nil || g.ID == "" {
			t.Errorf("status(%s) error = %v (id %q), want a known state and an id", name, err, g.ID)
		}
	}
}
