package veo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func textRequest() providers.Request {
	return providers.Request{
		Workflow:        providers.WorkflowTextToVideo,
		Prompt:          "A hummingbird hovering at a red flower, 120 fps slow motion.",
		DurationSeconds: 8,
		AspectRatio:     "16:9",
		Resolution:      "720p",
	}
}

// pngBytes is a small real PNG.
func pngBytes(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 9))
	img.Set(3, 3, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// imageServer serves body with contentType (and status) at /src.png,
// signed like the engine's URLs.
func imageServer(t *testing.T, status int, contentType string, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/src.png?X-Signature=s3cr3t-signature"
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
		{"bad base", Config{Conn: providers.Conn{APIKey: "key", BaseURL: "generativelanguage.googleapis.com"}}, false},
		{"negative timeout", Config{Conn: providers.Conn{APIKey: "key", Timeout: -1}}, false},
		{"callback token", Config{Conn: providers.Conn{APIKey: "key"}, CallbackToken: "0123456789abcdef"}, true},
		{"short callback token", Config{Conn: providers.Conn{APIKey: "key"}, CallbackToken: "0123456789abcde"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v, %v; want ok %v", tt.cfg, d, err, tt.ok)
			}
			if tt.ok && (d.base.String() != DefaultBaseURL || d.models[providers.WorkflowImageToVideo] != DefaultModel || d.HonorsIdempotencyKeys()) {
				t.Errorf("New(%+v) = base %s, model %q, keys %v; want %s, %s, false", tt.cfg, d.base, d.models[providers.WorkflowImageToVideo], d.HonorsIdempotencyKeys(), DefaultBaseURL, DefaultModel)
			}
		})
	}
}

func TestParametersFor(t *testing.T) {
	t.Parallel()
	req := func(aspect, res string, secs int) providers.Request {
		return providers.Request{AspectRatio: aspect, Resolution: res, DurationSeconds: secs}
	}
	tests := []struct {
		model string
		req   providers.Request
		want  parameters // zero means CodeInvalidInput
	}{
		{"veo-3.0-generate-001", req("16:9", "720p", 8), parameters{"16:9", 8, "720p"}},
		{"veo-3.0-generate-001", req("9:16", "1080p", 8), parameters{"9:16", 8, "1080p"}},
		{"veo-3.1-generate-preview", req("16:9", "4k", 8), parameters{"16:9", 8, "4k"}},
		{"veo-2.0-generate-001", req("16:9", "720p", 5), parameters{"16:9", 5, ""}},     // no resolution parameter
		{"veo-9-experimental", req("16:9", "720p", 11), parameters{"16:9", 11, "720p"}}, // unknown: Veo judges
		{"veo-9-experimental", req("1:1", "720p", 8), parameters{}},
		{"veo-9-experimental", req("16:9", "8k", 8), parameters{}},
		{"veo-3.0-generate-001", req("16:9", "720p", 0), parameters{}},
	}
	for _, tt := range tests {
		got, err := parametersFor(tt.model, tt.req)
		if tt.want == (parameters{}) {
			if providers.ErrorCode(err) != providers.CodeInvalidInput {
				t.Errorf("parametersFor(%s, %s %s %ds) = %+v, %v; want code %s", tt.model, tt.req.AspectRatio, tt.req.Resolution, tt.req.DurationSeconds, got, err, providers.CodeInvalidInput)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("parametersFor(%s, %s %s %ds) = %+v, %v; want %+v", tt.model, tt.req.AspectRatio, tt.req.Resolution, tt.req.DurationSeconds, got, err, tt.want)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 10, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		fixture    string
		state      providers.State
		code       providers.Code
		vendorCode string
		inMessage  string
		outputs    int
	}{
		{"operation_running.json", providers.StateProcessing, "", "", "", 0},
		{"operation_done.json", providers.StateSucceeded, "", "", "", 1},
		{"operation_partly_filtered.json", providers.StateSucceeded, "", "", "", 1},
		{"operation_filtered.json", providers.StateFailed, providers.CodeContentPolicy, "raiMediaFiltered", "Support codes: 58061214", 0},
		{"operation_empty.json", providers.StateFailed, providers.CodeUnknown, "", "", 0},
		{"operation_error_invalid.json", providers.StateFailed, providers.CodeInvalidInput, "INVALID_ARGUMENT", "could not be decoded", 0},
		{"operation_error_internal.json", providers.StateFailed, providers.CodeUnavailable, "INTERNAL", "internal error", 0},
		{"operation_cancelled.json", providers.StateCanceled, "", "", "", 0},
	}
	f := newFake(t)
	d := f.driver(t, Config{Conn: providers.Conn{Now: func() time.Time { return now }}})
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			name := "models/veo-3.0-generate-001/operations/" + strings.ReplaceAll(strings.TrimSuffix(tt.fixture, ".json"), "_", "-")
			f.put(name, tt.fixture)
			st, err := d.Status(t.Context(), name)
			if err != nil {
				t.Fatalf("Status(%s) error = %v", tt.fixture, err)
			}
			if st.RequestID != name || st.State != tt.state || st.Progress != 0 || len(st.Outputs) != tt.outputs {
				t.Errorf("Status(%s) = %+v, want state %s, progress 0, %d outputs", tt.fixture, st, tt.state, tt.outputs)
			}
			for _, o := range st.Outputs {
				if want := now.Add(48 * time.Hour); !o.ExpiresAt.Equal(want) || o.Kind != providers.OutputVideo || o.ContentType != "video/mp4" {
					t.Errorf("Status(%s) output = %+v, want a video/mp4 video expiring at %s", tt.fixture, o, want)
				}
			}
			switch {
			case tt.code == "" && st.Error != nil:
				t.Errorf("Status(%s).Error = %v, want nil", tt.fixture, st.Error)
			case tt.code != "" && (st.Error == nil || st.Error.Code != tt.code || st.Error.VendorCode != tt.vendorCode || !strings.Contains(st.Error.Message, tt.inMessage)):
				t.Errorf("Status(%s).Error = %+v, want code %s, vendor code %q, message with %q", tt.fixture, st.Error, tt.code, tt.vendorCode, tt.inMessage)
			}
		})
	}
}

// TestOutputURLCarriesNoKey: Output.URLs are queued, stored and may be
// logged, so they carry no credential; the fake, like Google, refuses
// them without the key, and Download, which adds it in a header, gets the
// video.
func TestOutputURLCarriesNoKey(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	id, err := d.Submit(t.Context(), textRequest())
	if err != nil {
		t.Fatal(err)
	}
	f.set(t, id, "operation_done.json")
	st, err := d.Status(t.Context(), id)
	if err != nil || len(st.Outputs) != 1 {
		t.Fatalf("Status(%s) = %+v, %v; want one output", id, st, err)
	}
	out := st.Outputs[0].URL
	u, err := url.Parse(out)
	if err != nil || u.Query().Has("key") || strings.Contains(out, fakeKey) || u.Query().Get("alt") != "media" {
		t.Errorf("Status(%s).Outputs[0].URL = %q, want alt=media and no key", id, out)
	}
	resp, err := f.srv.Client().Get(out) // without the key
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET output without the key = HTTP %d, want 403", resp.StatusCode)
	}
	resp, err = d.Download(t.Context(), out)
	if err != nil {
		t.Fatalf("Download(%s) error = %v", out, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, fakeVideo) {
		t.Errorf("Download = HTTP %d, %d bytes; want 200 and the video", resp.StatusCode, len(body))
	}
	if got := f.lastDownloadAuth(); got != "header" {
		t.Errorf("the download carried the key in %q, want the x-goog-api-key header", got)
	}

	// A URI that quotes the key is cleaned; one on another host is kept.
	for uri, want := range map[string]string{
		f.srv.URL + "/v1beta/files/x:download?alt=media&key=" + url.QueryEscape(fakeKey): f.srv.URL + "/v1beta/files/x:download?alt=media",
		"https://storage.googleapis.com/veo/x.mp4?X-Goog-Signature=abc":                  "https://storage.googleapis.com/veo/x.mp4?X-Goog-Signature=abc",
		"https://attacker.example/v1beta/files/" + fakeKey:                               "",
	} {
		if got := d.outputURL(uri); got != want {
			t.Errorf("outputURL(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestDownloadKeyStaysHome: the key goes to the API's host only — not to a
// URL elsewhere, not across a redirect to another host — and a failed
// download's error quotes neither the key nor the URL's query.
func TestDownloadKeyStaysHome(t *testing.T) {
	t.Parallel()
	var elsewhere []string
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Header.Get("x-goog-api-key")+r.URL.Query().Get("key"))
		mu.Unlock()
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(fakeVideo)
	}))
	defer other.Close()
	f := newFake(t)
	f.redirectTo(other.URL + "/bucket/video.mp4?X-Goog-Signature=sig")
	d := f.driver(t, Config{})
	for _, u := range []string{
		f.srv.URL + "/v1beta/files/moved:download?alt=media", // redirected to other
		other.URL + "/v1beta/files/x:download?alt=media",     // another host from the start
	} {
		resp, err := d.Download(t.Context(), u)
		if err != nil {
			t.Fatalf("Download(%s) error = %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Download(%s) = HTTP %d, want 200", u, resp.StatusCode)
		}
	}
	mu.Lock()
	if len(elsewhere) != 2 || elsewhere[0] != "" || elsewhere[1] != "" {
		t.Errorf("the other host got keys %q, want two requests without one", elsewhere)
	}
	mu.Unlock()

	// A server that hangs up: the error names the host, never the key or
	// the query.
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer dead.Close()
	d2, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: dead.URL, HTTPClient: dead.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d2.Download(t.Context(), dead.URL+"/v1beta/files/x:download?alt=media&token=s3cr3t")
	if providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Fatalf("Download from a server that hangs up: %v, want CodeUnavailable", err)
	}
	if msg := err.Error(); strings.Contains(msg, fakeKey) || strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, "[redacted]") {
		t.Errorf("Download error %q quotes a secret (or was not redacted)", msg)
	}
	if _, err := d2.Download(t.Context(), "ftp://x/y"); providers.ErrorCode(err) != providers.CodeInvalidInput {
		t.Errorf("Download(ftp://…) error = %v, want CodeInvalidInput", err)
	}
}

func TestSubmitBody(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{Models: map[providers.Workflow]string{providers.WorkflowTextToVideo: "veo-3.1-generate-preview"}})
	req := textRequest()
	req.DurationSeconds, req.AspectRatio, req.Resolution, req.NegativePrompt = 8, "9:16", "1080p", "cartoon, low quality"
	id, err := d.Submit(t.Context(), req)
	if err != nil {
		t.Fatalf("Submit(%+v) error = %v", req, err)
	}
	if !strings.HasPrefix(id, "models/veo-3.1-generate-preview/operations/") {
		t.Errorf("Submit(%+v) = %q, want an operation of veo-3.1-generate-preview", req, id)
	}
	reqs := f.seen()
	if len(reqs) != 1 || reqs[0].Path != "/v1beta/models/veo-3.1-generate-preview:predictLongRunning" {
		t.Fatalf("Submit(%+v) sent %+v, want POST /v1beta/models/veo-3.1-generate-preview:predictLongRunning", req, reqs)
	}
	want := `{"instances":[{"prompt":"` + req.Prompt + `"}],"parameters":{"aspectRatio":"9:16","durationSeconds":8,"resolution":"1080p","negativePrompt":"cartoon, low quality"}}`
	if got := strings.TrimSpace(string(reqs[0].Body)); got != want {
		t.Errorf("Submit(%+v) body = %s, want %s", req, got, want)
	}
}

func TestImageInlining(t *testing.T) {
	t.Parallel()
	png := pngBytes(t)
	const limit = 4096
	tests := []struct {
		name        string
		status      int
		contentType string
		body        []byte
		code        providers.Code // "" means success
		mime        string
	}{
		{"png", 200, "image/png", png, "", "image/png"},
		{"sniffed", 200, "application/octet-stream", png, "", "image/png"},
		{"jpeg with params", 200, "image/jpeg; charset=binary", []byte("\xff\xd8\xff\xe0fakejpeg"), "", "image/jpeg"},
		{"at the cap", 200, "image/png", append(png, make([]byte, limit-len(png))...), "", "image/png"},
		{"over the cap", 200, "image/png", append(png, make([]byte, limit+1-len(png))...), providers.CodeInvalidInput, ""},
		{"html", 200, "text/html", []byte("<html>denied</html>"), providers.CodeInvalidInput, ""},
		{"gone", 404, "text/plain", []byte("no such key"), providers.CodeInvalidInput, ""},
		{"expired signature", 403, "application/xml", []byte("<Error>expired</Error>"), providers.CodeInvalidInput, ""},
		{"store down", 503, "text/plain", nil, providers.CodeUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{})
			d.maxImage = limit
			req := textRequest()
			req.Workflow, req.SourceImageURL = providers.WorkflowImageToVideo, imageServer(t, tt.status, tt.contentType, tt.body)
			_, err := d.Submit(t.Context(), req)
			if providers.ErrorCode(err) != tt.code {
				t.Fatalf("Submit(image %s) error = %v, want code %q", tt.name, err, tt.code)
			}
			if err != nil {
				if strings.Contains(err.Error(), "s3cr3t-signature") {
					t.Errorf("Submit(image %s) error %q quotes the signed URL", tt.name, err)
				}
				if n := len(f.seen()); n != 0 {
					t.Errorf("Submit(image %s) made %d API calls, want none", tt.name, n)
				}
				return
			}
			var sent struct {
				Instances []struct {
					Image inlineImage `json:"image"`
				} `json:"instances"`
			}
			if err := json.Unmarshal(f.seen()[0].Body, &sent); err != nil {
				t.Fatal(err)
			}
			got, _ := base64.StdEncoding.DecodeString(sent.Instances[0].Image.BytesBase64Encoded)
			if !bytes.Equal(got, tt.body) || sent.Instances[0].Image.MimeType != tt.mime {
				t.Errorf("Submit(image %s) sent %d bytes as %q, want the %d source bytes as %q", tt.name, len(got), sent.Instances[0].Image.MimeType, len(tt.body), tt.mime)
			}
		})
	}
}

func TestImageContentLengthOverCap(t *testing.T) {
	t.Parallel()
	// The header alone must make the driver give up: no body follows.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Length", strconv.Itoa(MaxImageBytes+1))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	f := newFake(t)
	d := f.driver(t, Config{})
	req := textRequest()
	req.Workflow, req.SourceImageURL = providers.WorkflowImageToVideo, srv.URL+"/big.png"
	if _, err := d.Submit(t.Context(), req); providers.ErrorCode(err) != providers.CodeInvalidInput {
		t.Errorf("Submit(%d-byte image) error = %v, want code %s", MaxImageBytes+1, err, providers.CodeInvalidInput)
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
		vendorCode string
		retryAfter time.Duration
	}{
		{name: "429 RetryInfo", reply: &fakeReply{status: 429, fixture: "error_429.json"}, code: providers.CodeRateLimited, vendorCode: "RESOURCE_EXHAUSTED", retryAfter: 27 * time.Second},
		{name: "429 Retry-After wins", reply: &fakeReply{status: 429, fixture: "error_429.json", retryAfter: "5"}, code: providers.CodeRateLimited, vendorCode: "RESOURCE_EXHAUSTED", retryAfter: 5 * time.Second},
		{name: "429 fractional delay", reply: &fakeReply{status: 429, fixture: "error_429.json", retryDelay: "1.5s"}, code: providers.CodeRateLimited, vendorCode: "RESOURCE_EXHAUSTED", retryAfter: 1500 * time.Millisecond},
		{name: "500", reply: &fakeReply{status: 500, fixture: "error_500.json"}, code: providers.CodeUnavailable, vendorCode: "INTERNAL"},
		{name: "503", reply: &fakeReply{status: 503, fixture: "error_503.json"}, code: providers.CodeUnavailable, vendorCode: "UNAVAILABLE"},
		{name: "400", reply: &fakeReply{status: 400, fixture: "error_400_invalid.json"}, code: providers.CodeInvalidInput, vendorCode: "INVALID_ARGUMENT"},
		{name: "400 bad key", key: "AIzaSy-wrong", code: providers.CodeUnauthenticated, vendorCode: "INVALID_ARGUMENT"},
		{name: "400 bad key on status", key: "AIzaSy-wrong", op: "status", code: providers.CodeUnauthenticated, vendorCode: "INVALID_ARGUMENT"},
		{name: "403", reply: &fakeReply{status: 403, fixture: "error_403.json"}, code: providers.CodeUnauthenticated, vendorCode: "PERMISSION_DENIED"},
		{name: "404 on status", op: "status", code: providers.CodeNotFound, vendorCode: "NOT_FOUND"},
		{name: "not an operation name", op: "status-malformed", code: providers.CodeNotFound},
		{name: "cancel", op: "cancel", code: providers.CodeUnimplemented},
		{name: "timeout", hang: true, code: providers.CodeUnavailable},
		{name: "timeout on status", hang: true, op: "status", code: providers.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{Conn: providers.Conn{APIKey: tt.key, Now: func() time.Time { return now }, Timeout: 100 * time.Millisecond}})
			if tt.reply != nil {
				f.failNextPredict(*tt.reply)
			}
			f.setHang(tt.hang)
			var err error
			switch tt.op {
			case "status":
				_, err = d.Status(t.Context(), "models/veo-3.0-generate-001/operations/unknown0op")
			case "status-malformed":
				_, err = d.Status(t.Context(), "../v1beta/files/x:download")
				if n := len(f.seen()); n != 0 {
					t.Errorf("Status(malformed name) made %d calls, want none", n)
				}
			case "cancel":
				err = d.Cancel(t.Context(), "models/veo-3.0-generate-001/operations/unknown0op")
			default:
				_, err = d.Submit(t.Context(), textRequest())
			}
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Fatalf("%s error = %T %v, want a *providers.Error", tt.name, err, err)
			}
			if e.Code != tt.code || e.VendorCode != tt.vendorCode || providers.RetryAfter(err) != tt.retryAfter {
				t.Errorf("%s error = %v, want code %s, vendor code %q, retry after %s", tt.name, err, tt.code, tt.vendorCode, tt.retryAfter)
			}
		})
	}
}

// TestKeyNeverInErrors: neither a vendor message that quotes the key nor a
// failed call puts it in an error.
func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{Conn: providers.Conn{Timeout: 100 * time.Millisecond}})
	var errs []error

	f.failNextPredict(fakeReply{status: 400, fixture: "error_400_invalid.json", message: "API key " + fakeKey + " has no access to this model"})
	_, err := d.Submit(t.Context(), textRequest())
	errs = append(errs, err)

	const name = "models/veo-3.0-generate-001/operations/keyecho"
	f.put(name, "operation_error_internal.json")
	st, err := d.Status(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, st.Error)
	// An operation whose error quotes the key.
	d2 := f.driver(t, Config{})
	errs = append(errs, d2.status(name, &operation{Done: true, Error: &rpcStatus{Code: 7, Message: "key " + fakeKey + " revoked"}}).Error)

	f.setHang(true)
	_, err = d.Status(t.Context(), name)
	errs = append(errs, err)
	f.srv.Close()
	_, err = d.Submit(t.Context(), textRequest())
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d = nil, want one", i)
		} else if strings.Contains(err.Error(), fakeKey) {
			t.Errorf("error %d = %q, contains the API key", i, err)
		}
	}
}

func TestRPCClass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want providers.Code
		name string
	}{
		{3, providers.CodeInvalidInput, "INVALID_ARGUMENT"},
		{9, providers.CodeInvalidInput, "FAILED_PRECONDITION"},
		{4, providers.CodeUnavailable, "DEADLINE_EXCEEDED"},
		{8, providers.CodeUnavailable, "RESOURCE_EXHAUSTED"},
		{13, providers.CodeUnavailable, "INTERNAL"},
		{14, providers.CodeUnavailable, "UNAVAILABLE"},
		{7, providers.CodeUnauthenticated, "PERMISSION_DENIED"},
		{16, providers.CodeUnauthenticated, "UNAUTHENTICATED"},
		{12, providers.CodeUnimplemented, "UNIMPLEMENTED"},
		{2, providers.CodeUnknown, ""},
		{99, providers.CodeUnknown, ""},
	}
	for _, tt := range tests {
		if got, name := rpcClass(tt.code); got != tt.want || name != tt.name {
			t.Errorf("rpcClass(%d) = %s, %q; want %s, %q", tt.code, got, name, tt.want, tt.name)
		}
	}
}

// A download whose answer does not start within Timeout fails, transient;
// one that answers in time is not cut short by Timeout while its body is
// read.
func TestDownloadTimeout(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{Conn: providers.Conn{Timeout: 200 * time.Millisecond}})
	u := f.srv.URL + "/v1beta/files/x:download?alt=media"
	resp, err := d.Download(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past Timeout, before reading the body
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(body, fakeVideo) {
		t.Fatalf("body read after Timeout: %d bytes, %v; want the video", len(body), err)
	}
	f.setHang(true)
	start := time.Now()
	_, err = d.Download(t.Context(), u)
	if providers.ErrorCode(err) != providers.CodeUnavailable || time.Since(start) > 3*time.Second {
		t.Errorf("Download from a server that never answers = %v after %s; want CodeUnavailable after about 200ms", err, time.Since(start))
	}
}

// TestVideoEncoding: the video's type comes from the sample's "encoding",
// the wire's name for it (go-genai models.go, videoFromMldev), not from a
// "mimeType" the Gemini API never sends there.
func TestVideoEncoding(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	tests := []struct{ fixture, want string }{
		{"operation_done.json", "video/mp4"},
		{"operation_done_webm.json", "video/webm"},
	}
	for _, tt := range tests {
		name := "models/veo-3.0-generate-001/operations/" + strings.ReplaceAll(strings.TrimSuffix(tt.fixture, ".json"), "_", "-")
		f.put(name, tt.fixture)
		st, err := d.Status(t.Context(), name)
		if err != nil {
			t.Fatalf("Status(%s) error = %v", tt.fixture, err)
		}
		if len(st.Outputs) != 1 || st.Outputs[0].ContentType != tt.want {
			t.Errorf("Status(%s).Outputs = %+v, want one output of type %s (the sample's encoding)", tt.fixture, st.Outputs, tt.want)
		}
	}
}
