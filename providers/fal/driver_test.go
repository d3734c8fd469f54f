package fal

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
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
		{"relative base URL", Config{Conn: providers.Conn{APIKey: "k", BaseURL: "queue.fal.run"}}, true},
		{"relative JWKS URL", Config{Conn: providers.Conn{APIKey: "k"}, JWKSURL: "/.well-known/jwks.json"}, true},
		{"other JWKS host", Config{Conn: providers.Conn{APIKey: "k"}, JWKSURL: "https://rest.fal.ai/.well-known/jwks.json"}, false},
		{"model with a sub-path", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{
			providers.WorkflowImageToVideo: "fal-ai/kling-video/v2.1/master/image-to-video"}}, false},
		{"model without an app", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{providers.WorkflowTextToVideo: "fal-ai"}}, true},
		{"model with a dot-dot", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{providers.WorkflowTextToVideo: "fal-ai/../x"}}, true},
		{"unknown workflow", Config{Conn: providers.Conn{APIKey: "k"}, Models: map[providers.Workflow]string{"text_to_audio": "fal-ai/x"}}, true},
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
		t.Errorf("HonorsIdempotencyKeys() = true, want false: fal has no idempotency key")
	}
}

func TestAppOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model, want string
		wantErr     bool
	}{
		{"fal-ai/bytedance/seedance/v1/pro/text-to-video", "fal-ai/bytedance", false},
		{"fal-ai/kling-video/v2.1/master/image-to-video", "fal-ai/kling-video", false},
		{"fal-ai/veo3", "fal-ai/veo3", false},
		{"workflows/acme/storyboard/run", "workflows/acme/storyboard", false},
		{"comfy/acme/wf", "comfy/acme/wf", false},
		{"fal-ai", "", true},
		{"workflows/acme", "", true},
		{"fal-ai//x", "", true},
		{"fal-ai/../admin", "", true},
		{"fal-ai/x?fal_webhook=y", "", true},
		{"", "", true},
		{"fal-ai/" + strings.Repeat("a", 200) + "/text-to-video", "", true}, // its ids would not fit the engine's column
	}
	for _, tt := range tests {
		got, err := appOf(tt.model)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("appOf(%q) = %q, %v; want %q, error %t", tt.model, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseRequestID(t *testing.T) {
	t.Parallel()
	d, err := New(Config{Conn: providers.Conn{APIKey: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	const rid = "0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"
	tests := []struct {
		id, wantApp, wantRID string
		wantErr              bool
	}{
		{"fal-ai/bytedance/requests/" + rid, "fal-ai/bytedance", rid, false},
		{"workflows/acme/flow/requests/" + rid, "workflows/acme/flow", rid, false},
		{rid, "fal-ai/bytedance", rid, false}, // a bare id: the text_to_video model's app
		{"fal-ai/bytedance/seedance/requests/" + rid, "", "", true},
		{"fal-ai/bytedance/requests/" + rid + "/status", "", "", true},
		{"fal-ai/bytedance/requests/", "", "", true},
		{"../x/requests/" + rid, "", "", true},
	}
	for _, tt := range tests {
		app, got, err := d.parseRequestID(tt.id)
		if app != tt.wantApp || got != tt.wantRID || (err != nil) != tt.wantErr {
			t.Errorf("parseRequestID(%q) = %q, %q, %v; want %q, %q, error %t", tt.id, app, got, err, tt.wantApp, tt.wantRID, tt.wantErr)
		}
		if err != nil && providers.ErrorCode(err) != providers.CodeNotFound {
			t.Errorf("parseRequestID(%q) error code = %s, want %s", tt.id, providers.ErrorCode(err), providers.CodeNotFound)
		}
	}
}

func TestSubmitRequest(t *testing.T) {
	t.Parallel()
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
		name        string
		req         providers.Request
		wantPath    string
		wantWebhook string
		wantInput   map[string]any
		wantApp     string
	}{
		{
			name:      "text to video, default model",
			req:       base,
			wantPath:  "/fal-ai/bytedance/seedance/v1/pro/text-to-video",
			wantInput: map[string]any{"prompt": testPrompt, "duration": "5", "aspect_ratio": "16:9", "resolution": "1080p"},
			wantApp:   "fal-ai/bytedance",
		},
		{
			name: "image to video with a webhook",
			req: with(func(r *providers.Request) {
				r.Workflow, r.SourceImageURL = providers.WorkflowImageToVideo, "https://blob.test/src.png?sig=abc"
				r.WebhookURL = "https://vidgate.test/webhooks/fal?tenant=7"
			}),
			wantPath:    "/fal-ai/bytedance/seedance/v1/pro/image-to-video",
			wantWebhook: "https://vidgate.test/webhooks/fal?fal_app=fal-ai%2Fbytedance&tenant=7",
			wantInput: map[string]any{"prompt": testPrompt, "image_url": "https://blob.test/src.png?sig=abc",
				"duration": "5", "aspect_ratio": "16:9", "resolution": "1080p"},
			wantApp: "fal-ai/bytedance",
		},
		{
			name: "kling: no resolution, no aspect ratio with an image",
			req: with(func(r *providers.Request) {
				r.Workflow, r.SourceImageURL = providers.WorkflowImageToVideo, "https://blob.test/src.png"
				r.Model, r.DurationSeconds = "fal-ai/kling-video/v2.1/master/image-to-video", 10
			}),
			wantPath:  "/fal-ai/kling-video/v2.1/master/image-to-video",
			wantInput: map[string]any{"prompt": testPrompt, "image_url": "https://blob.test/src.png", "duration": "10"},
			wantApp:   "fal-ai/kling-video",
		},
		{
			name:      "veo3: seconds with a unit",
			req:       with(func(r *providers.Request) { r.Model, r.DurationSeconds = "fal-ai/veo3", 8 }),
			wantPath:  "/fal-ai/veo3",
			wantInput: map[string]any{"prompt": testPrompt, "duration": "8s", "aspect_ratio": "16:9", "resolution": "1080p"},
			wantApp:   "fal-ai/veo3",
		},
		{
			name:      "unset fields omitted",
			req:       providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt},
			wantPath:  "/fal-ai/bytedance/seedance/v1/pro/text-to-video",
			wantInput: map[string]any{"prompt": testPrompt},
			wantApp:   "fal-ai/bytedance",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFal(t)
			id, err := f.driver(t).Submit(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("Submit(%s) error = %v", tt.name, err)
			}
			got := f.lastSubmit()
			if want := tt.wantApp + "/requests/" + got.Request; id != want {
				t.Errorf("Submit(%s) = %q, want %q", tt.name, id, want)
			}
			if got.Path != tt.wantPath {
				t.Errorf("Submit(%s) path = %s, want %s", tt.name, got.Path, tt.wantPath)
			}
			if hook := url.Values(got.Query).Get("fal_webhook"); hook != tt.wantWebhook {
				t.Errorf("Submit(%s) fal_webhook = %q, want %q", tt.name, hook, tt.wantWebhook)
			}
			if !reflect.DeepEqual(got.Input, tt.wantInput) {
				t.Errorf("Submit(%s) input = %v, want %v", tt.name, got.Input, tt.wantInput)
			}
			if a := got.Header.Get("Authorization"); a != "Key "+fakeKey {
				t.Errorf("Submit(%s) Authorization = %q, want the Key", tt.name, a)
			}
			if v := got.Header.Get("Idempotency-Key"); v != "" {
				t.Errorf("Submit(%s) Idempotency-Key = %q, want none", tt.name, v)
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
		{"invalid model", providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt, Model: "fal-ai"}, providers.CodeInvalidInput},
		{"relative webhook URL", providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt, WebhookURL: "/webhooks/fal"}, providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFal(t)
			_, err := f.driver(t).Submit(t.Context(), tt.req)
			if got := providers.ErrorCode(err); got != tt.want {
				t.Errorf("Submit(%s) error = %v, want code %s", tt.name, err, tt.want)
			}
			f.mu.Lock()
			n := len(f.submits)
			f.mu.Unlock()
			if n != 0 {
				t.Errorf("Submit(%s) made %d calls, want 0", tt.name, n)
			}
		})
	}
}

// answer is a canned HTTP answer.
type answer struct {
	status int
	header map[string]string
	body   string
}

func (a answer) write(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	w.Write([]byte(a.body))
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
		{"403", answer{403, nil, `{"detail":"Forbidden"}`}, providers.CodeUnauthenticated, 0, ""},
		{"404 unknown app", answer{404, nil, `{"detail":"Application 'nope' not found"}`}, providers.CodeNotFound, 0, ""},
		{"422 validation", answer{422, nil, fixture("error_validation.json")}, providers.CodeInvalidInput, 0, "literal_error"},
		{"422 content policy", answer{422, nil, fixture("error_content_policy.json")}, providers.CodeContentPolicy, 0, "content_policy_violation"},
		{"400 untyped nsfw", answer{400, nil, `{"detail":"NSFW content detected in the prompt"}`}, providers.CodeContentPolicy, 0, ""},
		{"429 with Retry-After seconds", answer{429, map[string]string{"Retry-After": "3"}, fixture("error_429.json")}, providers.CodeRateLimited, 3 * time.Second, ""},
		{"429 without Retry-After", answer{429, nil, fixture("error_429.json")}, providers.CodeRateLimited, 0, ""},
		{"502 proxy page", answer{502, map[string]string{"Content-Type": "text/html"}, fixture("error_502.html")}, providers.CodeUnavailable, 0, ""},
		{"503 scheduling", answer{503, map[string]string{"X-Fal-Error-Type": "runner_scheduling_failure"},
			`{"detail":"No runner could be allocated","error_type":"runner_scheduling_failure"}`}, providers.CodeUnavailable, 0, "runner_scheduling_failure"},
		{"504 timeout", answer{504, map[string]string{"X-Fal-Error-Type": "request_timeout"}, fixture("error_request_timeout.json")},
			providers.CodeUnavailable, 0, "request_timeout"},
		{"402 balance", answer{402, nil, `{"detail":"Exhausted balance. Top up your balance at fal.ai/dashboard/billing."}`}, providers.CodeUnknown, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tt.answer.write(w) }))
			t.Cleanup(srv.Close)
			d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			req := providers.Request{Workflow: providers.WorkflowImageToVideo, Prompt: testPrompt,
				SourceImageURL: "https://blob.test/a.png?sig=s3cr3t", WebhookURL: "https://vidgate.test/webhooks/fal?token=hush"}
			_, err = d.Submit(t.Context(), req)
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Fatalf("Submit(%s) error = %T %v, want a *providers.Error", tt.name, err, err)
			}
			if e.Code != tt.wantCode || e.RetryAfter != tt.wantRetryAfter || e.VendorCode != tt.wantVendor {
				t.Errorf("Submit(%s) error = code %s, retry after %s, vendor %q; want %s, %s, %q",
					tt.name, e.Code, e.RetryAfter, e.VendorCode, tt.wantCode, tt.wantRetryAfter, tt.wantVendor)
			}
			for _, secret := range []string{testPrompt, testPrompt[:32], fakeKey, "s3cr3t", "hush"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Submit(%s) error = %q, want it free of %q", tt.name, err, secret)
				}
			}
		})
	}
}

func TestSubmitTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL, Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Submit(t.Context(), providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt})
	if got := providers.ErrorCode(err); got != providers.CodeUnavailable {
		t.Errorf("Submit() against a silent server error = %v, want code %s", err, providers.CodeUnavailable)
	}
}

// queueServer answers status calls with status and result calls with
// result, recording the result paths asked for.
type queueServer struct {
	*httptest.Server
	mu          sync.Mutex
	resultPaths []string
}

func newQueueServer(t *testing.T, status, result answer) *queueServer {
	t.Helper()
	q := &queueServer{}
	q.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/status") {
			status.write(w)
			return
		}
		q.mu.Lock()
		q.resultPaths = append(q.resultPaths, r.URL.Path)
		q.mu.Unlock()
		result.write(w)
	}))
	t.Cleanup(q.Close)
	return q
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	const rid = "0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"
	const id = "fal-ai/bytedance/requests/" + rid
	fixture := func(name string) string { return string(readFixture(t, name)) }
	completed := answer{200, nil, fixture("status_completed.json")}
	tests := []struct {
		name       string
		status     answer
		result     answer
		wantState  providers.State
		wantCode   providers.Code // of Status.Error
		wantVendor string
		wantErr    providers.Code // of the call
		wantURL    string
	}{
		{name: "in queue", status: answer{202, nil, fixture("status_in_queue.json")}, wantState: providers.StateQueued},
		{name: "in progress", status: answer{202, nil, fixture("status_in_progress.json")}, wantState: providers.StateProcessing},
		{name: "completed with a video", status: completed, result: answer{200, nil, fixture("result_video.json")},
			wantState: providers.StateSucceeded, wantURL: "https://v3.fal.media/files/penguin/Qm4hA0c7Jx2VtR8yLkE3W_output.mp4"},
		{name: "content policy", status: completed, result: answer{422, nil, fixture("error_content_policy.json")},
			wantState: providers.StateFailed, wantCode: providers.CodeContentPolicy, wantVendor: "content_policy_violation"},
		{name: "unreadable image", status: completed, result: answer{422, nil, fixture("error_file_download.json")},
			wantState: providers.StateFailed, wantCode: providers.CodeInvalidInput, wantVendor: "file_download_error"},
		{name: "request timeout", status: completed,
			result:    answer{504, map[string]string{"X-Fal-Error-Type": "request_timeout"}, fixture("error_request_timeout.json")},
			wantState: providers.StateFailed, wantCode: providers.CodeUnavailable, wantVendor: "request_timeout"},
		{name: "model crashed", status: completed, result: answer{500, nil, `{"detail":"Internal Server Error"}`},
			wantState: providers.StateFailed, wantCode: providers.CodeUnavailable},
		// fal documents no canceled status or result: text that mentions a
		// cancellation is an error like any other, never StateCanceled.
		{name: "result error that says cancelled", status: completed, result: answer{400, nil, `{"detail":"Request cancelled by the client."}`},
			wantState: providers.StateFailed, wantCode: providers.CodeInvalidInput},
		{name: "result HTTP 499", status: completed, result: answer{499, nil, `{}`},
			wantState: providers.StateFailed, wantCode: providers.CodeUnknown},
		{name: "error type that says cancelled", status: completed,
			result:    answer{500, map[string]string{"X-Fal-Error-Type": "request_cancelled"}, `{"detail":"Request cancelled"}`},
			wantState: providers.StateFailed, wantCode: providers.CodeUnavailable, wantVendor: "request_cancelled"},
		{name: "undocumented CANCELLED status", status: answer{200, nil, `{"status":"CANCELLED"}`}, wantErr: providers.CodeUnknown},
		{name: "error in the status", status: answer{200, nil, `{"status":"COMPLETED","error":"Runner disconnected","error_type":"runner_disconnected"}`},
			result: answer{500, nil, "unreachable"}, wantState: providers.StateFailed, wantCode: providers.CodeUnavailable, wantVendor: "runner_disconnected"},
		{name: "result without a video", status: completed, result: answer{200, nil, `{"images":[{"url":"https://v3.fal.media/files/a.png"}]}`},
			wantState: providers.StateFailed, wantCode: providers.CodeUnknown, wantVendor: "no_video_output"},
		{name: "proxy error on the result", status: completed, result: answer{502, nil, fixture("error_502.html")}, wantErr: providers.CodeUnavailable},
		{name: "key refused on the result", status: completed, result: answer{401, nil, fixture("error_401.json")}, wantErr: providers.CodeUnauthenticated},
		{name: "unknown request", status: answer{404, nil, fixture("error_404.json")}, wantErr: providers.CodeNotFound},
		{name: "unknown status", status: answer{200, nil, `{"status":"PAUSED"}`}, wantErr: providers.CodeUnknown},
		{name: "rate limited", status: answer{429, map[string]string{"Retry-After": "2"}, fixture("error_429.json")}, wantErr: providers.CodeRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newQueueServer(t, tt.status, tt.result)
			d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			st, err := d.Status(t.Context(), id)
			if tt.wantErr != "" {
				if got := providers.ErrorCode(err); got != tt.wantErr {
					t.Errorf("Status(%s) = %+v, %v; want an error with code %s", tt.name, st, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Status(%s) error = %v", tt.name, err)
			}
			if st.RequestID != id || st.State != tt.wantState {
				t.Errorf("Status(%s) = %s %s, want %s %s", tt.name, st.RequestID, st.State, id, tt.wantState)
			}
			if tt.wantURL != "" && (len(st.Outputs) != 1 || st.Outputs[0].URL != tt.wantURL || st.Outputs[0].Kind != providers.OutputVideo ||
				st.Outputs[0].ContentType != "video/mp4" || !st.Outputs[0].ExpiresAt.IsZero()) {
				t.Errorf("Status(%s).Outputs = %+v, want one video/mp4 at %s without expiry", tt.name, st.Outputs, tt.wantURL)
			}
			if tt.wantURL == "" && len(st.Outputs) > 0 {
				t.Errorf("Status(%s).Outputs = %+v, want none", tt.name, st.Outputs)
			}
			switch {
			case tt.wantCode == "" && st.Error != nil:
				t.Errorf("Status(%s).Error = %v, want nil", tt.name, st.Error)
			case tt.wantCode != "" && st.Error == nil:
				t.Errorf("Status(%s).Error = nil, want code %s", tt.name, tt.wantCode)
			case st.Error != nil:
				if st.Error.Code != tt.wantCode || st.Error.VendorCode != tt.wantVendor {
					t.Errorf("Status(%s).Error = %s (vendor %q), want %s (vendor %q)", tt.name, st.Error.Code, st.Error.VendorCode, tt.wantCode, tt.wantVendor)
				}
				// The fixtures echo the refused prompt and image URL in "input".
				for _, secret := range []string{testPrompt, "X-Goog-Signature"} {
					if strings.Contains(st.Error.Message, secret) {
						t.Errorf("Status(%s).Error.Message = %q, want it free of %q", tt.name, st.Error.Message, secret)
					}
				}
			}
		})
	}
}

func TestStatusResultURL(t *testing.T) {
	t.Parallel()
	const id = "fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"
	tests := []struct {
		name        string
		responseURL func(base string) string
		wantPath    string
	}{
		{"returned URL on the base host", func(base string) string {
			return base + "/fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69?from=status"
		},
			"/fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"},
		{"returned URL elsewhere: derived", func(string) string { return "https://collector.invalid/steal" },
			"/fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"},
		{"no returned URL: derived", func(string) string { return "" },
			"/fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var paths []string
			srv := httptest.NewUnstartedServer(nil)
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/status") {
					// The status answer names the server's own URL.
					answer{200, nil, `{"status":"COMPLETED","response_url":"` + tt.responseURL(srv.URL) + `"}`}.write(w)
					return
				}
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				answer{200, nil, string(readFixture(t, "result_video.json"))}.write(w)
			})
			srv.Start()
			t.Cleanup(srv.Close)
			d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			if st, err := d.Status(t.Context(), id); err != nil || st.State != providers.StateSucceeded {
				t.Fatalf("Status(%q) = %+v, %v; want succeeded", id, st, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(paths) != 1 || paths[0] != tt.wantPath {
				t.Errorf("Status(%q) fetched the result from %v, want [%s]", id, paths, tt.wantPath)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	f := newFakeFal(t)
	d := f.driver(t)
	submit := func() (id, rid string) {
		t.Helper()
		id, err := d.Submit(t.Context(), providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: testPrompt})
		if err != nil {
			t.Fatal(err)
		}
		_, rid, _ = d.parseRequestID(id)
		return id, rid
	}
	queued, queuedRID := submit()
	running, runningRID := submit()
	if err := f.start(runningRID); err != nil {
		t.Fatal(err)
	}
	done, doneRID := submit()
	if err := f.finish(doneRID, outcomeOK); err != nil {
		t.Fatal(err)
	}
	otherApp := strings.Replace(queued, "fal-ai/bytedance/", "fal-ai/kling-video/", 1)
	tests := []struct {
		name, id string
		want     providers.Code
	}{
		{"queued: 202 CANCELLATION_REQUESTED", queued, ""},
		{"running: 202 CANCELLATION_REQUESTED", running, ""},
		{"finished: 400 ALREADY_COMPLETED", done, ""},
		{"unknown: 404 NOT_FOUND", "fal-ai/bytedance/requests/11111111-2222-4333-8444-555555555555", providers.CodeNotFound},
		{"another app's path: 404 NOT_FOUND", otherApp, providers.CodeNotFound},
		{"not a request id", "fal-ai/bytedance/requests/../../x", providers.CodeNotFound},
	}
	for _, tt := range tests {
		if got := providers.ErrorCode(d.Cancel(t.Context(), tt.id)); got != tt.want {
			t.Errorf("Cancel(%s) error code = %q, want %q", tt.name, got, tt.want)
		}
	}

	// The queued request never runs; fal documents no canceled status, so
	// the driver reports none.
	if err := f.finish(queuedRID, outcomeOK); err == nil {
		t.Errorf("the fake finished request %q after it was removed from the queue", queuedRID)
	}
	if st, err := d.Status(t.Context(), queued); err != nil || st.State.Terminal() {
		t.Errorf("Status(%q) after Cancel = %+v, %v; want a live state and no error (fal documents no canceled state)", queued, st, err)
	}
	// The running request was only signalled, and may still complete: its
	// video is reported as usual.
	if err := f.finish(runningRID, outcomeOK); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Status(t.Context(), running); err != nil || st.State != providers.StateSucceeded || len(st.Outputs) == 0 {
		t.Errorf("Status(%q) of a request that completed after Cancel = %+v, %v; want %s with its video", running, st, err, providers.StateSucceeded)
	}
	if st, err := d.Status(t.Context(), done); err != nil || st.State != providers.StateSucceeded {
		t.Errorf("Status(%q) after Cancel of a finished request = %+v, %v; want %s", done, st, err, providers.StateSucceeded)
	}
}

// TestCancelAnswers checks that Cancel maps fal's documented answers by
// status and body, and no other answer to success.
func TestCancelAnswers(t *testing.T) {
	t.Parallel()
	const id = "fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"
	tests := []struct {
		name string
		ans  answer
		want providers.Code
	}{
		{"202 CANCELLATION_REQUESTED", answer{202, nil, `{"status":"CANCELLATION_REQUESTED"}`}, ""},
		{"400 ALREADY_COMPLETED", answer{400, nil, `{"status":"ALREADY_COMPLETED"}`}, ""},
		{"404 NOT_FOUND", answer{404, nil, `{"status":"NOT_FOUND"}`}, providers.CodeNotFound},
		{"400 with another body", answer{400, nil, `{"detail":"Invalid request id"}`}, providers.CodeInvalidInput},
		{"502 whose body says ALREADY_COMPLETED", answer{502, nil, `{"status":"ALREADY_COMPLETED"}`}, providers.CodeUnavailable},
		{"401", answer{401, nil, `{"detail":"Unauthorized"}`}, providers.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut || r.URL.Path != "/"+id+"/cancel" {
					http.NotFound(w, r)
					return
				}
				tt.ans.write(w)
			}))
			t.Cleanup(srv.Close)
			d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			if got := providers.ErrorCode(d.Cancel(t.Context(), id)); got != tt.want {
				t.Errorf("Cancel() answered %d %s: error code = %q, want %q", tt.ans.status, tt.ans.body, got, tt.want)
			}
		})
	}
}
