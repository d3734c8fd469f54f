package sim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// Config configures a Server.
type Config struct {
	// Prefix is the path the API is mounted under, such as "/sim"; "" mounts
	// it at the root. Routes are relative to it: {Prefix}/v1/generations …
	Prefix string
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>" on
	// the API. Output files need no key: as at real vendors, their URLs
	// are signed and expire with the output (an HMAC under a key of the
	// Server's own).
	APIKey string
	// WebhookSecret ("whsec_…") signs webhook deliveries. "" means a random
	// secret, which Server.WebhookSecret returns.
	WebhookSecret string
	// PublicURL is the scheme and host output URLs start with, such as
	// "http://localhost:8080". "" means the scheme and Host of each create
	// request, which is right whenever clients reach the simulator directly.
	PublicURL string
	// Defaults is the behaviour of every generation, before the directives
	// of its prompt.
	Defaults Behavior
	// MaxOutputSize caps the output_size directive (default
	// DefaultMaxOutputSize): whoever writes prompts decides how much every
	// worker downloads and stores. Load tests of large files raise it, up
	// to 16 GiB.
	MaxOutputSize int64
	// HTTPClient delivers webhooks; nil means a client with a 10-second
	// timeout.
	HTTPClient *http.Client
	// WebhookAttempts is how many times a delivery is tried before it is
	// given up (only 2xx is success; 410 stops all deliveries of the
	// generation); 0 means 4.
	WebhookAttempts int
	// WebhookBackoff is the wait before the first retry, doubling after each;
	// 0 means 1s.
	WebhookBackoff time.Duration
	// Now is the clock of timestamps (created_at, updated_at,
	// webhook-timestamp) and of output expiry; nil means time.Now.
	// Latency runs on real timers regardless.
	Now func() time.Time
	// Logger logs failed webhook deliveries; nil means no logging.
	Logger *slog.Logger
}

// Validate reports whether c is usable: a valid webhook secret and default
// behaviour.
func (c Config) Validate() error {
	if c.WebhookSecret != "" {
		if _, err := stdwebhooks.DecodeSecret(c.WebhookSecret); err != nil {
			return fmt.Errorf("sim config: %w", err)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sim config: public URL %q is not an absolute http(s) URL", c.PublicURL)
		}
	}
	if c.MaxOutputSize < 0 || c.MaxOutputSize > maxOutputSize {
		return fmt.Errorf("sim config: max output size %d is not between 0 and 16GiB", c.MaxOutputSize)
	}
	if err := c.Defaults.withDefaults().validate(); err != nil {
		return fmt.Errorf("sim config: defaults: %w", err)
	}
	return nil
}

// Server is the simulated provider's HTTP API, an http.Handler. It keeps
// its generations in memory. Each generation that progresses on its own
// runs on a goroutine, and each one with a webhook URL has a delivery
// goroutine; Close stops and waits for all of them.
type Server struct {
	cfg      Config
	secret   string
	signer   *stdwebhooks.Signer
	files    *blob.URLSigner // signs output URLs
	client   *http.Client
	now      func() time.Time
	log      *slog.Logger
	mux      *http.ServeMux
	attempts int
	backoff  time.Duration

	// life is the Server's lifetime, not a request's: webhook deliveries run
	// under it, and Close cancels it so a slow receiver cannot hold Close up.
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	imagesFetched atomic.Int64

	mu      sync.Mutex
	closed  bool
	gens    map[string]*generation // by id
	byKey   map[string]*generation // by idempotency key
	submits map[string]*keyCount   // by idempotency key, "" included
	forced  []submitFailure        // FailNextSubmit's queue
}

// keyCount counts the create calls that carried one idempotency key.
type keyCount struct {
	submits int // all of them
	failed  int // answered with Behavior.SubmitError
	delayed int // answered after Behavior.SubmitDelay
}

// submitFailure is one answer queued by FailNextSubmit.
type submitFailure struct {
	code       string
	retryAfter time.Duration
}

// New returns a Server for cfg. It panics if cfg does not pass Validate:
// call Validate first when cfg comes from outside the program.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.Prefix == "/" {
		cfg.Prefix = ""
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	cfg.Defaults = cfg.Defaults.withDefaults()
	if cfg.MaxOutputSize == 0 {
		cfg.MaxOutputSize = DefaultMaxOutputSize
	}
	s := &Server{
		cfg:      cfg,
		secret:   cfg.WebhookSecret,
		client:   cfg.HTTPClient,
		now:      cfg.Now,
		log:      cfg.Logger,
		attempts: cfg.WebhookAttempts,
		backoff:  cfg.WebhookBackoff,
		gens:     map[string]*generation{},
		byKey:    map[string]*generation{},
		submits:  map[string]*keyCount{},
	}
	if s.secret == "" {
		s.secret = stdwebhooks.NewSecret()
	}
	s.signer, _ = stdwebhooks.NewSigner(s.secret) // checked by Validate
	key := make([]byte, 32)
	rand.Read(key)
	s.files = blob.NewURLSigner(key)
	if s.client == nil {
		s.client = providers.NewHTTPClient(10 * time.Second)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.attempts <= 0 {
		s.attempts = 4
	}
	if s.backoff <= 0 {
		s.backoff = time.Second
	}
	s.life, s.stop = context.WithCancel(context.Background())

	p := cfg.Prefix
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+p+"/v1/generations", s.authed(s.handleCreate))
	s.mux.HandleFunc("GET "+p+"/v1/generations/{id}", s.authed(s.handleGet))
	s.mux.HandleFunc("POST "+p+"/v1/generations/{id}/cancel", s.authed(s.handleCancel))
	s.mux.HandleFunc("GET "+p+"/v1/files/{file}", s.handleFile)
	s.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such route")
	})
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops every generation's progress and every webhook delivery, and
// waits for their goroutines to return. Generations stay readable; new ones
// are refused with 503. Close is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

// WebhookSecret returns the secret webhooks are signed with.
func (s *Server) WebhookSecret() string { return s.secret }

// Generations returns how many distinct generations were started.
func (s *Server) Generations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.gens)
}

// KeyCounts returns how many create calls carried idempotency key key
// (including those answered with an error or with an earlier generation),
// and how many generations they started: 0 or 1, by construction, which is
// what fault tests assert.
func (s *Server) KeyCounts(key string) (submits, generations int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.submits[key]; c != nil {
		submits = c.submits
	}
	if s.byKey[key] != nil {
		generations = 1
	}
	return submits, generations
}

// FailNextSubmit makes the next create call, whatever it carries, answer as
// the vendor does for code instead of starting a generation:
// CodeInvalidInput and CodeContentPolicy with 400, CodeRateLimited with 429
// and a Retry-After of retryAfter (rounded up to seconds), CodeServerError
// with 500, CodeUnauthenticated with 401. Calls queue up.
func (s *Server) FailNextSubmit(code string, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forced = append(s.forced, submitFailure{code: code, retryAfter: retryAfter})
}

// ErrNotFound is returned by the Server's control methods for an unknown id.
var ErrNotFound = errors.New("sim: no such generation")

// ErrFinished is returned by Succeed and Fail for a generation that is
// already in a terminal state.
var ErrFinished = errors.New("sim: generation already finished")

// Succeed finishes generation id now with a video output, as if its latency
// had run out.
func (s *Server) Succeed(id string) error { return s.finishNow(id, "") }

// Fail finishes generation id now as failed with code (CodeContentPolicy,
// CodeInvalidInput or CodeServerError).
func (s *Server) Fail(id, code string) error {
	if code == "" {
		code = CodeServerError
	}
	return s.finishNow(id, code)
}

func (s *Server) finishNow(id, fail string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gens[id]
	if g == nil {
		return ErrNotFound
	}
	if terminal(g.status) {
		return ErrFinished
	}
	s.finishLocked(g, fail)
	return nil
}

// WebhookRequest returns the delivery the Server would POST to target for
// generation id's current state: a fresh webhook-id, signed now.
func (s *Server) WebhookRequest(id, target string) (*http.Request, error) {
	s.mu.Lock()
	g := s.gens[id]
	var body []byte
	if g != nil {
		body = g.jsonLocked()
	}
	s.mu.Unlock()
	if g == nil {
		return nil, ErrNotFound
	}
	return s.newDelivery(context.Background(), target, delivery{id: newID("msg_"), body: body})
}

// authed requires the API key, when there is one.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.APIKey == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.APIKey)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "missing or invalid API key")
			return
		}
		h(w, r)
	}
}

// createRequest is the body of POST /v1/generations.
type createRequest struct {
	IdempotencyKey  string `json:"idempotency_key"`
	Workflow        string `json:"workflow"`
	Prompt          string `json:"prompt"`
	ImageURL        string `json:"image_url"`
	DurationSeconds int    `json:"duration_seconds"`
	AspectRatio     string `json:"aspect_ratio"`
	Resolution      string `json:"resolution"`
	Model           string `json:"model"`
	WebhookURL      string `json:"webhook_url"`
}

const (
	maxBodyBytes   = 1 << 20
	maxPromptRunes = 4000
	maxKeyLen      = 256
	defaultModel   = "sim-1"
)

var (
	aspectRatios = []string{"16:9", "9:16", "1:1", "4:3", "3:4", "21:9"}
	resolutions  = []string{"720p", "1080p"}
	models       = []string{"sim-1", "sim-1-turbo"}
)

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "body is not a valid generation request: "+err.Error())
		return
	}

	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	rep := s.create(req, base+s.cfg.Prefix)
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return // the client gave up; the generation runs on
		}
	}
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	writeJSON(w, rep.status, rep.body)
}

// reply is an answer decided under the lock and written after it, so that a
// slow client never holds the lock.
type reply struct {
	status     int
	retryAfter string
	body       []byte
	delay      time.Duration // before it is written
}

// create decides the answer to a create call, and starts the generation if
// there is one to start. The whole check-then-create runs under s.mu, so
// concurrent calls with one idempotency key start one generation.
func (s *Server) create(req createRequest, baseURL string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errorReply(http.StatusServiceUnavailable, CodeServerError, "shutting down")
	}
	kc := s.submits[req.IdempotencyKey]
	if kc == nil {
		kc = &keyCount{}
		s.submits[req.IdempotencyKey] = kc
	}
	kc.submits++

	if len(s.forced) > 0 {
		f := s.forced[0]
		s.forced = s.forced[1:]
		return submitFailureReply(0, f.code, f.retryAfter)
	}
	b, err := ParseDirectives(req.Prompt, s.cfg.Defaults)
	if err != nil {
		return errorReply(http.StatusBadRequest, CodeInvalidInput, err.Error())
	}
	if b.OutputSize > s.cfg.MaxOutputSize {
		return errorReply(http.StatusBadRequest, CodeInvalidInput,
			fmt.Sprintf("sim directive output_size: over this simulator's limit of %d bytes", s.cfg.MaxOutputSize))
	}
	if b.SubmitError != 0 && (b.SubmitErrorCount == 0 || kc.failed < b.SubmitErrorCount) {
		kc.failed++
		code := CodeServerError
		if b.SubmitError == http.StatusTooManyRequests {
			code = CodeRateLimited
		}
		return submitFailureReply(b.SubmitError, code, b.RetryAfter)
	}
	if g := s.byKey[req.IdempotencyKey]; g != nil && req.IdempotencyKey != "" {
		// The same generation, whatever the rest of the body says: the key
		// decides, as at the vendors that honour keys.
		return reply{status: http.StatusOK, body: g.jsonLocked(), delay: kc.delay(b)}
	}
	if err := validate(&req); err != nil {
		return errorReply(http.StatusBadRequest, CodeInvalidInput, err.Error())
	}
	g := s.startLocked(req, b, baseURL)
	return reply{status: http.StatusCreated, body: g.jsonLocked(), delay: kc.delay(b)}
}

// delay returns how long to hold this submission's answer (b.SubmitDelay
// for the first b.SubmitDelayCount submissions of the key).
func (kc *keyCount) delay(b Behavior) time.Duration {
	if b.SubmitDelay == 0 || (b.SubmitDelayCount > 0 && kc.delayed >= b.SubmitDelayCount) {
		return 0
	}
	kc.delayed++
	return b.SubmitDelay
}

// validate checks a create request and fills its defaults. Its messages
// name fields, never the prompt.
func validate(req *createRequest) error {
	switch req.Workflow {
	case "text_to_video":
	case "image_to_video":
		if u, err := url.Parse(req.ImageURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("image_url: image_to_video needs an absolute http(s) URL")
		}
	default:
		return fmt.Errorf("workflow: %q is not text_to_video or image_to_video", req.Workflow)
	}
	if req.Workflow == "text_to_video" && req.ImageURL != "" {
		return errors.New("image_url: not allowed for text_to_video")
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return errors.New("prompt: required")
	}
	if n := len([]rune(req.Prompt)); n > maxPromptRunes {
		return fmt.Errorf("prompt: %d characters, more than %d", n, maxPromptRunes)
	}
	if len(req.IdempotencyKey) > maxKeyLen {
		return fmt.Errorf("idempotency_key: longer than %d bytes", maxKeyLen)
	}
	if req.DurationSeconds == 0 {
		req.DurationSeconds = 5
	}
	if req.DurationSeconds < 1 || req.DurationSeconds > 20 {
		return fmt.Errorf("duration_seconds: %d is not between 1 and 20", req.DurationSeconds)
	}
	if req.AspectRatio == "" {
		req.AspectRatio = "16:9"
	}
	if !slices.Contains(aspectRatios, req.AspectRatio) {
		return fmt.Errorf("aspect_ratio: %q is not one of %s", req.AspectRatio, strings.Join(aspectRatios, ", "))
	}
	if req.Resolution == "" {
		req.Resolution = "720p"
	}
	if !slices.Contains(resolutions, req.Resolution) {
		return fmt.Errorf("resolution: %q is not one of %s", req.Resolution, strings.Join(resolutions, ", "))
	}
	if req.Model == "" {
		req.Model = defaultModel
	}
	if !slices.Contains(models, req.Model) {
		return fmt.Errorf("model: %q is not one of %s", req.Model, strings.Join(models, ", "))
	}
	if req.WebhookURL != "" {
		if u, err := url.Parse(req.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("webhook_url: not an absolute http(s) URL")
		}
	}
	return nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	g := s.gens[r.PathValue("id")]
	var body []byte
	if g != nil {
		body = g.jsonLocked()
	}
	s.mu.Unlock()
	if g == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such generation")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	g := s.gens[r.PathValue("id")]
	var body []byte
	if g != nil {
		if !terminal(g.status) {
			s.transitionLocked(g, statusCanceled, g.progress, "")
		}
		body = g.jsonLocked()
	}
	s.mu.Unlock()
	if g == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such generation")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// submitFailureReply is the answer to a create call that the vendor
// refuses with code; status 0 means the usual status for code.
func submitFailureReply(status int, code string, retryAfter time.Duration) reply {
	if status == 0 {
		status = map[string]int{
			CodeInvalidInput:    http.StatusBadRequest,
			CodeContentPolicy:   http.StatusBadRequest,
			CodeRateLimited:     http.StatusTooManyRequests,
			CodeUnauthenticated: http.StatusUnauthorized,
		}[code]
	}
	msg := map[string]string{
		CodeInvalidInput:    "the request was refused by a simulated validation error",
		CodeContentPolicy:   "the prompt was flagged by the content policy",
		CodeRateLimited:     "too many requests: slow down",
		CodeUnauthenticated: "missing or invalid API key",
	}[code]
	if msg == "" {
		code, msg = CodeServerError, "simulated server error"
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	rep := errorReply(status, code, msg)
	if status == http.StatusTooManyRequests {
		rep.retryAfter = strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10)
	}
	return rep
}

func errorReply(status int, code, msg string) reply {
	return reply{status: status, body: errorBody(code, msg)}
}

func errorBody(code, msg string) []byte {
	body, _ := json.Marshal(map[string]errorJSON{"error": {Code: code, Message: msg}})
	return body
}

// writeError writes the API's error body, {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody(code, msg))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte{'\n'})
}
