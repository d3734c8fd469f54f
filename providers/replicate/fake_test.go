package replicate

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// Prediction statuses, as Replicate's OpenAPI schema names them.
const (
	statusStarting   = "starting"
	statusProcessing = "processing"
	statusSucceeded  = "succeeded"
	statusFailed     = "failed"
	statusCanceled   = "canceled"
	statusAborted    = "aborted"
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
	calls    int // API requests received
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
	// dataRemoved: Replicate's cleanup deleted the files, an hour after
	// the prediction finished.
	dataRemoved bool
}

// fakeFailure is the answer to the next create call.
type fakeFailure struct {
	status     int
	fixture    string
	body       []byte // instead of fixture
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
	d, err := New(Config{Conn: providers.Conn{APIKey: f.key, BaseURL: f.srv.URL, HTTPClient: f.srv.Client()}, WebhookSecrets: secrets})
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
		f.mu.Lock()
		f.calls++
		f.mu.Unlock()
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

// fieldSchema is one input field of a model's schema, as its API page on
// replicate.com lists it.
type fieldSchema struct {
	typ      string // "string", "integer", "boolean"
	enum     []any  // allowed values, if listed
	min, max float64
	bounded  bool
}

// modelSchema is a model's input schema: its fields, and which are
// required.
type modelSchema struct {
	fields   map[string]fieldSchema
	required []string
	// needs: a field that may be set only with another set to a value
	// ("" for any value), as the field's description on the model's API
	// page says (kling-v2.1's end_image: "pro mode is required when this
	// parameter is set"; seedance-1-pro's last_frame_image: "only works if
	// an image start frame is given").
	needs []need
}

// need is one of modelSchema.needs: field needs other (= value).
type need struct{ field, other, value, desc string }

func str() fieldSchema             { return fieldSchema{typ: "string"} }
func enumStr(v ...any) fieldSchema { return fieldSchema{typ: "string", enum: v} }

// fakeSchemas are the input schemas of the models the fake knows, written
// from the models' API pages on replicate.com (version in brackets), not
// from the driver. Enum values a page does not list are from PROVIDERS.md.
// A model not listed here takes any input with a prompt.
var fakeSchemas = map[string]modelSchema{
	// bytedance/seedance-1-pro [a5fd5508].
	"bytedance/seedance-1-pro": {required: []string{"prompt"}, fields: map[string]fieldSchema{
		"prompt": str(), "image": str(), "last_frame_image": str(),
		"duration":     {typ: "integer", min: 2, max: 12, bounded: true},
		"resolution":   enumStr("480p", "720p", "1080p"),
		"aspect_ratio": enumStr("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
		"fps":          {typ: "integer", enum: []any{24.0}},
		"camera_fixed": {typ: "boolean"},
		"seed":         {typ: "integer"},
	}, needs: []need{{"last_frame_image", "image", "", "last_frame_image only works if an image start frame is given"}}},
	// kwaivgi/kling-v2.1 [daad218f]: "You must use a start image with
	// kling-v2.1"; mode standard is 720p, pro 1080p; duration 5 or 10.
	"kwaivgi/kling-v2.1": {required: []string{"prompt", "start_image"}, fields: map[string]fieldSchema{
		"prompt": str(), "start_image": str(), "end_image": str(), "negative_prompt": str(),
		"mode":     enumStr("standard", "pro"),
		"duration": {typ: "integer", enum: []any{5.0, 10.0}},
	}, needs: []need{{"end_image", "mode", "pro", "pro mode is required when end_image is set"}}},
	// google/veo-3 [653d8e12]: no duration input.
	"google/veo-3": {required: []string{"prompt"}, fields: map[string]fieldSchema{
		"prompt": str(), "image": str(), "negative_prompt": str(),
		"resolution":   enumStr("720p", "1080p"),
		"aspect_ratio": enumStr("16:9", "9:16"),
		"seed":         {typ: "integer"},
	}},
}

// invalidField is one entry of a 422's invalid_fields.
type invalidField struct {
	Type        string `json:"type"`
	Field       string `json:"field"`
	Description string `json:"description"`
}

// validate checks input against the schema of model, as Replicate does
// before it creates a prediction, and returns what is wrong.
func validate(model string, input map[string]any) []invalidField {
	schema, known := fakeSchemas[model]
	if !known {
		schema = modelSchema{required: []string{"prompt"}}
	}
	var bad []invalidField
	add := func(typ, field, desc string) {
		bad = append(bad, invalidField{Type: typ, Field: "input." + field, Description: desc})
	}
	for _, name := range schema.required {
		if _, ok := input[name]; !ok {
			add("required", name, name+" is required")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(input)) {
		v := input[name]
		fs, ok := schema.fields[name]
		if !ok {
			if known {
				add("additional_property_not_allowed", name, "Additional property "+name+" is not allowed")
			}
			continue
		}
		switch fs.typ {
		case "string":
			if _, ok := v.(string); !ok {
				add("invalid_type", name, "Invalid type. Expected: string, given: "+jsonType(v))
				continue
			}
		case "integer":
			if n, ok := v.(float64); !ok || n != math.Trunc(n) {
				add("invalid_type", name, "Invalid type. Expected: integer, given: "+jsonType(v))
				continue
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				add("invalid_type", name, "Invalid type. Expected: boolean, given: "+jsonType(v))
				continue
			}
		}
		if fs.enum != nil && !slices.Contains(fs.enum, v) {
			vals := make([]string, len(fs.enum))
			for i, e := range fs.enum {
				vals[i] = fmt.Sprint(e)
			}
			add("enum", name, name+" must be one of the following: "+strings.Join(vals, ", "))
		}
		if n, _ := v.(float64); fs.bounded && (n < fs.min || n > fs.max) {
			add("number_any_of", name, fmt.Sprintf("%s must be between %g and %g", name, fs.min, fs.max))
		}
	}
	for _, n := range schema.needs {
		if _, set := input[n.field]; !set {
			continue
		}
		if v, ok := input[n.other]; !ok || (n.value != "" && v != n.value) {
			add("invalid", n.field, n.desc)
		}
	}
	return bad
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	case []any:
		return "array"
	}
	return "object"
}

// writeInvalid answers 422 with Replicate's problem body for bad.
func (f *fakeReplicate) writeInvalid(w http.ResponseWriter, bad []invalidField) {
	var detail strings.Builder
	for _, b := range bad {
		fmt.Fprintf(&detail, "- %s: %s\n", b.Field, b.Description)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	json.NewEncoder(w).Encode(map[string]any{"title": "Input validation failed", "detail": detail.String(),
		"status": http.StatusUnprocessableEntity, "invalid_fields": bad})
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
		if fail.body != nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(fail.status)
			w.Write(fail.body)
			return
		}
		f.writeFixture(w, fail.status, fail.fixture)
		return
	}
	input, ok := body["input"].(map[string]any)
	if !ok || !validEvents(body["webhook_events_filter"]) {
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
	if bad := validate(p.model, input); len(bad) > 0 {
		f.writeInvalid(w, bad)
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
	if !ok || p == nil || p.status != statusSucceeded || p.dataRemoved {
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
	if p.dataRemoved {
		m["output"], m["data_removed"] = nil, true
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

// start moves starting prediction id to processing.
func (f *fakeReplicate) start(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.preds[id]
	if p == nil || p.status != statusStarting {
		return fmt.Errorf("no starting prediction %q", id)
	}
	p.status, p.started = statusProcessing, time.Now().UTC()
	return nil
}

// cleanup deletes the files of finished prediction id, as Replicate does
// an hour after an API prediction ends: "output" becomes null and
// "data_removed" true.
func (f *fakeReplicate) cleanup(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.preds[id]
	if p == nil || p.completed.IsZero() {
		return fmt.Errorf("no finished prediction %q", id)
	}
	p.dataRemoved = true
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
	return f.webhookAt(id, target, time.Now())
}

// webhookAt is webhook, signed as sent at ts.
func (f *fakeReplicate) webhookAt(id, target string, ts time.Time) (*http.Request, error) {
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
	f.signer.SetHeaders(r.Header, "msg_"+rand.Text(), ts, body)
	return r, nil
}

// newPredictionID returns an id shaped like Replicate's: 26 lowercase
// base32 characters.
func newPredictionID() string {
	return strings.ToLower(rand.Text())[:26]
}

// requests returns how many API requests the fake has received.
func (f *fakeReplicate) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
