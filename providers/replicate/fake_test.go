package replicate

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// fakeReplicate is a fake of Replicate's prediction API, following its
// documented paths, headers, bodies and status codes; its answers are the
// fixtures in testdata/ with ids, inputs, URLs and times filled in.
// Predictions stay "starting" until the test moves them.
type fakeReplicate struct {
	t      *testing.T
	key    string
	signer *stdwebhooks.Signer
	srv    *httptest.Server

	mu       sync.Mutex
	preds    map[string]*fakePrediction
	failNext *fakeFailure
	creates  []fakeCreate
}

type fakePrediction struct {
	id, model, version string
	input              map[string]any
	status             string
	fixture            string // the fixture a failed prediction answers with
	created, started   time.Time
	completed          time.Time
}

// fakeFailure is the answer to the next create call.
type fakeFailure struct {
	status     int
	fixture    string
	retryAfter time.Duration
}

// fakeCreate records one create call.
type fakeCreate struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

const fakeKey = "r8_test_9Qb2PmL4xVz7KcT1nW5eHs3JdF6gR0yUa"

// newFakeReplicate starts a fake whose webhooks are signed with secret,
// closed when t ends.
func newFakeReplicate(t *testing.T, secret string) *fakeReplicate {
	t.Helper()
	signer, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		t.Fatalf("NewSigner(%q) error = %v", secret, err)
	}
	f := &fakeReplicate{t: t, key: fakeKey, signer: signer, preds: map[string]*fakePrediction{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /models/{owner}/{name}/predictions", f.authed(f.create))
	mux.HandleFunc("POST /predictions", f.authed(f.create))
	mux.HandleFunc("GET /predictions/{id}", f.authed(f.get))
	mux.HandleFunc("POST /predictions/{id}/cancel", f.authed(f.cancel))
	mux.HandleFunc("GET /files/{file}", f.file) // replicate.delivery: no key
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// driver returns a Driver for the fake.
func (f *fakeReplicate) driver(t *testing.T, secrets ...string) *Driver {
	t.Helper()
	d, err := New(Config{APIKey: f.key, BaseURL: f.srv.URL, WebhookSecrets: secrets, HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return d
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

func (f *fakeReplicate) authed(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + f.key)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			f.writeFixture(w, http.StatusUnauthorized, "error_401.json")
			return
		}
		h(w, r)
	}
}

func (f *fakeReplicate) writeFixture(w http.ResponseWriter, status int, name string) {
	ct := "application/problem+json"
	if strings.HasSuffix(name, ".html") {
		ct = "text/html"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	w.Write(readFixture(f.t, name))
}

// seedanceEnums are the documented values of bytedance/seedance-1-pro.
var seedanceEnums = map[string][]string{
	"aspect_ratio": {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"},
	"resolution":   {"480p", "720p", "1080p"},
}

func (f *fakeReplicate) create(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.writeFixture(w, http.StatusBadRequest, "error_422.json")
		return
	}
	f.mu.Lock()
	f.creates = append(f.creates, fakeCreate{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	fail := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if fail != nil {
		if fail.retryAfter > 0 {
			secs := fmt.Sprint(int(fail.retryAfter / time.Second))
			w.Header().Set("Retry-After", secs)
		}
		f.writeFixture(w, fail.status, fail.fixture)
		return
	}
	input, ok := body["input"].(map[string]any)
	if !ok || !f.validInput(input) || !validEvents(body["webhook_events_filter"]) {
		f.writeFixture(w, http.StatusUnprocessableEntity, "error_422.json")
		return
	}
	p := &fakePrediction{id: newPredictionID(), input: input, status: statusStarting, created: time.Now().UTC()}
	if owner := r.PathValue("owner"); owner != "" {
		p.model = owner + "/" + r.PathValue("name")
		p.version = "a6e0b3d7f19a6a2e5e0b6f1b9c4dbf1c0f4a4f6b8e1c2d3a4b5c6d7e8f9a0b1c"
	} else if v, _ := body["version"].(string); v != "" {
		p.model, p.version = "someone/pinned-model", v
	} else {
		f.writeFixture(w, http.StatusUnprocessableEntity, "error_422.json")
		return
	}
	f.mu.Lock()
	f.preds[p.id] = p
	out := f.jsonLocked(p)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(out)
}

// validInput checks an input against the documented schema of
// bytedance/seedance-1-pro, the default model.
func (f *fakeReplicate) validInput(in map[string]any) bool {
	if p, ok := in["prompt"].(string); !ok || p == "" {
		return false
	}
	if d, ok := in["duration"]; ok {
		if n, ok := d.(float64); !ok || n != float64(int(n)) || n < 2 || n > 12 {
			return false
		}
	}
	for field, allowed := range seedanceEnums {
		if v, ok := in[field]; ok {
			if s, _ := v.(string); !slices.Contains(allowed, s) {
				return false
			}
		}
	}
	return true
}

func validEvents(v any) bool {
	if v == nil {
		return true
	}
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range list {
		if s, _ := e.(string); !slices.Contains([]string{"start", "output", "logs", "completed"}, s) {
			return false
		}
	}
	return true
}

func (f *fakeReplicate) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	p := f.preds[r.PathValue("id")]
	var out []byte
	if p != nil {
		out = f.jsonLocked(p)
	}
	f.mu.Unlock()
	if p == nil {
		f.writeFixture(w, http.StatusNotFound, "error_404.json")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// cancel cancels a prediction that has not finished; a finished one is
// answered unchanged, as Replicate does.
func (f *fakeReplicate) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	p := f.preds[r.PathValue("id")]
	var out []byte
	if p != nil {
		if p.status == statusStarting || p.status == statusProcessing {
			p.status, p.completed = statusCanceled, time.Now().UTC()
		}
		out = f.jsonLocked(p)
	}
	f.mu.Unlock()
	if p == nil {
		f.writeFixture(w, http.StatusNotFound, "error_404.json")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (f *fakeReplicate) file(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".mp4")
	f.mu.Lock()
	p := f.preds[id]
	f.mu.Unlock()
	if !ok || p == nil || p.status != statusSucceeded {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Write(readFixture(f.t, "output.mp4"))
}

// jsonLocked renders p from the fixture of its state.
func (f *fakeReplicate) jsonLocked(p *fakePrediction) []byte {
	name := "prediction_" + p.status + ".json"
	if p.fixture != "" {
		name = p.fixture
	}
	var m map[string]any
	if err := json.Unmarshal(readFixture(f.t, name), &m); err != nil {
		f.t.Fatalf("fixture %s: %v", name, err)
	}
	api := f.srv.URL + "/predictions/" + p.id
	m["id"], m["model"], m["version"] = p.id, p.model, p.version
	m["input"] = maps.Clone(p.input)
	m["urls"] = map[string]any{"get": api, "cancel": api + "/cancel", "web": "https://replicate.com/p/" + p.id,
		"stream": "https://stream.replicate.com/v1/files/" + p.id}
	m["created_at"] = p.created.Format(time.RFC3339Nano)
	delete(m, "started_at")
	delete(m, "completed_at")
	if !p.started.IsZero() {
		m["started_at"] = p.started.Format(time.RFC3339Nano)
	}
	if !p.completed.IsZero() {
		m["completed_at"] = p.completed.Format(time.RFC3339Nano)
	}
	if p.status == statusSucceeded {
		m["output"] = f.srv.URL + "/files/" + p.id + ".mp4"
	}
	b, err := json.Marshal(m)
	if err != nil {
		f.t.Fatalf("marshal prediction: %v", err)
	}
	return b
}

// finish moves prediction id to status, answering with fixture if set.
func (f *fakeReplicate) finish(id, status, fixture string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.preds[id]
	if p == nil {
		return fmt.Errorf("no prediction %q", id)
	}
	now := time.Now().UTC()
	p.status, p.fixture, p.started, p.completed = status, fixture, now.Add(-time.Second), now
	return nil
}

func (f *fakeReplicate) failNextCreate(status int, fixture string, retryAfter time.Duration) {
	f.mu.Lock()
	f.failNext = &fakeFailure{status: status, fixture: fixture, retryAfter: retryAfter}
	f.mu.Unlock()
}

func (f *fakeReplicate) lastCreate() fakeCreate {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.creates) == 0 {
		f.t.Fatalf("no create call recorded")
	}
	return f.creates[len(f.creates)-1]
}

// webhook returns the delivery Replicate would POST to target for
// prediction id's current state: the prediction, signed with Standard
// Webhooks under a fresh webhook-id.
func (f *fakeReplicate) webhook(id, target string) (*http.Request, error) {
	f.mu.Lock()
	p := f.preds[id]
	var body []byte
	if p != nil {
		body = f.jsonLocked(p)
	}
	f.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("no prediction %q", id)
	}
	r, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	f.signer.SetHeaders(r.Header, "msg_"+rand.Text(), time.Now(), body)
	return r, nil
}

// newPredictionID returns an id shaped like Replicate's: 26 lowercase
// base32 characters.
func newPredictionID() string {
	return strings.ToLower(rand.Text())[:26]
}
