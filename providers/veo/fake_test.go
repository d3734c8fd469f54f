package veo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeVeo is a fake of Veo on the Gemini API as Google's reference
// describes it: the API key in x-goog-api-key (or the key query
// parameter; none: 403 PERMISSION_DENIED, a wrong one: 400 with an
// ErrorInfo reason API_KEY_INVALID, as Google answers);
// POST /v1beta/models/{model}:predictLongRunning validated against the
// documented parameters (one instance; an inline image's base64 and mime
// type; aspectRatio 16:9 or 9:16; Veo 3 durations 4, 6, 8; Veo 2 5–8 and
// no resolution), answering the operation {name}; GET /v1beta/{name}
// (unknown: 404 NOT_FOUND); and the generated file at
// /v1beta/files/{id}:download?alt=media, which needs the key like any
// call (the engine sends it in the header; the fake notes which), and
// /v1beta/files/moved:download redirects to another host when a test asks.
// Errors are google.rpc.Status bodies, a 429 with a RetryInfo
// detail. Every operation answer is a fixture from testdata/ with its name
// and video URIs filled in (written from Google's reference, not
// recorded). Operations stay running until a test moves them.
type fakeVeo struct {
	t      testing.TB
	srv    *httptest.Server
	apiKey string

	mu       sync.Mutex
	ops      map[string]string // name → fixture
	failNext *fakeReply
	hang     bool
	requests []fakeRequest
	// downloadAuth is where the last file download carried the key:
	// "header" or "query".
	downloadAuth string
	// redirect is where /v1beta/files/moved:download sends its client.
	redirect string
}

type fakeReply struct {
	status     int
	fixture    string
	retryAfter string         // a Retry-After header
	retryDelay string         // RetryInfo.retryDelay in the body
	message    string         // replaces the fixture's message
	body       map[string]any // replaces the fixture
}

type fakeRequest struct {
	Method, Path string
	Body         []byte
}

const fakeKey = "AIzaSyD3-fake-veo-key-0123456789abcdef"

var fakeVideo = []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41")

var fakeModels = map[string][]float64{
	"veo-3.0-generate-001":          {4, 6, 8},
	"veo-3.0-fast-generate-001":     {4, 6, 8},
	"veo-3.1-generate-preview":      {4, 6, 8},
	"veo-3.1-fast-generate-preview": {4, 6, 8},
	"veo-2.0-generate-001":          {5, 6, 7, 8},
}

func newFake(t testing.TB) *fakeVeo {
	t.Helper()
	f := &fakeVeo{t: t, apiKey: fakeKey, ops: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1beta/models/{action}", f.api(f.predict))
	mux.HandleFunc("GET /v1beta/models/{model}/operations/{op}", f.api(f.get))
	mux.HandleFunc("GET /v1beta/files/{file}", f.api(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.PathValue("file"), ":download") || r.URL.Query().Get("alt") != "media" {
			f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
			return
		}
		f.mu.Lock()
		f.downloadAuth = "query"
		if r.Header.Get("x-goog-api-key") != "" {
			f.downloadAuth = "header"
		}
		redirect := f.redirect
		f.mu.Unlock()
		if r.PathValue("file") == "moved:download" && redirect != "" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(fakeVideo)
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVeo) driver(t testing.TB, cfg Config) *Driver {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = f.apiKey
	}
	cfg.BaseURL = f.srv.URL
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = f.srv.Client()
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	return d
}

func (f *fakeVeo) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Body: body})
		hang := f.hang
		f.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		key := r.Header.Get("x-goog-api-key")
		if key == "" {
			key = r.URL.Query().Get("key")
		}
		switch key {
		case f.apiKey:
		case "":
			f.reply(w, fakeReply{status: http.StatusForbidden, fixture: "error_403.json"})
			return
		default:
			f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400_key.json"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}
}

func (f *fakeVeo) predict(w http.ResponseWriter, r *http.Request) {
	model, method, _ := strings.Cut(r.PathValue("action"), ":")
	durations, known := fakeModels[model]
	if method != "predictLongRunning" || !known {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404_model.json"})
		return
	}
	f.mu.Lock()
	fail := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if fail != nil {
		f.reply(w, *fail)
		return
	}
	var in struct {
		Instances []struct {
			Prompt string `json:"prompt"`
			Image  *struct {
				BytesBase64Encoded string `json:"bytesBase64Encoded"`
				MimeType           string `json:"mimeType"`
			} `json:"image"`
		} `json:"instances"`
		Parameters map[string]any `json:"parameters"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Instances) != 1 {
		f.invalid(w, "Invalid JSON payload: exactly one instance is required.")
		return
	}
	inst, p := in.Instances[0], in.Parameters
	if img := inst.Image; img != nil {
		if _, err := base64.StdEncoding.DecodeString(img.BytesBase64Encoded); err != nil || img.BytesBase64Encoded == "" {
			f.invalid(w, "Invalid value at 'instances[0].image.bytes_base64_encoded': not valid base64.")
			return
		}
		if !slices.Contains([]string{"image/jpeg", "image/png", "image/webp"}, img.MimeType) {
			f.invalid(w, "Unsupported image mime type.")
			return
		}
	} else if inst.Prompt == "" {
		f.invalid(w, "A prompt is required for text-to-video.")
		return
	}
	dur, _ := p["durationSeconds"].(float64)
	res, hasRes := p["resolution"]
	switch {
	case p["aspectRatio"] != "16:9" && p["aspectRatio"] != "9:16":
		f.invalid(w, "Unsupported aspect ratio. Supported values are 16:9 and 9:16.")
		return
	case !slices.Contains(durations, dur):
		f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400_invalid.json"})
		return
	case strings.HasPrefix(model, "veo-2") && hasRes:
		f.invalid(w, "resolution is not supported by this model.")
		return
	case strings.HasPrefix(model, "veo-3") && res != "720p" && res != "1080p":
		f.invalid(w, "Unsupported resolution. Supported values are 720p and 1080p.")
		return
	}
	name := "models/" + model + "/operations/" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	f.mu.Lock()
	f.ops[name] = "operation_running.json"
	f.mu.Unlock()
	m := loadFixture(f.t, "operation_create.json")
	m["name"] = name
	writeJSON(w, http.StatusOK, m)
}

func (f *fakeVeo) get(w http.ResponseWriter, r *http.Request) {
	name := "models/" + r.PathValue("model") + "/operations/" + r.PathValue("op")
	f.mu.Lock()
	fixture, ok := f.ops[name]
	f.mu.Unlock()
	if !ok {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
		return
	}
	writeJSON(w, http.StatusOK, f.render(name, fixture))
}

// render is operation name's answer: its fixture with its name and the
// fake's file URLs.
func (f *fakeVeo) render(name, fixture string) map[string]any {
	m := loadFixture(f.t, fixture)
	m["name"] = name
	if resp, ok := m["response"].(map[string]any); ok {
		gvr, _ := resp["generateVideoResponse"].(map[string]any)
		samples, _ := gvr["generatedSamples"].([]any)
		for i, s := range samples {
			video := s.(map[string]any)["video"].(map[string]any)
			id := name[strings.LastIndex(name, "/")+1:]
			video["uri"] = f.srv.URL + "/v1beta/files/" + id + "-" + string(rune('a'+i)) + ":download?alt=media"
		}
	}
	return m
}

// set moves operation name to the state of fixture.
func (f *fakeVeo) set(t testing.TB, name, fixture string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ops[name]; !ok {
		t.Fatalf("fake veo: no operation %q", name)
	}
	f.ops[name] = fixture
}

func (f *fakeVeo) put(name, fixture string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops[name] = fixture
}

func (f *fakeVeo) failNextPredict(reply fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = &reply
}

func (f *fakeVeo) setHang(hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = hang
}

func (f *fakeVeo) lastDownloadAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downloadAuth
}

func (f *fakeVeo) redirectTo(u string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redirect = u
}

func (f *fakeVeo) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeVeo) reply(w http.ResponseWriter, r fakeReply) {
	body := r.body
	if body == nil {
		body = loadFixture(f.t, r.fixture)
	}
	e, _ := body["error"].(map[string]any)
	if e != nil && r.message != "" {
		e["message"] = r.message
	}
	if e != nil && r.retryDelay != "" {
		details, _ := e["details"].([]any)
		for _, d := range details {
			if d := d.(map[string]any); d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
				d["retryDelay"] = r.retryDelay
			}
		}
	}
	if r.retryAfter != "" {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	writeJSON(w, r.status, body)
}

func (f *fakeVeo) invalid(w http.ResponseWriter, msg string) {
	f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400_invalid.json", message: msg})
}

// loadFixture returns testdata/name decoded. It reports with Errorf, not
// Fatalf: the fake's handlers call it off the test's goroutine.
func loadFixture(t testing.TB, name string) map[string]any {
	m := map[string]any{}
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		t.Errorf("fixture %s: %v", name, err)
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
