package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

const testPrompt = "A lighthouse on a cliff at dusk, waves breaking below, slow aerial orbit."

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{Conn: providers.Conn{APIKey: "k"}}, false},
		{"no API key", Config{}, true},
		{"relative base URL", Config{Conn: providers.Conn{APIKey: "k", BaseURL: "api.replicate.com/v1"}}, true},
		{"ftp base URL", Config{Conn: providers.Conn{APIKey: "k", BaseURL: "ftp://api.replicate.com"}}, true},
		{"pinned model", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{
			providers.WorkflowTextToVideo: "owner/model:" + strings.Repeat("ab", 32)}}, false},
		{"model without owner", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{providers.WorkflowTextToVideo: "seedance"}}, true},
		{"model with a path", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{providers.WorkflowTextToVideo: "a/../b"}}, true},
		{"short version", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{providers.WorkflowTextToVideo: "a/b:1234"}}, true},
		{"unknown workflow", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{"text_to_audio": "a/b"}}, true},
		{"bad secret", Config{Conn: providers.Conn{APIKey: "k"}, WebhookSecrets: []string{"whsec_not base64!"}}, true},
		{"two secrets", Config{Conn: providers.Conn{APIKey: "k"}, WebhookSecrets: []string{testSecret, stdwebhooks.NewSecret()}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("New(%s) error = %v, want error %t", tt.name, err, tt.wantErr)
			}
		})
	}
}

func TestHonorsIdempotencyKeys(t *testing.T) {
	t.Parallel()
	d, err := New(Config{Conn: providers.Conn{APIKey: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.HonorsIdempotencyKeys() {
		t.Errorf("HonorsIdempotencyKeys() = true, want false: Replicate has no idempotency key")
	}
}

func TestSubmitRequest(t *testing.T) {
	t.Parallel()
	version := strings.Repeat("0f", 32)
	base := providers.Request{
		IdempotencyKey: "job-1-attempt-1", Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt,
		DurationSeconds: 5, AspectRatio: "16:9", Resolution: "1080p",
	}
	with := func(f func(*providers.Request)) providers.Request {
		r := base
		f(&r)
		return r
	}
	tests := []struct {
		name     string
		req      providers.Request
		wantPath string
		wantBody map[string]any
	}{
		{
			name:     "text to video, default model",
			req:      base,
			wantPath: "/models/bytedance/seedance-1-pro/predictions",
			wantBody: map[string]any{"input": map[string]any{
				"prompt": testPrompt, "duration": 5.0, "aspect_ratio": "16:9", "resolution": "1080p"}},
		},
		{
			name: "image to video with a webhook",
			req: with(func(r *providers.Request) {
				r.Workflow, r.SourceImageURL = providers.WorkflowImageToVideo, "https://blob.test/src.png?sig=abc"
				r.WebhookURL = "https://vidgate.test/webhooks/replicate"
			}),
			wantPath: "/models/bytedance/seedance-1-pro/predictions",
			wantBody: map[string]any{
				"input": map[string]any{"prompt": testPrompt, "image": "https://blob.test/src.png?sig=abc",
					"duration": 5.0, "aspect_ratio": "16:9", "resolution": "1080p"},
				"webhook":               "https://vidgate.test/webhooks/replicate",
				"webhook_events_filter": []any{"start", "completed"},
			},
		},
		{
			name: "kling-v2.1: start_image, no aspect ratio, 1080p is mode pro",
			req: with(func(r *providers.Request) {
				r.Workflow, r.SourceImageURL, r.Model = providers.WorkflowImageToVideo, "https://blob.test/src.png", "kwaivgi/kling-v2.1"
			}),
			wantPath: "/models/kwaivgi/kling-v2.1/predictions",
			wantBody: map[string]any{"input": map[string]any{
				"prompt": testPrompt, "start_image": "https://blob.test/src.png", "duration": 5.0, "mode": "pro"}},
		},
		{
			name: "kling-v2.1: 720p is mode standard, 10 s",
			req: with(func(r *providers.Request) {
				r.Workflow, r.SourceImageURL, r.Model = providers.WorkflowImageToVideo, "https://blob.test/src.png", "kwaivgi/kling-v2.1"
				r.Resolution, r.DurationSeconds = "720p", 10
			}),
			wantPath: "/models/kwaivgi/kling-v2.1/predictions",
			wantBody: map[string]any{"input": map[string]any{
				"prompt": testPrompt, "start_image": "https://blob.test/src.png", "duration": 10.0, "mode": "standard"}},
		},
		{
			name:     "veo-3: resolution, no duration input for its 8 s clips",
			req:      with(func(r *providers.Request) { r.Model, r.DurationSeconds = "google/veo-3", 8 }),
			wantPath: "/models/google/veo-3/predictions",
			wantBody: map[string]any{"input": map[string]any{
				"prompt": testPrompt, "aspect_ratio": "16:9", "resolution": "1080p"}},
		},
		{
			name:     "pinned version",
			req:      with(func(r *providers.Request) { r.Model = "someone/model:" + version }),
			wantPath: "/predictions",
			wantBody: map[string]any{"version": version, "input": map[string]any{
				"prompt": testPrompt, "duration": 5.0, "aspect_ratio": "16:9", "resolution": "1080p"}},
		},
		{
			name:     "unset fields omitted",
			req:      providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt},
			wantPath: "/models/bytedance/seedance-1-pro/predictions",
			wantBody: map[string]any{"input": map[string]any{"prompt": testPrompt}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeReplicate(t, testSecret)
			d := f.driver(t)
			id, err := d.Submit(t.Context(), tt.req)
			if err != nil || id == "" {
				t.Fatalf("Submit(%s) = %q, %v; want an id", tt.name, id, err)
			}
			got := f.lastCreate()
			if got.Path != tt.wantPath {
				t.Errorf("Submit(%s) path = %s, want %s", tt.name, got.Path, tt.wantPath)
			}
			if !reflect.DeepEqual(got.Body, tt.wantBody) {
				t.Errorf("Submit(%s) body = %v, want %v", tt.name, got.Body, tt.wantBody)
			}
			if a := got.Header.Get("Authorization"); a != "Bearer "+fakeKey {
				t.Errorf("Submit(%s) Authorization = %q, want the Bearer token", tt.name, a)
			}
			for _, h := range []string{"Idempotency-Key", "Prefer"} {
				if v := got.Header.Get(h); v != "" {
					t.Errorf("Submit(%s) header %s = %q, want none", tt.name, h, v)
				}
			}
		})
	}
}

func TestSubmitRefusedLocally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  providers.Request
		want providers.Code
	}{
		{"unknown workflow", providers.Request{Workflow: "text_to_audio", Prompt: testPrompt}, providers.CodeUnimplemented},
		{"image to video without an image", providers.Request{Workflow: providers.WorkflowImageToVideo, Prompt: testPrompt}, providers.CodeInvalidInput},
		{"invalid model", providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt, Model: "../admin"}, providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeReplicate(t, testSecret)
			_, err := f.driver(t).Submit(t.Context(), tt.req)
			if got := providers.ErrorCode(err); got != tt.want {
				t.Errorf("Submit(%s) error = %v, want code %s", tt.name, err, tt.want)
			}
			f.mu.Lock()
			n := len(f.creates)
			f.mu.Unlock()
			if n != 0 {
				t.Errorf("Submit(%s) made %d create calls, want 0", tt.name, n)
			}
		})
	}
}

// TestSubmitPerModelLimits checks that a request a model cannot honour is
// refused before anything is sent, with a message naming what the model
// takes, and that a duration is never rounded up.
func TestSubmitPerModelLimits(t *testing.T) {
	t.Parallel()
	i2v := func(model string, secs int, res string) providers.Request {
		return providers.Request{Workflow: providers.WorkflowImageToVideo, Prompt: testPrompt, SourceImageURL: "https://blob.test/src.png",
			Model: model, DurationSeconds: secs, AspectRatio: "16:9", Resolution: res}
	}
	t2v := func(model string, secs int, aspect, res string) providers.Request {
		return providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt, Model: model,
			DurationSeconds: secs, AspectRatio: aspect, Resolution: res}
	}
	withEnd := func(r providers.Request) providers.Request { r.EndFrameURL = "https://blob.test/end.png"; return r }
	withNegative := func(r providers.Request) providers.Request { r.NegativePrompt = "blur"; return r }
	tests := []struct {
		name     string
		req      providers.Request
		wantText string // in the error message
	}{
		{"kling-v2.1, 6 s", i2v("kwaivgi/kling-v2.1", 6, "720p"), `"kwaivgi/kling-v2.1" makes videos of 5 or 10 seconds, not 6`},
		{"kling-v2.1, 4k", i2v("kwaivgi/kling-v2.1", 5, "4k"), `"kwaivgi/kling-v2.1" makes 720p or 1080p video, not "4k"`},
		{"kling-v2.1, text to video", t2v("kwaivgi/kling-v2.1", 5, "16:9", "720p"), "needs a start image"},
		{"another kling, 6 s", i2v("kwaivgi/kling-v1.6-standard", 6, "720p"), "makes videos of 5 or 10 seconds, not 6"},
		{"seedance, 13 s", t2v("bytedance/seedance-1-pro", 13, "16:9", "720p"), "makes videos of 2 to 12 seconds, not 13"},
		{"seedance, 2k", t2v("", 5, "16:9", "2k"), `"bytedance/seedance-1-pro" makes 480p, 720p or 1080p video`},
		{"seedance, 2:1", t2v("", 5, "2:1", "720p"), "makes aspect ratio 16:9, 4:3"},
		{"veo-3, 5 s", t2v("google/veo-3", 5, "16:9", "720p"), `"google/veo-3" makes videos of 8 seconds, not 5`},
		{"veo-3, 1:1", t2v("google/veo-3", 8, "1:1", "720p"), "makes aspect ratio 16:9 or 9:16"},
		{"kling-v2.1, end frame at 720p", withEnd(i2v("kwaivgi/kling-v2.1", 5, "720p")), "with an end frame: 1080p only"},
		{"seedance, end frame without an image", withEnd(t2v("", 5, "16:9", "720p")), "with an end frame: image_to_video only"},
		{"veo-3, end frame", withEnd(i2v("google/veo-3", 8, "720p")), "does not take endFrame"},
		{"seedance, negative prompt", withNegative(t2v("", 5, "16:9", "720p")), "does not take negativePrompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeReplicate(t, testSecret)
			_, err := f.driver(t).Submit(t.Context(), tt.req)
			if got := providers.ErrorCode(err); got != providers.CodeInvalidInput {
				t.Fatalf("Submit(%s) error = %v, want code %s", tt.name, err, providers.CodeInvalidInput)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Submit(%s) error = %q, want it to say %q", tt.name, err, tt.wantText)
			}
			if strings.Contains(err.Error(), testPrompt) {
				t.Errorf("Submit(%s) error = %q quotes the prompt", tt.name, err)
			}
			f.mu.Lock()
			n := len(f.creates)
			f.mu.Unlock()
			if n != 0 {
				t.Errorf("Submit(%s) made %d create calls, want 0: the model's limits are known", tt.name, n)
			}
		})
	}
}

// TestLateReadAfterCleanup follows a prediction past Replicate's output
// cleanup: a late Status, or a late webhook retry, reports a success
// without outputs, which the engine fails as artifact unavailable, not a
// failed generation.
func TestLateReadAfterCleanup(t *testing.T) {
	t.Parallel()
	f := newFakeReplicate(t, testSecret)
	d := f.driver(t, testSecret)
	id, err := d.Submit(t.Context(), providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt, DurationSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.finish(id, statusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.cleanup(id); err != nil {
		t.Fatal(err)
	}
	check := func(how string, st providers.Status) {
		t.Helper()
		if st.State != providers.StateSucceeded || len(st.Outputs) != 0 || st.Error == nil || st.Error.VendorCode != "data_removed" ||
			!strings.Contains(st.Error.Message, "deleted its output") {
			t.Errorf("%s after the cleanup = %+v (error %v), want %s, no outputs, and an error saying the output was deleted",
				how, st, st.Error, providers.StateSucceeded)
		}
	}
	st, err := d.Status(t.Context(), id)
	if err != nil {
		t.Fatalf("Status(%q) error = %v", id, err)
	}
	check("Status", st)
	r, err := f.webhook(id, "http://vidgate.test/webhooks/replicate")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	wh, err := d.VerifyWebhook(r, body)
	if err != nil {
		t.Fatalf("VerifyWebhook error = %v", err)
	}
	check("the webhook", wh.Status)
}

// TestFakeValidatesSchemas checks that the fake refuses what Replicate
// refuses, with its 422 problem body, so that the other tests mean
// something.
func TestFakeValidatesSchemas(t *testing.T) {
	t.Parallel()
	f := newFakeReplicate(t, testSecret)
	tests := []struct {
		model     string
		input     string
		wantField string
	}{
		{"kwaivgi/kling-v2.1", `{"prompt":"p","start_image":"https://x/i.png","duration":6}`, "input.duration"},
		{"kwaivgi/kling-v2.1", `{"prompt":"p","start_image":"https://x/i.png","resolution":"1080p"}`, "input.resolution"},
		{"kwaivgi/kling-v2.1", `{"prompt":"p"}`, "input.start_image"},
		{"bytedance/seedance-1-pro", `{"prompt":"p","duration":"5"}`, "input.duration"},
		{"bytedance/seedance-1-pro", `{"prompt":"p","duration":13}`, "input.duration"},
		{"bytedance/seedance-1-pro", `{"prompt":"p","duration":5.5}`, "input.duration"},
		{"google/veo-3", `{"prompt":"p","duration":8}`, "input.duration"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/models/"+tt.model+"/predictions", strings.NewReader(`{"input":`+tt.input+`}`))
		req.Header.Set("Authorization", "Bearer "+fakeKey)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p problem
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || err != nil || p.Status != 422 || p.Title == "" || p.Detail == "" ||
			len(p.InvalidFields) == 0 || p.InvalidFields[0].Field != tt.wantField {
			t.Errorf("fake create %s %s = %d %+v (%v), want 422 naming %s", tt.model, tt.input, resp.StatusCode, p, err, tt.wantField)
		}
	}
}

// answer is a canned HTTP answer.
type answer struct {
	status int
	header map[string]string
	body   string
}

// answerServer answers every call with a.
func answerServer(t *testing.T, a answer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	fixture := func(name string) string { return string(readFixture(t, name)) }
	tests := []struct {
		name           string
		answer         answer
		wantCode       providers.Code
		wantRetryAfter time.Duration
		wantVendor     string
	}{
		{"401", answer{401, nil, fixture("error_401.json")}, providers.CodeUnauthenticated, 0, ""},
		{"403", answer{403, nil, `{"title":"Forbidden","detail":"You do not have permission","status":403}`}, providers.CodeUnauthenticated, 0, ""},
		{"404 unknown model", answer{404, nil, fixture("error_404.json")}, providers.CodeNotFound, 0, ""},
		{"422 invalid field", answer{422, nil, fixture("error_422.json")}, providers.CodeInvalidInput, 0, "enum"},
		{"400", answer{400, nil, `{"title":"Bad request","detail":"Invalid JSON","status":400}`}, providers.CodeInvalidInput, 0, ""},
		// Not seen documented at creation; covers a refusal that names it.
		{"422 flagged prompt", answer{422, nil, `{"title":"Input rejected","detail":"The prompt was flagged as sensitive. (E005)","status":422}`},
			providers.CodeContentPolicy, 0, "E005"},
		{"429 with Retry-After", answer{429, map[string]string{"Retry-After": "7"}, fixture("error_429.json")}, providers.CodeRateLimited, 7 * time.Second, ""},
		{"429 wait in detail only", answer{429, nil, fixture("error_429.json")}, providers.CodeRateLimited, 3 * time.Second, ""},
		{"500", answer{500, nil, `{"title":"Internal Server Error","status":500}`}, providers.CodeUnavailable, 0, ""},
		{"503 proxy page", answer{503, map[string]string{"Content-Type": "text/html"}, fixture("error_503.html")}, providers.CodeUnavailable, 0, ""},
		{"402 billing", answer{402, nil, `{"title":"Insufficient credit","detail":"You have insufficient credit to run this model.","status":402}`}, providers.CodeUnknown, 0, ""},
		{"422 echoing the prompt", answer{422, nil, `{"title":"Input validation failed","detail":"prompt '` + testPrompt + `' is too long","status":422}`},
			providers.CodeInvalidInput, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := answerServer(t, tt.answer)
			d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			req := providers.Request{Workflow: providers.WorkflowImageToVideo, Prompt: testPrompt, SourceImageURL: "https://blob.test/a.png?sig=s3cr3t"}
			_, err = d.Submit(t.Context(), req)
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Fatalf("Submit(%s) error = %T %v, want a *providers.Error", tt.name, err, err)
			}
			if e.Code != tt.wantCode || e.RetryAfter != tt.wantRetryAfter || e.VendorCode != tt.wantVendor {
				t.Errorf("Submit(%s) error = code %s, retry after %s, vendor %q; want %s, %s, %q",
					tt.name, e.Code, e.RetryAfter, e.VendorCode, tt.wantCode, tt.wantRetryAfter, tt.wantVendor)
			}
			for _, secret := range []string{testPrompt, testPrompt[:32], fakeKey, "s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Submit(%s) error = %q, want it free of %q", tt.name, err, secret)
				}
			}
		})
	}
}

func TestCallFailures(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	garbage := answerServer(t, answer{200, nil, "{not json"})
	tests := []struct {
		name string
		base string
		want providers.Code
	}{
		{"timeout", slow.URL, providers.CodeUnavailable},
		{"connection refused", closed.URL, providers.CodeUnavailable},
		{"malformed answer", garbage.URL, providers.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: tt.base, Timeout: 100 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Status(t.Context(), "abc")
			if got := providers.ErrorCode(err); got != tt.want {
				t.Errorf("Status(abc) via %s error = %v, want code %s", tt.name, err, tt.want)
			}
		})
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	completed := time.Date(2025, 6, 17, 9, 13, 34, 402_000_000, time.UTC)
	tests := []struct {
		name         string
		body         string
		wantState    providers.State
		wantProgress int
		wantCode     providers.Code
		wantVendor   string
		wantOutputs  []providers.Output
		wantErr      bool
	}{
		{name: "starting", body: fixtureText(t, "prediction_starting.json"), wantState: providers.StateQueued},
		{name: "processing", body: fixtureText(t, "prediction_processing.json"), wantState: providers.StateProcessing, wantProgress: 42},
		{name: "succeeded", body: fixtureText(t, "prediction_succeeded.json"), wantState: providers.StateSucceeded, wantProgress: 100,
			wantOutputs: []providers.Output{{
				URL:  "https://replicate.delivery/xezq/Xl2ZbUf7yF4oPh9QdS3kA1eV0cWnHjRzLtMgBpYiKqCuO/tmp8w2l0c1q.mp4",
				Kind: providers.OutputVideo, ContentType: "video/mp4", ExpiresAt: completed.Add(time.Hour),
			}}},
		{name: "failed, flagged", body: fixtureText(t, "prediction_failed_nsfw.json"), wantState: providers.StateFailed,
			wantCode: providers.CodeContentPolicy, wantVendor: "E005"},
		{name: "failed, image download", body: fixtureText(t, "prediction_failed_input.json"), wantState: providers.StateFailed,
			wantCode: providers.CodeInvalidInput},
		{name: "canceled", body: fixtureText(t, "prediction_canceled.json"), wantState: providers.StateCanceled},
		{name: "aborted", body: `{"id":"p1","status":"aborted","created_at":"2025-06-17T09:12:31Z"}`, wantState: providers.StateCanceled},
		{name: "failed, out of memory", body: `{"id":"p1","status":"failed","error":"CUDA out of memory. Tried to allocate 2.00 GiB"}`,
			wantState: providers.StateFailed, wantCode: providers.CodeUnavailable},
		{name: "failed, unexplained", body: `{"id":"p1","status":"failed","error":"something odd happened"}`,
			wantState: providers.StateFailed, wantCode: providers.CodeUnknown},
		{name: "failed, no error text", body: `{"id":"p1","status":"failed","error":null}`,
			wantState: providers.StateFailed, wantCode: providers.CodeUnknown},
		{name: "succeeded without output", body: `{"id":"p1","status":"succeeded","output":null}`,
			wantState: providers.StateFailed, wantProgress: 100, wantCode: providers.CodeUnknown, wantVendor: "no_video_output"},
		{name: "succeeded with an image only", body: `{"id":"p1","status":"succeeded","output":["https://replicate.delivery/a/frame.png"]}`,
			wantState: providers.StateFailed, wantProgress: 100, wantCode: providers.CodeUnknown, wantVendor: "no_video_output"},
		// Read after Replicate's one-hour cleanup: a success whose files
		// are gone, not a failed generation.
		{name: "succeeded, data removed", body: fixtureText(t, "prediction_succeeded_data_removed.json"), wantState: providers.StateSucceeded,
			wantProgress: 100, wantCode: providers.CodeNotFound, wantVendor: "data_removed"},
		{name: "unknown status", body: `{"id":"p1","status":"paused"}`, wantErr: true},
		{name: "no id", body: `{"status":"starting"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p prediction
			if err := json.Unmarshal([]byte(tt.body), &p); err != nil {
				t.Fatalf("unmarshal %s: %v", tt.name, err)
			}
			got, err := p.status(providers.NewRedactor(fakeKey).With(p.Input.Prompt, p.Input.image()))
			if tt.wantErr {
				if err == nil {
					t.Errorf("status(%s) = %+v, want an error", tt.name, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("status(%s) error = %v", tt.name, err)
			}
			if got.RequestID != p.ID || got.State != tt.wantState || got.Progress != tt.wantProgress {
				t.Errorf("status(%s) = %s %s %d%%, want %s %s %d%%", tt.name, got.RequestID, got.State, got.Progress, p.ID, tt.wantState, tt.wantProgress)
			}
			if !reflect.DeepEqual(got.Outputs, tt.wantOutputs) {
				t.Errorf("status(%s).Outputs = %+v, want %+v", tt.name, got.Outputs, tt.wantOutputs)
			}
			switch {
			case tt.wantCode == "" && got.Error != nil:
				t.Errorf("status(%s).Error = %v, want nil", tt.name, got.Error)
			case tt.wantCode != "" && got.Error == nil:
				t.Errorf("status(%s).Error = nil, want code %s", tt.name, tt.wantCode)
			case got.Error != nil:
				if got.Error.Code != tt.wantCode || got.Error.VendorCode != tt.wantVendor {
					t.Errorf("status(%s).Error = %s (vendor %q), want %s (vendor %q)", tt.name, got.Error.Code, got.Error.VendorCode, tt.wantCode, tt.wantVendor)
				}
				for _, secret := range []string{p.Input.Prompt, p.Input.image(), "X-Goog-Signature"} {
					if secret != "" && strings.Contains(got.Error.Message, secret) {
						t.Errorf("status(%s).Error.Message = %q, want it free of %q", tt.name, got.Error.Message, secret)
					}
				}
			}
		})
	}
}

func fixtureText(t *testing.T, name string) string { return string(readFixture(t, name)) }

func TestOutputs(t *testing.T) {
	t.Parallel()
	exp := time.Date(2025, 6, 17, 10, 0, 0, 0, time.UTC)
	video := func(u, ct string) providers.Output {
		return providers.Output{URL: u, Kind: providers.OutputVideo, ContentType: ct, ExpiresAt: exp}
	}
	tests := []struct {
		name string
		raw  string
		want []providers.Output
	}{
		{"a URL", `"https://replicate.delivery/x/out.mp4"`, []providers.Output{video("https://replicate.delivery/x/out.mp4", "video/mp4")}},
		{"a list", `["https://replicate.delivery/x/out.webm","https://replicate.delivery/x/poster.jpg"]`, []providers.Output{
			video("https://replicate.delivery/x/out.webm", "video/webm"),
			{URL: "https://replicate.delivery/x/poster.jpg", Kind: providers.OutputThumbnail, ContentType: "image/jpeg", ExpiresAt: exp},
		}},
		{"an object, in key order", `{"video":"https://replicate.delivery/x/v.mov","audio_seed":42,"a":"https://replicate.delivery/x/a"}`, []providers.Output{
			video("https://replicate.delivery/x/a", ""),
			video("https://replicate.delivery/x/v.mov", "video/quicktime"),
		}},
		{"a data URI", `"data:video/mp4;base64,AAAA"`, nil},
		{"null", `null`, nil},
		{"a number", `3`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := outputs(json.RawMessage(tt.raw), exp); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("outputs(%s) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestOutputExpiresAfterAnHour(t *testing.T) {
	t.Parallel()
	f := newFakeReplicate(t, testSecret)
	d := f.driver(t)
	id, err := d.Submit(t.Context(), providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.finish(id, statusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	completed := f.preds[id].completed
	f.mu.Unlock()
	st, err := d.Status(t.Context(), id)
	if err != nil || len(st.Outputs) != 1 {
		t.Fatalf("Status(%q) = %+v, %v; want one output", id, st, err)
	}
	if got, want := st.Outputs[0].ExpiresAt, completed.Add(time.Hour); !got.Equal(want) {
		t.Errorf("Status(%q).Outputs[0].ExpiresAt = %s, want %s (completed_at + 1h)", id, got, want)
	}
}

func TestStatusAndCancelErrors(t *testing.T) {
	t.Parallel()
	f := newFakeReplicate(t, testSecret)
	d := f.driver(t)
	wrongKey, err := New(Config{Conn: providers.Conn{APIKey: "r8_wrong", BaseURL: f.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func(context.Context) error
		want providers.Code
	}{
		{"Status of an unknown id", func(ctx context.Context) error { _, err := d.Status(ctx, "nosuchprediction"); return err }, providers.CodeNotFound},
		{"Cancel of an unknown id", func(ctx context.Context) error { return d.Cancel(ctx, "nosuchprediction") }, providers.CodeNotFound},
		{"Status with a wrong key", func(ctx context.Context) error { _, err := wrongKey.Status(ctx, "x"); return err }, providers.CodeUnauthenticated},
		{"Status of an id with a slash", func(ctx context.Context) error { _, err := d.Status(ctx, "../models"); return err }, providers.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := providers.ErrorCode(tt.call(t.Context())); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
			}
		})
	}
}

// The Standard Webhooks test vector of PROVIDERS.md.
const (
	vectorID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS   = 1614265330
	vectorBody = `{"test": 2432232314}`
	vectorSig  = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestVerifyWebhookVector(t *testing.T) {
	t.Parallel()
	at := time.Unix(vectorTS, 0)
	tests := []struct {
		name    string
		secrets []string
		now     time.Time
		body    string
		sig     string
		// The vector's body is not a prediction: a delivery that verifies
		// fails to parse, CodeInvalidInput, and one that does not verify
		// is CodeUnauthenticated.
		want providers.Code
	}{
		{"vector", []string{testSecret}, at, vectorBody, vectorSig, providers.CodeInvalidInput},
		{"vector, old secret after rotation", []string{stdwebhooks.NewSecret(), testSecret}, at, vectorBody, vectorSig, providers.CodeInvalidInput},
		{"vector among other signatures", []string{testSecret}, at, vectorBody, "v1,Zm9yZ2Vk v2,abc " + vectorSig, providers.CodeInvalidInput},
		{"4m59s late", []string{testSecret}, at.Add(299 * time.Second), vectorBody, vectorSig, providers.CodeInvalidInput},
		{"tampered body", []string{testSecret}, at, `{"test": 2432232315}`, vectorSig, providers.CodeUnauthenticated},
		{"other secret", []string{stdwebhooks.NewSecret()}, at, vectorBody, vectorSig, providers.CodeUnauthenticated},
		{"5m01s old", []string{testSecret}, at.Add(301 * time.Second), vectorBody, vectorSig, providers.CodeUnauthenticated},
		{"5m01s in the future", []string{testSecret}, at.Add(-301 * time.Second), vectorBody, vectorSig, providers.CodeUnauthenticated},
		{"only another version", []string{testSecret}, at, vectorBody, "v2," + strings.TrimPrefix(vectorSig, "v1,"), providers.CodeUnauthenticated},
		{"no secret configured", nil, at, vectorBody, vectorSig, providers.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(Config{Conn: providers.Conn{APIKey: "k", Now: func() time.Time { return tt.now }}, WebhookSecrets: tt.secrets})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/webhooks/replicate", strings.NewReader(tt.body))
			r.Header.Set("webhook-id", vectorID)
			r.Header.Set("webhook-timestamp", "1614265330")
			r.Header.Set("webhook-signature", tt.sig)
			_, err = d.VerifyWebhook(r, []byte(tt.body))
			if got := providers.ErrorCode(err); got != tt.want {
				t.Errorf("VerifyWebhook(%s) error = %v, want code %s", tt.name, err, tt.want)
			}
		})
	}
}

func TestVerifyWebhookPrediction(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 17, 9, 13, 35, 0, time.UTC)
	oldSecret, newSecret := stdwebhooks.NewSecret(), stdwebhooks.NewSecret()
	tests := []struct {
		name       string
		fixture    string
		signWith   string
		wantState  providers.State
		wantCode   providers.Code // of the Status error
		wantOutput string
	}{
		{"completed, signed with the new secret", "prediction_succeeded.json", newSecret, providers.StateSucceeded, "",
			"https://replicate.delivery/xezq/Xl2ZbUf7yF4oPh9QdS3kA1eV0cWnHjRzLtMgBpYiKqCuO/tmp8w2l0c1q.mp4"},
		{"start, signed with the old secret", "prediction_processing.json", oldSecret, providers.StateProcessing, "", ""},
		{"failed, flagged", "prediction_failed_nsfw.json", newSecret, providers.StateFailed, providers.CodeContentPolicy, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(Config{Conn: providers.Conn{APIKey: "k", Now: func() time.Time { return now }}, WebhookSecrets: []string{newSecret, oldSecret}})
			if err != nil {
				t.Fatal(err)
			}
			body := readFixture(t, tt.fixture)
			signer, _ := stdwebhooks.NewSigner(tt.signWith)
			r := httptest.NewRequest(http.MethodPost, "/webhooks/replicate", nil)
			signer.SetHeaders(r.Header, "msg_2yVQp1fMtnR4oBhNcXaZ", now.Add(-time.Second), body)
			wh, err := d.VerifyWebhook(r, body)
			if err != nil {
				t.Fatalf("VerifyWebhook(%s) error = %v", tt.name, err)
			}
			if wh.EventID != "msg_2yVQp1fMtnR4oBhNcXaZ" || wh.Status.RequestID != "rrpm3xg0q5rma0cqx8ra6ts1mc" || wh.Status.State != tt.wantState {
				t.Errorf("VerifyWebhook(%s) = %s %s %s, want msg_2yVQp1fMtnR4oBhNcXaZ rrpm3xg0q5rma0cqx8ra6ts1mc %s",
					tt.name, wh.EventID, wh.Status.RequestID, wh.Status.State, tt.wantState)
			}
			if tt.wantCode != "" && (wh.Status.Error == nil || wh.Status.Error.Code != tt.wantCode) {
				t.Errorf("VerifyWebhook(%s).Status.Error = %v, want code %s", tt.name, wh.Status.Error, tt.wantCode)
			}
			if tt.wantOutput != "" && (len(wh.Status.Outputs) != 1 || wh.Status.Outputs[0].URL != tt.wantOutput) {
				t.Errorf("VerifyWebhook(%s).Status.Outputs = %+v, want %s", tt.name, wh.Status.Outputs, tt.wantOutput)
			}
		})
	}
}
