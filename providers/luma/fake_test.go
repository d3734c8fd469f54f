package luma

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeLuma is a fake of Luma's Dream Machine API as its API reference and
// official SDKs describe it, under /dream-machine/v1. Its routes and request
// shapes are those of lumalabs/lumaai-python 1.18.1 (generated from Luma's
// OpenAPI spec):
//
//   - routes, from api.md and src/lumaai/resources/generations/generations.py:
//     POST /generations/video creates (generations.create and
//     generations.video.create), GET /generations lists, GET and
//     DELETE /generations/{id}. Routing comes before authentication, as in
//     the FastAPI service behind it: an unknown path answers
//     404 {"detail":"Not Found"}, a known path with another method
//     405 {"detail":"Method Not Allowed"} with an Allow header.
//   - the create body, from src/lumaai/types/generations/video_create_params.py
//     (VideoCreateParams, Keyframes*, Concept): validated strictly, each
//     violation an item of a 422 {"detail":[{type, loc, msg, input}]}, the
//     pydantic shape of the spec's HTTPValidationError (unknown field,
//     wrong type, a value outside the literals). duration and resolution
//     are typed "literal or str" in the SDK; the fake holds them to the
//     documented literals ("5s"/"9s"; 540p/720p/1080p/4k), which is what
//     the service accepts for the ray models.
//   - the generation, from src/lumaai/types/generation.py.
//
// Bearer auth (no header: 403 {"detail":"Not authenticated"}, a wrong key:
// 401); DELETE answers 204, after which the generation is gone (404).
// Every generation answer is a fixture from testdata/ with the
// generation's id, created_at, request (as submitted, callback URL and
// all) and asset URLs filled in; the fixtures are written from Luma's
// reference and reported failure texts, not recorded. Generations stay
// queued until a test moves them. Callbacks are built by callback, as Luma
// sends them: a POST of the generation JSON to the callback_url, with no
// signature.
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
	detail     string // the body {"detail": detail} instead of fixture
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
	f.route(mux, "/generations", map[string]http.HandlerFunc{http.MethodGet: f.list})
	f.route(mux, "/generations/video", map[string]http.HandlerFunc{http.MethodPost: f.create})
	f.route(mux, "/generations/{id}", map[string]http.HandlerFunc{http.MethodGet: f.get, http.MethodDelete: f.delete})
	mux.HandleFunc(prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		f.record(r, nil)
		f.detail(w, http.StatusNotFound, "Not Found")
	})
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

// route serves path (under prefix) with one handler per method; another
// method answers 405, as Luma's router does, before any authentication.
func (f *fakeLuma) route(mux *http.ServeMux, path string, methods map[string]http.HandlerFunc) {
	allow := slices.Sorted(maps.Keys(methods))
	mux.HandleFunc(prefix+path, func(w http.ResponseWriter, r *http.Request) {
		h, ok := methods[r.Method]
		if !ok {
			f.record(r, nil)
			w.Header().Set("Allow", strings.Join(allow, ", "))
			f.detail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		f.api(h)(w, r)
	})
}

// record notes a request the fake received; body nil reads it.
func (f *fakeLuma) record(r *http.Request, body []byte) {
	if body == nil {
		body, _ = io.ReadAll(r.Body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Body: body})
}

func (f *fakeLuma) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.record(r, body)
		f.mu.Lock()
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
	body, _ := io.ReadAll(r.Body)
	if issues := validateVideoCreate(body); len(issues) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": issues})
		return
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("fake luma: valid body %s does not decode: %v", body, err)
	}
	str := func(k string) string { s, _ := req[k].(string); return s }
	if _, ok := req["keyframes"]; !ok && str("prompt") == "" {
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

// list is GET /generations: {generations, has_more, count}
// (src/lumaai/types/generation_list_response.py), newest first is not
// modelled; no test reads the order.
func (f *fakeLuma) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	snaps := make(map[string]fakeGen, len(f.gens))
	for id, g := range f.gens {
		snaps[id] = *g
	}
	f.mu.Unlock()
	gens := []map[string]any{}
	for id, g := range snaps {
		gens = append(gens, f.render(id, g))
	}
	writeJSON(w, http.StatusOK, map[string]any{"generations": gens, "has_more": false, "count": len(gens)})
}

// issue is one item of a 422 answer's detail (pydantic's error shape).
type issue struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
}

// The literals of VideoCreateParams
// (src/lumaai/types/generations/video_create_params.py).
var (
	lumaModels       = []string{"ray-1-6", "ray-2", "ray-flash-2"}
	lumaAspectRatios = []string{"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
	lumaDurations    = []string{"5s", "9s"}
	lumaResolutions  = []string{"540p", "720p", "1080p", "4k"}
)

// validateVideoCreate checks a POST /generations/video body against
// VideoCreateParams and returns its violations, as Luma's validation
// reports them; none means the body is well-formed.
func validateVideoCreate(body []byte) []issue {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return []issue{{Type: "model_attributes_type", Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from", Input: string(body)}}
	}
	var issues []issue
	loc := func(path ...any) []any { return append([]any{"body"}, path...) }
	literal := func(raw json.RawMessage, allowed []string, path ...any) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			issues = append(issues, issue{Type: "string_type", Loc: loc(path...), Msg: "Input should be a valid string", Input: raw})
		} else if !slices.Contains(allowed, s) {
			issues = append(issues, issue{Type: "literal_error", Loc: loc(path...), Msg: "Input should be " + quoteAll(allowed), Input: s})
		}
	}
	str := func(raw json.RawMessage, path ...any) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			issues = append(issues, issue{Type: "string_type", Loc: loc(path...), Msg: "Input should be a valid string", Input: raw})
		}
	}
	if _, ok := fields["model"]; !ok {
		issues = append(issues, issue{Type: "missing", Loc: loc("model"), Msg: "Field required", Input: nil})
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[k]
		switch k {
		case "model":
			literal(raw, lumaModels, k)
		case "aspect_ratio":
			literal(raw, lumaAspectRatios, k)
		case "duration":
			literal(raw, lumaDurations, k)
		case "resolution":
			literal(raw, lumaResolutions, k)
		case "generation_type":
			literal(raw, []string{"video"}, k)
		case "prompt", "callback_url":
			str(raw, k)
		case "loop":
			var b bool
			if json.Unmarshal(raw, &b) != nil {
				issues = append(issues, issue{Type: "bool_type", Loc: loc(k), Msg: "Input should be a valid boolean", Input: raw})
			}
		case "concepts":
			var cs []map[string]json.RawMessage
			if json.Unmarshal(raw, &cs) != nil {
				issues = append(issues, issue{Type: "list_type", Loc: loc(k), Msg: "Input should be a valid list", Input: raw})
				break
			}
			for i, c := range cs {
				key, ok := c["key"]
				if !ok {
					issues = append(issues, issue{Type: "missing", Loc: loc(k, i, "key"), Msg: "Field required", Input: c})
				} else {
					str(key, k, i, "key")
				}
			}
		case "keyframes":
			issues = append(issues, validateKeyframes(raw)...)
		default:
			issues = append(issues, issue{Type: "extra_forbidden", Loc: loc(k), Msg: "Extra inputs are not permitted", Input: raw})
		}
	}
	return issues
}

// validateKeyframes checks keyframes: {frame0?, frame1?}, each a
// GenerationReference {type: "generation", id} or an ImageReference
// {type: "image", url}, told apart by type.
func validateKeyframes(raw json.RawMessage) []issue {
	var frames map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &frames); err != nil || frames == nil {
		return []issue{{Type: "model_type", Loc: []any{"body", "keyframes"}, Msg: "Input should be a valid dictionary or object", Input: raw}}
	}
	var issues []issue
	for _, name := range slices.Sorted(maps.Keys(frames)) {
		fr := frames[name]
		loc := []any{"body", "keyframes", name}
		if name != "frame0" && name != "frame1" {
			issues = append(issues, issue{Type: "extra_forbidden", Loc: loc, Msg: "Extra inputs are not permitted", Input: fr})
			continue
		}
		var typ string
		_ = json.Unmarshal(fr["type"], &typ)
		want := map[string]string{"image": "url", "generation": "id"}[typ]
		if want == "" {
			issues = append(issues, issue{Type: "union_tag_invalid", Loc: loc,
				Msg: "Input tag '" + typ + "' found using 'type' does not match any of the expected tags: 'generation', 'image'", Input: fr})
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(fr)) {
			if k != "type" && k != want {
				issues = append(issues, issue{Type: "extra_forbidden", Loc: append(slices.Clone(loc), typ, k), Msg: "Extra inputs are not permitted", Input: fr[k]})
			}
		}
		var v string
		if rawV, ok := fr[want]; !ok {
			issues = append(issues, issue{Type: "missing", Loc: append(slices.Clone(loc), typ, want), Msg: "Field required", Input: fr})
		} else if json.Unmarshal(rawV, &v) != nil || v == "" {
			issues = append(issues, issue{Type: "string_type", Loc: append(slices.Clone(loc), typ, want), Msg: "Input should be a valid non-empty string", Input: rawV})
		}
	}
	return issues
}

// quoteAll is pydantic's list of literals: 'a', 'b' or 'c'.
func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
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
	if r.detail != "" {
		f.detail(w, r.status, r.detail)
		return
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
