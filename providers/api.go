package providers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of an APIConfig.
const (
	// DefaultTimeout bounds each call when APIConfig.Timeout is 0.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes caps an answer's body when
	// APIConfig.MaxResponseBytes is 0.
	DefaultMaxResponseBytes = 1 << 20
)

// Conn is how a driver reaches its vendor: the connection settings every
// vendor's Config embeds, with the same meaning in each.
type Conn struct {
	// APIKey is the vendor's API key (required). It is sent only through
	// the vendor's auth headers and removed from every message.
	APIKey string
	// BaseURL is the API root, prefixed to every target a call names; ""
	// means the vendor's default. It must be an absolute http(s) URL; a
	// trailing slash is dropped.
	BaseURL string
	// Timeout bounds each call; 0 means DefaultTimeout; negative is an
	// error.
	Timeout time.Duration
	// HTTPClient makes the calls; nil means a new http.Client.
	HTTPClient *http.Client
	// Now is the clock for Retry-After dates (and the driver's own uses:
	// webhook timestamps, output expiry, memories of canceled requests);
	// nil means time.Now.
	Now func() time.Time
}

// APIConfig describes one vendor's JSON API to NewAPI: the connection
// settings of the vendor's Config (Conn), and what the vendor package
// fills in: its name, default base URL, auth headers and how to read its
// error body.
type APIConfig struct {
	Conn
	// Vendor names the vendor in every message ("luma submit: HTTP 400: …").
	Vendor string
	// DefaultBaseURL is used when Conn.BaseURL is ""; both "" lets calls
	// name absolute URLs.
	DefaultBaseURL string
	// Header returns the headers every call carries (auth, API version),
	// given the API key.
	Header func(apiKey string) http.Header
	// ParseError reads the body of a non-2xx answer: the vendor's message
	// and, where its body says more than its status, a code. nil reads
	// nothing (the status alone classifies).
	ParseError func(status int, header http.Header, body []byte) VendorError
	// Secrets are the other secrets the driver holds (webhook secrets,
	// callback tokens), removed from every message as the API key is.
	Secrets []string
	// MaxResponseBytes caps an answer's body; 0 means
	// DefaultMaxResponseBytes. A longer answer is an error.
	MaxResponseBytes int64
}

// VendorError is what APIConfig.ParseError reads from an error body.
type VendorError struct {
	// Message is the vendor's explanation, as it wrote it: API.Error
	// redacts it.
	Message string
	// Code replaces the status's usual meaning (CodeForHTTPStatus) when
	// not "": a 400 that is a content-policy refusal, a bad key sent as 400.
	Code Code
	// VendorCode is the vendor's own code, if it gives one.
	VendorCode string
	// RetryAfter is the wait the body asks for, used when the answer has no
	// Retry-After header.
	RetryAfter time.Duration
}

// API makes the calls of one vendor's JSON API: the shared core of the
// vendor drivers. Each call is bounded by the configured timeout (and its
// context); its answer is read up to a size cap; a non-2xx answer becomes
// an *Error classified by status (CodeForHTTPStatus: a 4xx other than 408,
// 409, 425 and 429 is permanent), refined by the vendor's error body, with
// the wait of its Retry-After; and every message passes through the
// driver's Redactor. An API is safe for concurrent use.
type API struct {
	vendor   string
	base     *url.URL // nil when calls name absolute URLs
	baseStr  string
	header   http.Header
	parse    func(int, http.Header, []byte) VendorError
	client   *http.Client
	timeout  time.Duration
	now      func() time.Time
	maxBody  int64
	redactor Redactor
}

// NewAPI returns an API for cfg, or an error (starting with the vendor's
// name) for a missing API key, a base URL that is not absolute http(s) or
// a negative timeout: wiring mistakes, better found at start-up.
func NewAPI(cfg APIConfig) (*API, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, fmt.Errorf("%s: APIKey is required", cfg.Vendor)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%s: negative Timeout %s", cfg.Vendor, cfg.Timeout)
	}
	a := &API{
		vendor:   cfg.Vendor,
		parse:    cfg.ParseError,
		client:   cfg.HTTPClient,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		maxBody:  cfg.MaxResponseBytes,
		redactor: NewRedactor(append([]string{cfg.APIKey}, cfg.Secrets...)...),
	}
	if raw := cmp.Or(cfg.BaseURL, cfg.DefaultBaseURL); raw != "" {
		u, err := url.Parse(strings.TrimSuffix(raw, "/"))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("%s: base URL %q is not an absolute http(s) URL", cfg.Vendor, raw)
		}
		a.base, a.baseStr = u, u.String()
	}
	if cfg.Header != nil {
		a.header = cfg.Header(cfg.APIKey)
	}
	if a.client == nil {
		a.client = &http.Client{}
	}
	if a.timeout == 0 {
		a.timeout = DefaultTimeout
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxResponseBytes
	}
	return a, nil
}

// Base returns the base URL (a copy), or nil if calls name absolute URLs.
func (a *API) Base() *url.URL {
	if a.base == nil {
		return nil
	}
	u := *a.base
	return &u
}

// BaseString returns the base URL as configured, without a trailing slash.
func (a *API) BaseString() string { return a.baseStr }

// Client returns the HTTP client the calls use.
func (a *API) Client() *http.Client { return a.client }

// Timeout returns the bound of each call.
func (a *API) Timeout() time.Duration { return a.timeout }

// Now returns the API's clock's time.
func (a *API) Now() time.Time { return a.now() }

// Redactor returns the Redactor of the driver's secrets; With adds a
// request's prompt and other texts.
func (a *API) Redactor() Redactor { return a.redactor }

// Create POSTs in to target (as Call, op "submit") and returns the "id"
// of what the vendor created, a noun ("task") for messages. An answer
// without an id is CodeUnknown, not transient: the request may exist, and
// the engine must not start (and pay for) another one on a guess.
func (a *API) Create(ctx context.Context, target, noun string, in any, texts ...string) (string, error) {
	var created struct {
		ID string `json:"id"`
	}
	if err := a.Call(ctx, "submit", http.MethodPost, target, in, &created, texts...); err != nil {
		return "", err
	}
	if created.ID == "" {
		return "", Errorf(CodeUnknown, "%s submit: answer without a %s id", a.vendor, noun)
	}
	return created.ID, nil
}

// Call makes one call — method on the base URL followed by target, with in
// (if not nil) as its JSON body — and decodes a 2xx answer into out (if
// not nil; an empty body leaves out as it is). op names the call in
// messages ("submit"). texts are what else of this request must not be
// quoted back (the prompt, signed URLs): with the driver's secrets, they
// are redacted from every message. Every error is an *Error.
func (a *API) Call(ctx context.Context, op, method, target string, in, out any, texts ...string) error {
	resp, data, err := a.Do(ctx, op, method, target, in)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return a.Error(op, resp, data, texts...)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Code: CodeUnavailable, Message: a.vendor + " " + op + ": malformed response", Err: err}
	}
	return nil
}

// Do makes one call as Call does and returns the answer, whatever its
// status, with its body read (the body is closed). Its error, for a call
// that got no complete answer, is an *Error with CodeUnavailable that
// quotes no URL (a URL may carry a signed query or a callback token); an
// answer longer than the cap is such an error too.
func (a *API) Do(ctx context.Context, op, method, target string, in any) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, &Error{Code: CodeInvalidInput, Message: a.vendor + " " + op + ": encode request", Err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.baseStr+target, body)
	if err != nil {
		return nil, nil, &Error{Code: CodeInvalidInput, Message: a.vendor + " " + op + ": build request", Err: WithoutURL(err)}
	}
	for k, vs := range a.header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		// Refused, reset, timed out, canceled: nothing is known of the
		// vendor's side, and trying again later is right.
		return nil, nil, &Error{Code: CodeUnavailable, Message: a.vendor + " " + op + ": request failed", Err: WithoutURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, a.maxBody+1))
	if err != nil {
		return nil, nil, &Error{Code: CodeUnavailable, Message: a.vendor + " " + op + ": read response", Err: WithoutURL(err)}
	}
	if int64(len(data)) > a.maxBody {
		return nil, nil, Errorf(CodeUnavailable, "%s %s: HTTP %d answer is over the %d-byte limit", a.vendor, op, resp.StatusCode, a.maxBody)
	}
	return resp, data, nil
}

// Error classifies a non-2xx answer: by status (CodeForHTTPStatus), or by
// the code the vendor's body gives (APIConfig.ParseError); with the wait
// of its Retry-After header, else of its body; its message
// "<vendor> <op>: HTTP <status>: <vendor's message>", redacted of the
// driver's secrets and texts.
func (a *API) Error(op string, resp *http.Response, data []byte, texts ...string) *Error {
	var ve VendorError
	if a.parse != nil {
		ve = a.parse(resp.StatusCode, resp.Header, data)
	}
	code := cmp.Or(ve.Code, CodeForHTTPStatus(resp.StatusCode), CodeUnknown)
	r := a.redactor.With(texts...)
	msg := r.Redact(ve.Message)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	retry := ParseRetryAfter(resp.Header.Get("Retry-After"), a.now())
	if retry == 0 {
		retry = min(max(ve.RetryAfter, 0), maxRetryAfterSeconds*time.Second)
	}
	return &Error{
		Code:       code,
		Message:    fmt.Sprintf("%s %s: HTTP %d: %s", a.vendor, op, resp.StatusCode, msg),
		VendorCode: r.Redact(ve.VendorCode),
		RetryAfter: retry,
	}
}

// WithoutURL returns the cause of a *url.Error, whose text quotes the URL
// requested (which may be signed, or carry a callback token), or err
// itself.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// BearerAuth is an APIConfig.Header for vendors that take the key as a
// bearer token.
func BearerAuth(apiKey string) http.Header {
	return http.Header{"Authorization": {"Bearer " + apiKey}}
}
