package fal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vidgate/vidgate/providers"
)

// Queue statuses, as fal-js QueueStatus names them.
const (
	statusInQueue    = "IN_QUEUE"
	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"
)

// fakeFal is a fake of fal's queue API and webhook keys, following its
// documented paths, headers, bodies and status codes; its answers are the
// fixtures in testdata/ with ids and URLs filled in. Requests stay IN_QUEUE
// until the test moves them. Status, result and cancel are scoped to the
// app path a request was submitted under (without the endpoint sub-path),
// so a driver that builds them from the full model id gets 404s.
type fakeFal struct {
	t   *testing.T
	key string
	srv *httptest.Server

	mu          sync.Mutex
	calls       int // API requests received
	reqs        map[string]*fakeRequest
	failNext    *fakeFailure
	submits     []fakeSubmit
	signer      ed25519.PrivateKey
	jwks        []ed25519.PublicKey // served at /.well-known/jwks.json
	jwksPadded  bool                // serve "x" with base64 padding
	jwksFetches int
}

type fakeRequest struct {
	id, app, model string
	state          string // IN_QUEUE, IN_PROGRESS, COMPLETED
	outcome        string // once COMPLETED: one of the outcome* constants
	webhook        string // the fal_webhook it was submitted with
	// removed: canceled while IN_QUEUE, so it never runs. fal documents no
	// status for such a request; the fake keeps answering the last status
	// it had (a documented shape) and tests assert nothing more about it.
	removed bool
	// cancelSignalled: canceled while IN_PROGRESS; fal only signals the
	// runner, and the request may still complete.
	cancelSignalled bool
}

// Outcomes of a completed request.
const (
	outcomeOK            = "ok"
	outcomeContentPolicy = "content_policy"
	outcomeInvalidInput  = "invalid_input"
	outcomeTimeout       = "timeout"
)

type fakeFailure struct {
	status     int
	fixture    string
	body       []byte // instead of fixture
	header     map[string]string
	retryAfter time.Duration
}

type fakeSubmit struct {
	Path    string
	Query   map[string][]string
	Header  http.Header
	Input   map[string]any
	Request string
}

const (
	fakeKey  = "3c5d8e2a-91b4-4f0e-a7c6-2d1e9f8b7a60:4e1f9c2b7a8d6e5f3c0b1a2d9e8f7c6b"
	fakeUser = "github|vidgate-test"
)

func newFakeFal(t *testing.T) *fakeFal {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFal{t: t, key: fakeKey, reqs: map[string]*fakeRequest{}, signer: priv, jwks: []ed25519.PublicKey{pub}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{model...}", f.authed(f.submit))
	mux.HandleFunc("GET /{owner}/{app}/requests/{id}/status", f.authed(f.status))
	mux.HandleFunc("GET /{owner}/{app}/requests/{id}", f.authed(f.result))
	mux.HandleFunc("PUT /{owner}/{app}/requests/{id}/cancel", f.authed(f.cancel))
	mux.HandleFunc("GET /files/{file}", f.file)               // fal.media: no key
	mux.HandleFunc("GET /.well-known/jwks.json", f.serveJWKS) // public
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// config returns a Config for the fake.
func (f *fakeFal) config() Config {
	return Config{Conn: providers.Conn{APIKey: f.key, BaseURL: f.srv.URL, HTTPClient: f.srv.Client()}, JWKSURL: f.srv.URL + "/.well-known/jwks.json"}
}

func (f *fakeFal) driver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(f.config())
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

func (f *fakeFal) authed(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Key " + f.key)
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls++
		f.mu.Unlock()
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			f.write(w, http.StatusUnauthorized, readFixture(f.t, "error_401.json"), nil)
			return
		}
		h(w, r)
	}
}

func (f *fakeFal) write(w http.ResponseWriter, status int, body []byte, header map[string]string) {
	ct := "application/json"
	if bytes.HasPrefix(body, []byte("<")) {
		ct = "text/html"
	}
	w.Header().Set("Content-Type", ct)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	w.Write(body)
}

// fixtureWith returns fixture name with fields set.
func (f *fakeFal) fixtureWith(name string, set map[string]any) []byte {
	var m map[string]any
	if err := json.Unmarshal(readFixture(f.t, name), &m); err != nil {
		f.t.Fatalf("fixture %s: %v", name, err)
	}
	maps.Copy(m, set)
	b, err := json.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// seedanceSchema is the documented input of fal's seedance v1 pro models.
var seedanceSchema = map[string][]string{
	"aspect_ratio": {"21:9", "16:9", "4:3", "1:1", "3:4", "9:16"},
	"resolution":   {"480p", "720p", "1080p"},
}

var durationRE = regexp.MustCompile(`^([2-9]|1[0-2])$`)

// validInput checks an input against the seedance schema for model.
func validInput(model string, in map[string]any) bool {
	if p, ok := in["prompt"].(string); !ok || p == "" {
		return false
	}
	if img, ok := in["image_url"].(string); strings.HasSuffix(model, "/image-to-video") && (!ok || img == "") {
		return false
	}
	if d, ok := in["duration"]; ok {
		if s, _ := d.(string); !durationRE.MatchString(s) {
			return false
		}
	}
	for field, allowed := range seedanceSchema {
		if v, ok := in[field]; ok {
			if s, _ := v.(string); !slices.Contains(allowed, s) {
				return false
			}
		}
	}
	return true
}

func (f *fakeFal) submit(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("model")
	segs := strings.Split(model, "/")
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(segs) < 2 {
		f.write(w, http.StatusUnprocessableEntity, readFixture(f.t, "error_validation.json"), nil)
		return
	}
	f.mu.Lock()
	fail := f.failNext
	f.failNext = nil
	f.submits = append(f.submits, fakeSubmit{Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Input: in})
	f.mu.Unlock()
	if fail != nil {
		h := maps.Clone(fail.header)
		if fail.retryAfter > 0 {
			h = map[string]string{"Retry-After": strconv.Itoa(int(fail.retryAfter / time.Second))}
		}
		body := fail.body
		if body == nil {
			body = readFixture(f.t, fail.fixture)
		}
		f.write(w, fail.status, body, h)
		return
	}
	if strings.HasPrefix(model, "fal-ai/bytedance/seedance/") && !validInput(model, in) {
		f.write(w, http.StatusUnprocessableEntity, readFixture(f.t, "error_validation.json"), nil)
		return
	}
	req := &fakeRequest{id: uuid.NewString(), app: segs[0] + "/" + segs[1], model: model, state: statusInQueue,
		webhook: r.URL.Query().Get("fal_webhook")}
	f.mu.Lock()
	f.reqs[req.id] = req
	f.submits[len(f.submits)-1].Request = req.id
	f.mu.Unlock()
	f.write(w, http.StatusOK, f.fixtureWith("submit_response.json", f.urls(req)), nil)
}

// urls returns the request_id and URLs of req, on the fake.
func (f *fakeFal) urls(req *fakeRequest) map[string]any {
	u := f.srv.URL + "/" + req.app + "/requests/" + req.id
	return map[string]any{"request_id": req.id, "response_url": u, "status_url": u + "/status", "cancel_url": u + "/cancel"}
}

// lookup returns the request of r's path, nil if unknown or of another app.
func (f *fakeFal) lookup(r *http.Request) *fakeRequest {
	req := f.reqs[r.PathValue("id")]
	if req == nil || req.app != r.PathValue("owner")+"/"+r.PathValue("app") {
		return nil
	}
	return req
}

func (f *fakeFal) status(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	req := f.lookup(r)
	var state string
	if req != nil {
		state = req.state
	}
	f.mu.Unlock()
	if req == nil {
		f.write(w, http.StatusNotFound, readFixture(f.t, "error_404.json"), nil)
		return
	}
	name, code := "status_in_queue.json", http.StatusAccepted
	switch state {
	case statusInProgress:
		name = "status_in_progress.json"
	case statusCompleted:
		name, code = "status_completed.json", http.StatusOK
	}
	f.write(w, code, f.fixtureWith(name, f.urls(req)), nil)
}

func (f *fakeFal) result(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	req := f.lookup(r)
	var state, outcome string
	if req != nil {
		state, outcome = req.state, req.outcome
	}
	f.mu.Unlock()
	switch {
	case req == nil:
		f.write(w, http.StatusNotFound, readFixture(f.t, "error_404.json"), nil)
	case state != statusCompleted:
		f.write(w, http.StatusBadRequest, []byte(`{"detail":"Request is still in progress"}`), nil)
	default:
		status, body, header := f.outcome(req.id, outcome)
		f.write(w, status, body, header)
	}
}

// outcome returns the answer to the result of a completed request.
func (f *fakeFal) outcome(id, outcome string) (int, []byte, map[string]string) {
	switch outcome {
	case outcomeContentPolicy:
		return http.StatusUnprocessableEntity, readFixture(f.t, "error_content_policy.json"), nil
	case outcomeInvalidInput:
		return http.StatusUnprocessableEntity, readFixture(f.t, "error_file_download.json"), nil
	case outcomeTimeout:
		return http.StatusGatewayTimeout, readFixture(f.t, "error_request_timeout.json"), map[string]string{"X-Fal-Error-Type": "request_timeout"}
	}
	return http.StatusOK, f.resultJSON(id), nil
}

func (f *fakeFal) resultJSON(id string) []byte {
	var video map[string]any
	if err := json.Unmarshal(readFixture(f.t, "result_video.json"), &video); err != nil {
		f.t.Fatal(err)
	}
	video["video"].(map[string]any)["url"] = f.srv.URL + "/files/" + id + ".mp4"
	b, _ := json.Marshal(video)
	return b
}

// cancel answers as fal documents (fal.ai/docs/inference-api/queue/cancel,
// "Handle cancellations"): 202 CANCELLATION_REQUESTED for a queued request,
// which is removed and never runs, and for a running one, whose runner is
// signalled and which may still complete; 400 ALREADY_COMPLETED for a
// finished one; 404 NOT_FOUND. It never makes up a canceled status or
// result: fal documents none.
func (f *fakeFal) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	req := f.lookup(r)
	var state string
	if req != nil {
		state = req.state
		switch state {
		case statusInQueue:
			req.removed = true
		case statusInProgress:
			req.cancelSignalled = true
		}
	}
	f.mu.Unlock()
	switch {
	case req == nil:
		f.write(w, http.StatusNotFound, readFixture(f.t, "cancel_not_found.json"), nil)
	case state == statusCompleted:
		f.write(w, http.StatusBadRequest, readFixture(f.t, "cancel_already_completed.json"), nil)
	default:
		f.write(w, http.StatusAccepted, readFixture(f.t, "cancel_requested.json"), nil)
	}
}

func (f *fakeFal) file(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".mp4")
	f.mu.Lock()
	req := f.reqs[id]
	ok = ok && req != nil && req.outcome == outcomeOK
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Write(readFixture(f.t, "output.mp4"))
}

func (f *fakeFal) serveJWKS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.jwksFetches++
	enc := base64.RawURLEncoding
	if f.jwksPadded {
		enc = base64.URLEncoding
	}
	keys := []map[string]any{{"kty": "RSA", "kid": "ignored", "n": "AQAB", "e": "AQAB"}}
	for i, k := range f.jwks {
		keys = append(keys, map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": fmt.Sprint("fal-", i), "use": "sig",
			"alg": "EdDSA", "x": enc.EncodeToString(k)})
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// finish completes request id with outcome. A request removed from the
// queue by a cancel never runs, so it cannot finish.
func (f *fakeFal) finish(id, outcome string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := f.reqs[id]
	if req == nil {
		return fmt.Errorf("no request %q", id)
	}
	if req.removed {
		return fmt.Errorf("request %q was canceled while queued: it never runs", id)
	}
	req.state, req.outcome = statusCompleted, outcome
	return nil
}

// start moves queued request id to IN_PROGRESS.
func (f *fakeFal) start(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := f.reqs[id]
	if req == nil || req.state != statusInQueue || req.removed {
		return fmt.Errorf("no queued request %q", id)
	}
	req.state = statusInProgress
	return nil
}

func (f *fakeFal) failNextSubmit(status int, fixture string, header map[string]string, retryAfter time.Duration) {
	f.mu.Lock()
	f.failNext = &fakeFailure{status: status, fixture: fixture, header: header, retryAfter: retryAfter}
	f.mu.Unlock()
}

func (f *fakeFal) lastSubmit() fakeSubmit {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.submits) == 0 {
		f.t.Fatal("no submit recorded")
	}
	return f.submits[len(f.submits)-1]
}

// webhookBody returns the body fal would POST for completed request id.
func (f *fakeFal) webhookBody(id string) ([]byte, error) {
	f.mu.Lock()
	req := f.reqs[id]
	var outcome string
	if req != nil {
		outcome = req.outcome
	}
	f.mu.Unlock()
	if req == nil || req.state != statusCompleted {
		return nil, fmt.Errorf("no completed request %q", id)
	}
	if outcome == outcomeOK {
		return f.fixtureWith("webhook_ok.json", map[string]any{"request_id": id, "gateway_request_id": id,
			"payload": json.RawMessage(f.resultJSON(id))}), nil
	}
	status, payload, _ := f.outcome(id, outcome)
	return f.fixtureWith("webhook_error.json", map[string]any{"request_id": id, "gateway_request_id": id,
		"error": fmt.Sprint("Invalid status code: ", status), "payload": json.RawMessage(payload)}), nil
}

// webhook returns the delivery fal would POST for completed request id:
// to the fal_webhook it was submitted with, or else to target with the
// app path the driver adds; signed with the fake's current key at ts.
func (f *fakeFal) webhook(id, target string, ts time.Time) (*http.Request, error) {
	return f.webhookAs(id, target, fakeUser, ts)
}

// webhookAs is webhook, for the fal account user.
func (f *fakeFal) webhookAs(id, target, user string, ts time.Time) (*http.Request, error) {
	body, err := f.webhookBody(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	req := f.reqs[id]
	hook, app, key := req.webhook, req.app, f.signer
	f.mu.Unlock()
	if hook == "" {
		if hook, err = webhookURLFor(target, app); err != nil {
			return nil, err
		}
	}
	r, err := http.NewRequest(http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	signWebhook(r.Header, key, id, user, ts, body)
	return r, nil
}

// signWebhook sets fal's webhook headers, signed with key.
func signWebhook(h http.Header, key ed25519.PrivateKey, requestID, userID string, ts time.Time, body []byte) {
	tsText := strconv.FormatInt(ts.Unix(), 10)
	sum := sha256.Sum256(body)
	msg := requestID + "\n" + userID + "\n" + tsText + "\n" + hex.EncodeToString(sum[:])
	h.Set(HeaderRequestID, requestID)
	h.Set(HeaderUserID, userID)
	h.Set(HeaderTimestamp, tsText)
	h.Set(HeaderSignature, hex.EncodeToString(ed25519.Sign(key, []byte(msg))))
}

// rotate makes the fake sign with a new key, served alongside the old
// ones, and returns it.
func (f *fakeFal) rotate() ed25519.PrivateKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.signer, f.jwks = priv, append(f.jwks, pub)
	f.mu.Unlock()
	return priv
}

func (f *fakeFal) fetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jwksFetches
}

// requests returns how many API requests the fake has received.
func (f *fakeFal) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
