package runway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

const (
	// DefaultBaseURL is Runway's API host.
	DefaultBaseURL = "https://api.dev.runwayml.com"
	// APIVersion is sent as X-Runway-Version on every call; the request and
	// response shapes here are those of this version.
	APIVersion = "2024-11-06"
	// MinPollInterval is the shortest wait between two Status calls for one
	// task that Runway asks for ("no faster than every five seconds"). The
	// driver reports it through Driver.MinPollInterval (providers.PollPacer)
	// and does not enforce it itself: the engine, which schedules polls,
	// does.
	MinPollInterval = 5 * time.Second
	// DefaultTimeout bounds each HTTP call when Config.Timeout is 0.
	DefaultTimeout = 30 * time.Second
)

// maxResponseBytes caps the JSON read from one answer.
const maxResponseBytes = 1 << 20

// Config configures a Driver.
type Config struct {
	// APIKey is the Runway API secret (required).
	APIKey string
	// BaseURL is Runway's API host; "" means DefaultBaseURL. Tests and
	// proxies set it.
	BaseURL string
	// Models maps a workflow to the model used when Request.Model is "";
	// missing entries take DefaultTextToVideoModel and
	// DefaultImageToVideoModel.
	Models map[providers.Workflow]string
	// Timeout bounds each HTTP call; 0 means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes the calls; nil means a new http.Client.
	HTTPClient *http.Client
	// Now is the clock (Retry-After dates, the memory of canceled tasks);
	// nil means time.Now.
	Now func() time.Time
}

// Driver is the providers.Driver of Runway. It is safe for concurrent use.
type Driver struct {
	base     string
	apiKey   string
	models   map[providers.Workflow]string
	timeout  time.Duration
	client   *http.Client
	now      func() time.Time
	canceled canceled
}

var (
	_ providers.Driver    = (*Driver)(nil)
	_ providers.PollPacer = (*Driver)(nil)
	_ providers.Cataloger = (*Driver)(nil)
)

// New returns a Driver for cfg, or an error if cfg has no API key or a
// malformed BaseURL.
func New(cfg Config) (*Driver, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, errors.New("runway: APIKey is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("runway: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("runway: negative Timeout %s", cfg.Timeout)
	}
	d := &Driver{
		base:    strings.TrimSuffix(cfg.BaseURL, "/"),
		apiKey:  cfg.APIKey,
		timeout: cfg.Timeout,
		client:  cfg.HTTPClient,
		now:     cfg.Now,
		models: map[providers.Workflow]string{
			providers.WorkflowTextToVideo:  DefaultTextToVideoModel,
			providers.WorkflowImageToVideo: DefaultImageToVideoModel,
		},
	}
	for wf, m := range cfg.Models {
		if m != "" {
			d.models[wf] = m
		}
	}
	if d.timeout == 0 {
		d.timeout = DefaultTimeout
	}
	if d.client == nil {
		d.client = &http.Client{}
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

// Name returns "runway".
func (d *Driver) Name() string { return "runway" }

// MinPollInterval reports the package's MinPollInterval: the engine never
// polls one task sooner than that after the last poll.
func (d *Driver) MinPollInterval() time.Duration { return MinPollInterval }

// HonorsIdempotencyKeys reports false: Runway documents no idempotency key,
// so a Submit retried after a lost answer may start a second task.
func (d *Driver) HonorsIdempotencyKeys() bool { return false }

// taskRequest is the body of POST /v1/text_to_video and
// POST /v1/image_to_video.
type taskRequest struct {
	Model       string `json:"model"`
	PromptImage string `json:"promptImage,omitempty"`
	PromptText  string `json:"promptText,omitempty"`
	Ratio       string `json:"ratio"`
	Duration    int    `json:"duration"`
	Seed        *int64 `json:"seed,omitempty"`
	Audio       *bool  `json:"audio,omitempty"`
}

// Submit starts a task. It refuses, with CodeInvalidInput and before
// calling, a size or duration the model does not make (see ratioFor and
// durationFor); Request.IdempotencyKey is not sent (see
// HonorsIdempotencyKeys).
func (d *Driver) Submit(ctx context.Context, req providers.Request) (string, error) {
	model := req.Model
	if model == "" {
		model = d.models[req.Workflow]
	}
	if err := d.Catalog().CheckOptions("runway submit", model, req); err != nil {
		return "", err
	}
	body := taskRequest{Model: model, PromptText: req.Prompt, Seed: req.Seed, Audio: req.Audio}
	var path string
	switch req.Workflow {
	case providers.WorkflowTextToVideo:
		path = "/v1/text_to_video"
	case providers.WorkflowImageToVideo:
		if req.SourceImageURL == "" {
			return "", providers.Errorf(providers.CodeInvalidInput, "runway submit: image_to_video needs a source image URL")
		}
		path, body.PromptImage = "/v1/image_to_video", req.SourceImageURL
	default:
		return "", providers.Errorf(providers.CodeUnimplemented, "runway submit: workflow %q is not offered", req.Workflow)
	}
	var err error
	if body.Ratio, err = ratioFor(model, req.Workflow, req.AspectRatio, req.Resolution); err != nil {
		return "", err
	}
	if body.Duration, err = durationFor(model, req.DurationSeconds); err != nil {
		return "", err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := d.call(ctx, "submit", http.MethodPost, path, body, &created); err != nil {
		return "", redactPrompt(err, req.Prompt)
	}
	if created.ID == "" {
		// The task may exist: not transient, so the engine does not start
		// (and pay for) another one on a guess.
		return "", providers.Errorf(providers.CodeUnknown, "runway submit: answer without a task id")
	}
	return created.ID, nil
}

// Status returns the state of task requestID. A task this driver canceled
// that Runway no longer returns reports StateCanceled (see canceled).
func (d *Driver) Status(ctx context.Context, requestID string) (providers.Status, error) {
	t, err := d.task(ctx, "status", requestID)
	if err != nil {
		if providers.ErrorCode(err) == providers.CodeNotFound && d.canceled.has(requestID, d.now()) {
			return providers.Status{RequestID: requestID, State: providers.StateCanceled}, nil
		}
		return providers.Status{}, err
	}
	return t.status(requestID)
}

// Cancel aborts task requestID if it has not finished. Runway's DELETE
// both cancels a running task and deletes a finished one (outputs
// included), so Cancel reads the task first and leaves a finished one
// alone; a task that finishes between the two calls is deleted, which is
// what canceling it asked for anyway.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	t, err := d.task(ctx, "cancel", requestID)
	if err != nil {
		if providers.ErrorCode(err) == providers.CodeNotFound && d.canceled.has(requestID, d.now()) {
			return nil // canceled already
		}
		return err
	}
	if st, err := t.status(requestID); err == nil && st.State.Terminal() {
		return nil
	}
	if err := d.call(ctx, "cancel", http.MethodDelete, "/v1/tasks/"+url.PathEscape(requestID), nil, nil); err != nil {
		return err
	}
	d.canceled.add(requestID, d.now())
	return nil
}

// task is a task as GET /v1/tasks/{id} returns it.
type task struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	Failure     string   `json:"failure"`
	FailureCode string   `json:"failureCode"`
	Output      []string `json:"output"`
	Progress    *float64 `json:"progress"`
}

func (d *Driver) task(ctx context.Context, op, id string) (*task, error) {
	if id == "" {
		return nil, providers.Errorf(providers.CodeNotFound, "runway %s: empty task id", op)
	}
	var t task
	if err := d.call(ctx, op, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// status converts a task to a providers.Status:
//
//	PENDING, THROTTLED  StateQueued
//	RUNNING             StateProcessing, Progress = progress × 100 (at most 99)
//	SUCCEEDED           StateSucceeded, one OutputVideo per output URL, with
//	                    no ExpiresAt: Runway gives none, and renews URLs
//	                    when the task is read again
//	FAILED              StateFailed, Error.Code from failureCode (failureClass)
//	CANCELLED           StateCanceled
//
// It returns an error for which ErrorCode is CodeUnknown for a status it
// does not know.
func (t *task) status(id string) (providers.Status, error) {
	st := providers.Status{RequestID: id}
	switch t.Status {
	case "PENDING", "THROTTLED":
		st.State = providers.StateQueued
	case "RUNNING":
		st.State = providers.StateProcessing
		if t.Progress != nil {
			// 100 is the engine's mark of a finished request.
			st.Progress = int(min(max(math.Round(*t.Progress*100), 0), 99))
		}
	case "SUCCEEDED":
		st.State = providers.StateSucceeded
		// The URLs "expire within 24-48 hours; fetch the task again to get
		// fresh URLs" (sdk-node, src/resources/tasks.ts): no expiry is
		// given, and one made up from createdAt would call a URL dead that
		// a second read renews. ExpiresAt stays zero.
		for _, u := range t.Output {
			if u != "" {
				st.Outputs = append(st.Outputs, providers.Output{URL: u, Kind: providers.OutputVideo, ContentType: "video/mp4"})
			}
		}
		if len(st.Outputs) == 0 {
			// Runway's failure, not the request's: a new attempt may work.
			st.State, st.Outputs = providers.StateFailed, nil
			st.Error = providers.Errorf(providers.CodeUnavailable, "runway reported success without an output URL")
		}
	case "FAILED":
		st.State = providers.StateFailed
		msg := "runway task failed"
		if t.Failure != "" {
			msg += ": " + clip(t.Failure)
		}
		st.Error = &providers.Error{Code: failureClass(t.FailureCode), Message: msg, VendorCode: t.FailureCode}
	case "CANCELLED":
		st.State = providers.StateCanceled
	default:
		return providers.Status{}, providers.Errorf(providers.CodeUnknown, "runway status: unknown task status %q", clip(t.Status))
	}
	return st, nil
}

// failureClass classifies a task's failureCode, a dotted code whose first
// segment is the most general:
//
//	SAFETY.*                     CodeContentPolicy (input or output moderated; Runway: do not retry)
//	INPUT_PREPROCESSING.SAFETY.* CodeContentPolicy
//	ASSET.*                      CodeInvalidInput (an input asset Runway could not use)
//	INTERNAL.*                   CodeUnavailable (Runway's side; INTERNAL.BAD_OUTPUT "may" succeed again)
//	INPUT_PREPROCESSING.INTERNAL CodeUnavailable (moderation itself failed)
//	anything else, or none       CodeUnknown
func failureClass(code string) providers.Code {
	switch {
	case code == "SAFETY" || strings.HasPrefix(code, "SAFETY."),
		code == "INPUT_PREPROCESSING.SAFETY" || strings.HasPrefix(code, "INPUT_PREPROCESSING.SAFETY."):
		return providers.CodeContentPolicy
	case code == "ASSET" || strings.HasPrefix(code, "ASSET."):
		return providers.CodeInvalidInput
	case code == "INTERNAL" || strings.HasPrefix(code, "INTERNAL."),
		code == "INPUT_PREPROCESSING.INTERNAL" || strings.HasPrefix(code, "INPUT_PREPROCESSING.INTERNAL."):
		return providers.CodeUnavailable
	default:
		return providers.CodeUnknown
	}
}

// call makes one API call and decodes a 2xx JSON answer into out (if not
// nil). Every error it returns is a *providers.Error.
func (d *Driver) call(ctx context.Context, op, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &providers.Error{Code: providers.CodeInvalidInput, Message: "runway " + op + ": encode request", Err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return &providers.Error{Code: providers.CodeInvalidInput, Message: "runway " + op + ": build request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+d.apiKey)
	req.Header.Set("X-Runway-Version", APIVersion)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		// Refused, reset, timed out, canceled: nothing is known of
		// Runway's side, and trying again later is right.
		return &providers.Error{Code: providers.CodeUnavailable, Message: "runway " + op + ": request failed", Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &providers.Error{Code: providers.CodeUnavailable, Message: "runway " + op + ": read response", Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return d.apiError(op, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &providers.Error{Code: providers.CodeUnavailable, Message: "runway " + op + ": malformed response", Err: err}
	}
	return nil
}

// apiError classifies a non-2xx answer by its status (Runway's error body,
// {"error": "..."}, carries no code of its own): 400 CodeInvalidInput, 401
// CodeUnauthenticated, 404 CodeNotFound, 429 CodeRateLimited with
// Retry-After, 5xx CodeUnavailable.
func (d *Driver) apiError(op string, resp *http.Response, data []byte) *providers.Error {
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(data, &body) // a proxy's HTML page classifies by status alone
	msg := clip(body.Error)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &providers.Error{
		Code:       providers.CodeForHTTPStatus(resp.StatusCode),
		Message:    fmt.Sprintf("runway %s: HTTP %d: %s", op, resp.StatusCode, msg),
		RetryAfter: providers.ParseRetryAfter(resp.Header.Get("Retry-After"), d.now()),
	}
}

// redactPrompt takes the prompt out of err's message, should Runway quote
// it back in a validation error: messages go to the job's event log.
func redactPrompt(err error, prompt string) error {
	var e *providers.Error
	if prompt != "" && errors.As(err, &e) && strings.Contains(e.Message, prompt) {
		e.Message = strings.ReplaceAll(e.Message, prompt, "[prompt]")
	}
	return err
}

// clip shortens a vendor's text for an error message.
func clip(s string) string {
	const n = 300
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
