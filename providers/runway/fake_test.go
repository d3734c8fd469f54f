package runway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeRunway is a fake of Runway's API, version 2024-11-06, as its API
// reference and official SDKs describe it: Bearer auth and the
// X-Runway-Version header on every call; POST /v1/text_to_video and
// POST /v1/image_to_video validated against each model's documented
// ratios and durations, answering {"id"}; GET /v1/tasks/{id}; DELETE
// /v1/tasks/{id}, which aborts a running task and deletes a finished one,
// after which neither can be fetched again (404); errors as
// {"error": "..."}. Every task answer is a fixture from testdata/ with the
// task's id, createdAt and output URLs filled in (the fixtures are written
// from Runway's reference, not recorded). Tasks stay PENDING until a test
// moves them. Output URLs point at the fake's /files/, which serves a
// small MP4 without credentials, as Runway's signed CDN URLs do.
type fakeRunway struct {
	t      testing.TB
	srv    *httptest.Server
	apiKey string

	mu       sync.Mutex
	tasks    map[string]*fakeTask
	failNext *fakeReply
	hang     bool // every API call waits for its client to give up
	requests []fakeRequest
}

type fakeTask struct {
	fixture   string
	createdAt time.Time
	progress  float64
}

// fakeReply is one canned error answer.
type fakeReply struct {
	status     int
	fixture    string
	retryAfter string
}

type fakeRequest struct {
	Method, Path string
	Body         []byte
}

const fakeKey = "key_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fakeVideo is the start of an MP4 (an ftyp box): bytes for the output URL.
var fakeVideo = []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41")

func newFake(t testing.TB) *fakeRunway {
	t.Helper()
	f := &fakeRunway{t: t, apiKey: fakeKey, tasks: map[string]*fakeTask{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/text_to_video", f.api(f.create))
	mux.HandleFunc("POST /v1/image_to_video", f.api(f.create))
	mux.HandleFunc("GET /v1/tasks/{id}", f.api(f.get))
	mux.HandleFunc("DELETE /v1/tasks/{id}", f.api(f.delete))
	mux.HandleFunc("GET /files/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(fakeVideo)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// driver returns a Driver for f, with cfg's other settings.
func (f *fakeRunway) driver(t testing.TB, cfg Config) *Driver {
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

// api wraps an API handler with what every call checks.
func (f *fakeRunway) api(h http.HandlerFunc) http.HandlerFunc {
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
		if r.Header.Get("Authorization") != "Bearer "+f.apiKey {
			f.reply(w, fakeReply{status: http.StatusUnauthorized, fixture: "error_401.json"})
			return
		}
		if v := r.Header.Get("X-Runway-Version"); v != "2024-11-06" {
			f.errorf(w, http.StatusBadRequest, "X-Runway-Version: expected 2024-11-06, got %q", v)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h(w, r)
	}
}

// The fake's own copy of the documented model limits, kept apart from the
// driver's table so that the two check each other.
var (
	fakeText = map[string][]string{
		"gen4.5":      {"1280:720", "720:1280"},
		"veo3.1":      {"1280:720", "720:1280", "1080:1920", "1920:1080"},
		"veo3.1_fast": {"1280:720", "720:1280", "1080:1920", "1920:1080"},
		"veo3":        {"1280:720", "720:1280", "1080:1920", "1920:1080"},
	}
	fakeImage = map[string][]string{
		"gen4_turbo":  {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"},
		"gen4.5":      {"1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"},
		"veo3.1":      {"1280:720", "720:1280", "1080:1920", "1920:1080"},
		"veo3.1_fast": {"1280:720", "720:1280", "1080:1920", "1920:1080"},
		"veo3":        {"1280:720", "720:1280", "1080:1920", "1920:1080"},
	}
	fakeDurations = map[string][]int{
		"gen4_turbo": {5, 10}, "gen4.5": {2, 3, 4, 5, 6, 7, 8, 9, 10},
		"veo3.1": {4, 6, 8}, "veo3.1_fast": {4, 6, 8}, "veo3": {8},
	}
)

func (f *fakeRunway) create(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if fail != nil {
		f.reply(w, *fail)
		return
	}
	var in struct {
		Model       string `json:"model"`
		PromptImage string `json:"promptImage"`
		PromptText  string `json:"promptText"`
		Ratio       string `json:"ratio"`
		Duration    *int   `json:"duration"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.errorf(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	offered := fakeText
	if r.URL.Path == "/v1/image_to_video" {
		offered = fakeImage
		if !strings.HasPrefix(in.PromptImage, "https://") && !strings.HasPrefix(in.PromptImage, "data:image/") {
			f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400.json"})
			return
		}
	} else if in.PromptText == "" {
		f.errorf(w, http.StatusBadRequest, "promptText: Required")
		return
	}
	ratios, ok := offered[in.Model]
	switch {
	case !ok:
		f.errorf(w, http.StatusBadRequest, "model: Invalid enum value, received '%s'", in.Model)
	case !slices.Contains(ratios, in.Ratio):
		f.errorf(w, http.StatusBadRequest, "ratio: Invalid enum value, received '%s'", in.Ratio)
	case in.Duration == nil || !slices.Contains(fakeDurations[in.Model], *in.Duration):
		f.errorf(w, http.StatusBadRequest, "duration: Invalid value for model %s", in.Model)
	case len([]rune(in.PromptText)) > 1000:
		f.errorf(w, http.StatusBadRequest, "promptText: String must contain at most 1000 character(s)")
	default:
		id := uuid.NewString()
		f.mu.Lock()
		f.tasks[id] = &fakeTask{fixture: "task_pending.json", createdAt: time.Now().UTC()}
		f.mu.Unlock()
		m := f.fixture("create.json")
		m["id"] = id
		writeJSON(w, http.StatusOK, m)
	}
}

func (f *fakeRunway) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	task, ok := f.tasks[id]
	var snapshot fakeTask
	if ok {
		snapshot = *task
	}
	f.mu.Unlock()
	if !ok {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
		return
	}
	writeJSON(w, http.StatusOK, f.render(id, snapshot))
}

func (f *fakeRunway) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	_, ok := f.tasks[id]
	delete(f.tasks, id) // aborted or deleted: never fetched again
	f.mu.Unlock()
	if !ok {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// render is task id's answer: its fixture with the task's own values.
func (f *fakeRunway) render(id string, t fakeTask) map[string]any {
	m := f.fixture(t.fixture)
	m["id"] = id
	m["createdAt"] = t.createdAt.Format(time.RFC3339Nano)
	if _, ok := m["output"]; ok {
		m["output"] = []string{f.srv.URL + "/files/" + id + ".mp4?_jwt=eyJhbGciOiJIUzI1NiJ9.test.sig"}
	}
	if t.fixture == "task_running.json" {
		m["progress"] = t.progress
	}
	return m
}

// set moves task id to the state of fixture.
func (f *fakeRunway) set(t testing.TB, id, fixture string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	task, ok := f.tasks[id]
	if !ok {
		t.Fatalf("fake runway: no task %q", id)
	}
	task.fixture = fixture
}

// put adds (or replaces) task id, created at createdAt, in the state of
// fixture.
func (f *fakeRunway) put(id, fixture string, createdAt time.Time, progress float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks[id] = &fakeTask{fixture: fixture, createdAt: createdAt, progress: progress}
}

func (f *fakeRunway) failNextCreate(reply fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = &reply
}

func (f *fakeRunway) setHang(hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = hang
}

// seen returns the API requests the fake received, in order.
func (f *fakeRunway) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeRunway) reply(w http.ResponseWriter, r fakeReply) {
	if r.retryAfter != "" {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	writeJSON(w, r.status, f.fixture(r.fixture))
}

func (f *fakeRunway) errorf(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// fixture returns testdata/name decoded.
func (f *fakeRunway) fixture(name string) map[string]any {
	return loadFixture(f.t, name)
}

func loadFixture(t testing.TB, name string) map[string]any {
	t.Helper()
	// Errorf, not Fatalf: the fake's handlers call this off the test's
	// goroutine.
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
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(d / time.Second))
}
