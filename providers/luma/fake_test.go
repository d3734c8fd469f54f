package luma

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeLuma is a fake of Luma's Dream Machine API as its API reference and
// official SDKs describe it, under /dream-machine/v1: Bearer auth (no
// header: 403 {"detail":"Not authenticated"}, a wrong key: 401);
// POST /generations, validated against the documented models, aspect
// ratios, resolutions and durations, answering 201 with the generation;
// GET /generations/{id}; DELETE /generations/{id} (204), after which the
// generation is gone (404); errors as {"detail": ...}. Every generation
// answer is a fixture from testdata/ with the generation's id, created_at,
// request (as submitted, callback URL and all) and asset URLs filled in;
// the fixtures are written from Luma's reference and reported failure
// texts, not recorded. Generations stay queued until a test moves them.
// Callbacks are built by callback, as Luma sends them: a POST of the
// generation JSON to the callback_url, with no signature.
type fakeLuma struct {
	t      testing.TB
	srv    *httptest.Server
	apiKey string

	mu       sync.Mutex
	gens     map[string]*fakeGen
	failNext *fakeReply
	hang     bool
	requests []fakeRequest
}

type fakeGen struct {
	fixture   string
	createdAt time.Time
	request   map[string]any
}

type fakeReply struct {
	status     int
	fixture    string
	retryAfter string
}

type fakeRequest struct {
	Method, Path string
	Body         []byte
}

const (
	fakeKey   = "luma-3c1f2a9b7d4e4f0a8b6c5d2e1f0a9b8c"
	fakeToken = "cbt_5f0b1e9a2c7d4e8f9a0b1c2d"
	prefix    = "/dream-machine/v1"
)

var fakeVideo = []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41")

func newFake(t testing.TB) *fakeLuma {
	t.Helper()
	f := &fakeLuma{t: t, apiKey: fakeKey, gens: map[string]*fakeGen{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+prefix+"/generations", f.api(f.create))
	mux.HandleFunc("GET "+prefix+"/generations/{id}", f.api(f.get))
	mux.HandleFunc("DELETE "+prefix+"/generations/{id}", f.api(f.delete))
	mux.HandleFunc("GET /cdn/{id}/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(fakeVideo)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLuma) driver(t testing.TB, cfg Config) *Driver {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = f.apiKey
	}
	if cfg.CallbackToken == "" {
		cfg.CallbackToken = fakeToken
	}
	cfg.BaseURL = f.srv.URL + prefix
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = f.srv.Client()
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	return d
}

func (f *fakeLuma) api(h http.HandlerFunc) http.HandlerFunc {
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
		switch auth := r.Header.Get("Authorization"); auth {
		case "Bearer " + f.apiKey:
		case "":
			f.reply(w, fakeReply{status: http.StatusForbidden, fixture: "error_403.json"})
			return
		default:
			f.reply(w, fakeReply{status: http.StatusUnauthorized, fixture: "error_401.json"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}
}

func (f *fakeLuma) create(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if fail != nil {
		f.reply(w, *fail)
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.detail(w, http.StatusBadRequest, "Invalid JSON")
		return
	}
	str := func(k string) string { s, _ := req[k].(string); return s }
	model := str("model")
	switch {
	case !slices.Contains([]string{"ray-2", "ray-flash-2", "ray-1-6"}, model):
		f.detail(w, http.StatusBadRequest, fmt.Sprintf("Invalid request: unknown model %q", model))
		return
	case !slices.Contains([]string{"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}, str("aspect_ratio")):
		f.detail(w, http.StatusBadRequest, "Invalid request: unsupported aspect_ratio")
		return
	case !slices.Contains([]string{"540p", "720p", "1080p", "4k"}, str("resolution")):
		f.detail(w, http.StatusBadRequest, "Invalid request: unsupported resolution")
		return
	case model != "ray-1-6" && !slices.Contains([]string{"5s", "9s"}, str("duration")):
		f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400.json"})
		return
	}
	if kf, ok := req["keyframes"].(map[string]any); ok {
		f0, _ := kf["frame0"].(map[string]any)
		if f0 == nil || f0["type"] != "image" || f0["url"] == "" {
			f.detail(w, http.StatusBadRequest, "Invalid request: keyframes.frame0 must be an image reference")
			return
		}
	} else if str("prompt") == "" {
		f.detail(w, http.StatusBadRequest, "Invalid request: prompt is required without keyframes")
		return
	}
	if cb := str("callback_url"); cb != "" {
		if u, err := url.Parse(cb); err != nil || u.Host == "" {
			f.detail(w, http.StatusBadRequest, "Invalid request: callback_url")
			return
		}
	}
	req["generation_type"] = "video"
	id := uuid.NewString()
	g := &fakeGen{fixture: "generation_queued.json", createdAt: time.Now().UTC(), request: req}
	f.mu.Lock()
	f.gens[id] = g
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, f.render(id, *g))
}

func (f *fakeLuma) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	g, ok := f.gens[id]
	var snap fakeGen
	if ok {
		snap = *g
	}
	f.mu.Unlock()
	if !ok {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
		return
	}
	writeJSON(w, http.StatusOK, f.render(id, snap))
}

func (f *fakeLuma) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	_, ok := f.gens[id]
	delete(f.gens, id)
	f.mu.Unlock()
	if !ok {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// render is generation id's answer: its fixture with its own values.
func (f *fakeLuma) render(id string, g fakeGen) map[string]any {
	m := loadFixture(f.t, g.fixture)
	m["id"] = id
	m["created_at"] = g.createdAt.Format(time.RFC3339Nano)
	if g.request != nil {
		m["request"] = g.request
		m["model"] = g.request["model"]
	}
	if assets, ok := m["assets"].(map[string]any); ok {
		assets["video"] = f.srv.URL + "/cdn/" + id + "/result.mp4"
		assets["image"] = f.srv.URL + "/cdn/" + id + "/video_0_thumb.jpg"
	}
	return m
}

// set moves generation id to the state of fixture.
func (f *fakeLuma) set(t testing.TB, id, fixture string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.gens[id]
	if !ok {
		t.Fatalf("fake luma: no generation %q", id)
	}
	g.fixture = fixture
}

// put adds (or replaces) generation id in the state of fixture.
func (f *fakeLuma) put(id, fixture string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gens[id] = &fakeGen{fixture: fixture, createdAt: time.Now().UTC()}
}

// callback returns the callback Luma would POST for generation id now:
// body is its current JSON unless a test passes another (a forgery).
func (f *fakeLuma) callback(t testing.TB, id string, body []byte) *http.Request {
	t.Helper()
	f.mu.Lock()
	g, ok := f.gens[id]
	var snap fakeGen
	if ok {
		snap = *g
	}
	f.mu.Unlock()
	if !ok {
		t.Fatalf("fake luma: no generation %q", id)
	}
	cb, _ := snap.request["callback_url"].(string)
	if cb == "" {
		t.Fatalf("fake luma: generation %q has no callback_url", id)
	}
	if body == nil {
		var err error
		if body, err = json.Marshal(f.render(id, snap)); err != nil {
			t.Fatal(err)
		}
	}
	r := httptest.NewRequest(http.MethodPost, cb, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func (f *fakeLuma) failNextCreate(reply fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = &reply
}

func (f *fakeLuma) setHang(hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = hang
}

func (f *fakeLuma) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeLuma) reply(w http.ResponseWriter, r fakeReply) {
	if r.retryAfter != "" {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	writeJSON(w, r.status, loadFixture(f.t, r.fixture))
}

func (f *fakeLuma) detail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"detail": msg})
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
