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
	"unicode/utf16"

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
	reads     int // each read of a SUCCEEDED task issues fresh output URLs
}

// fakeReply is one canned error answer.
type fakeReply struct {
	status     int
	fixture    string
	message    string // the body {"error": message} instead of fixture
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

// fakeModel is what one model accepts, the fake's own copy of the SDK's
// create parameters, kept apart from the driver's table so that the two
// check each other. From runwayml/sdk-node 4.12.0 (ecb7e33):
// src/resources/image-to-video.ts (ImageToVideoCreateParams.*) and
// src/resources/text-to-video.ts (TextToVideoCreateParams.*); gen3a_turbo
// from image-to-video.ts as it was before 72f96f2 (2026-06-10), which
// removed it.
type fakeModel struct {
	text, image []string // ratios per route; nil: not offered there
	durations   []int    // the lengths it makes
	// needDuration: duration is required (gen4.5, veo3), not optional.
	needDuration bool
	// needPromptText: promptText is required on image_to_video too.
	needPromptText bool
	// positions a promptImage array item may take ("first", "last").
	positions []string
}

var fakeModels = map[string]fakeModel{
	"gen4.5": {text: []string{"1280:720", "720:1280"},
		image:     []string{"1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"},
		durations: []int{2, 3, 4, 5, 6, 7, 8, 9, 10}, needDuration: true, needPromptText: true, positions: []string{"first"}},
	"gen4_turbo": {image: []string{"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"},
		durations: []int{2, 3, 4, 5, 6, 7, 8, 9, 10}, positions: []string{"first"}},
	"veo3.1": {text: []string{"1280:720", "720:1280", "1080:1920", "1920:1080"}, image: []string{"1280:720", "720:1280", "1080:1920", "1920:1080"},
		durations: []int{4, 6, 8}, positions: []string{"first", "last"}},
	"veo3.1_fast": {text: []string{"1280:720", "720:1280", "1080:1920", "1920:1080"}, image: []string{"1280:720", "720:1280", "1080:1920", "1920:1080"},
		durations: []int{4, 6, 8}, positions: []string{"first", "last"}},
	"veo3": {text: []string{"1280:720", "720:1280", "1080:1920", "1920:1080"}, image: []string{"1280:720", "720:1280", "1080:1920", "1920:1080"},
		durations: []int{8}, needDuration: true, positions: []string{"first"}},
	"gen3a_turbo": {image: []string{"768:1280", "1280:768"}, durations: []int{5, 10}, needPromptText: true, positions: []string{"first", "last"}},
}

// create validates a create body per model as Runway does and answers
// 400 {"error": "<field>: <what is wrong>"} (the shape of Runway's error
// answers; see testdata/error_400*.json) for the first violation.
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
		Model       string          `json:"model"`
		PromptImage json.RawMessage `json:"promptImage"`
		PromptText  *string         `json:"promptText"`
		Ratio       *string         `json:"ratio"`
		Duration    *json.Number    `json:"duration"`
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		f.errorf(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	if msg := validateCreate(r.URL.Path == "/v1/image_to_video", in.Model, in.PromptImage, in.PromptText, in.Ratio, in.Duration); msg != "" {
		f.errorf(w, http.StatusBadRequest, "%s", msg)
		return
	}
	id := uuid.NewString()
	f.mu.Lock()
	f.tasks[id] = &fakeTask{fixture: "task_pending.json", createdAt: time.Now().UTC()}
	f.mu.Unlock()
	m := f.fixture("create.json")
	m["id"] = id
	writeJSON(w, http.StatusOK, m)
}

// validateCreate returns what is wrong with a create body, or "".
func validateCreate(image bool, model string, promptImage json.RawMessage, promptText, ratio *string, duration *json.Number) string {
	spec, ok := fakeModels[model]
	ratios := spec.text
	if image {
		ratios = spec.image
	}
	if !ok || ratios == nil {
		return fmt.Sprintf("model: Invalid discriminator value. Received '%s'", model)
	}
	if image {
		if msg := validatePromptImage(promptImage, spec.positions); msg != "" {
			return msg
		}
	} else if promptImage != nil {
		return "promptImage: Unrecognized key for text_to_video"
	}
	switch {
	case promptText == nil && (!image || spec.needPromptText):
		return "promptText: Required"
	case promptText != nil && (*promptText == "" || len(utf16.Encode([]rune(*promptText))) > 1000):
		return "promptText: String must contain between 1 and 1000 character(s)"
	}
	if ratio == nil {
		if model != "gen3a_turbo" {
			return "ratio: Required"
		}
	} else if !slices.Contains(ratios, *ratio) {
		return fmt.Sprintf("ratio: Invalid enum value. Expected %s, received '%s'", quoteAll(ratios), *ratio)
	}
	if duration == nil {
		if spec.needDuration {
			return "duration: Required"
		}
		return ""
	}
	n, err := duration.Int64()
	if err != nil {
		return "duration: Expected integer, received float"
	}
	if !slices.Contains(spec.durations, int(n)) {
		ds := make([]string, len(spec.durations))
		for i, d := range spec.durations {
			ds[i] = strconv.Itoa(d)
		}
		return fmt.Sprintf("duration: Invalid duration %d for model %s. Expected one of %s", n, model, strings.Join(ds, " | "))
	}
	return ""
}

// validatePromptImage checks promptImage: an HTTPS (or data:) URL, or an
// array of {uri, position} with distinct positions the model takes and a
// first frame wherever there is a last (veo3.1: "does not support
// generating with only a last frame").
func validatePromptImage(raw json.RawMessage, positions []string) string {
	okURI := func(u string) bool { return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "data:image/") }
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if !okURI(one) {
			return "promptImage: Invalid URL. Only HTTPS URLs are allowed."
		}
		return ""
	}
	var frames []struct {
		URI      string `json:"uri"`
		Position string `json:"position"`
	}
	if err := json.Unmarshal(raw, &frames); err != nil || len(frames) == 0 {
		return "promptImage: Expected string or array of {uri, position}"
	}
	seen := map[string]bool{}
	for i, fr := range frames {
		switch {
		case !okURI(fr.URI):
			return fmt.Sprintf("promptImage.%d.uri: Invalid URL. Only HTTPS URLs are allowed.", i)
		case !slices.Contains(positions, fr.Position):
			return fmt.Sprintf("promptImage.%d.position: Invalid enum value. Expected %s, received '%s'", i, quoteAll(positions), fr.Position)
		case seen[fr.Position]:
			return fmt.Sprintf("promptImage.%d.position: duplicate position '%s'", i, fr.Position)
		}
		seen[fr.Position] = true
	}
	if seen["last"] && !seen["first"] {
		return "promptImage: a last frame needs a first frame"
	}
	return ""
}

// quoteAll is zod's list of enum values: 'a' | 'b'.
func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, " | ")
}

func (f *fakeRunway) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	task, ok := f.tasks[id]
	var snapshot fakeTask
	if ok {
		task.reads++
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
		// Signed anew on every read, as Runway renews expiring URLs.
		m["output"] = []string{fmt.Sprintf("%s/files/%s.mp4?_jwt=eyJhbGciOiJIUzI1NiJ9.read%d.sig", f.srv.URL, id, t.reads)}
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
	if r.message != "" {
		f.errorf(w, r.status, "%s", r.message)
		return
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
