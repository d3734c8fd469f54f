package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// Defaults.
const (
	DefaultBaseURL = "https://api.replicate.com/v1"
	// DefaultModel serves both workflows: a prompt, and optionally a first
	// frame ("image").
	DefaultModel   = "bytedance/seedance-1-pro"
	DefaultTimeout = 30 * time.Second
	// OutputTTL is how long Replicate keeps the outputs of an API prediction
	// after it finishes.
	OutputTTL = time.Hour
)

// maxResponseBytes caps the JSON the driver reads from an API answer.
const maxResponseBytes = 1 << 20

// Config configures a Driver.
type Config struct {
	// APIKey is the Replicate API token; required.
	APIKey string
	// BaseURL is the API root; "" means DefaultBaseURL.
	BaseURL string
	// Models are the model ids per workflow ("owner/name",
	// "owner/name:<version>" or a bare version id); a missing workflow uses
	// DefaultModel.
	Models map[providers.Workflow]string
	// WebhookSecrets verify webhooks ("whsec_…"); several while one is
	// rotated. With none, VerifyWebhook rejects every delivery.
	WebhookSecrets []string
	// Timeout bounds each HTTP call; 0 means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes the calls; nil means a new http.Client.
	HTTPClient *http.Client
	// Now is the clock for webhook timestamps, Retry-After dates and output
	// expiry; nil means time.Now.
	Now func() time.Time
}

// Driver is the providers.Driver of Replicate. It is stateless apart from
// its configuration, and safe for concurrent use.
type Driver struct {
	base     string // no trailing slash
	apiKey   string
	models   map[providers.Workflow]modelRef
	client   *http.Client
	timeout  time.Duration
	now      func() time.Time
	verifier *stdwebhooks.Verifier
	// verifierErr is why there is no verifier; VerifyWebhook fails closed
	// with it.
	verifierErr error
}

var (
	_ providers.Driver          = (*Driver)(nil)
	_ providers.WebhookVerifier = (*Driver)(nil)
)

// New returns a Driver for cfg. It returns an error for a missing API key, a
// base URL that is not absolute http(s), a model id it cannot parse, a
// workflow it does not know, or a malformed webhook secret: all wiring
// mistakes, better found at start-up.
func New(cfg Config) (*Driver, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("replicate: no API key")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("replicate: base URL %q is not an absolute http(s) URL", base)
	}
	d := &Driver{
		base:    strings.TrimSuffix(base, "/"),
		apiKey:  cfg.APIKey,
		models:  make(map[providers.Workflow]modelRef, 2),
		client:  cfg.HTTPClient,
		timeout: cfg.Timeout,
		now:     cfg.Now,
	}
	if d.client == nil {
		d.client = &http.Client{}
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	if d.now == nil {
		d.now = time.Now
	}
	for _, wf := range []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo} {
		d.models[wf], _ = parseModel(DefaultModel)
	}
	for wf, id := range cfg.Models {
		if _, ok := d.models[wf]; !ok {
			return nil, fmt.Errorf("replicate: unknown workflow %q in Models", wf)
		}
		ref, err := parseModel(id)
		if err != nil {
			return nil, fmt.Errorf("replicate: model for %s: %w", wf, err)
		}
		d.models[wf] = ref
	}
	if len(cfg.WebhookSecrets) == 0 {
		d.verifierErr = errors.New("no webhook secret configured")
	} else {
		v, err := stdwebhooks.NewVerifier(cfg.WebhookSecrets, stdwebhooks.WithClock(d.now))
		if err != nil {
			return nil, fmt.Errorf("replicate: webhook secrets: %w", err)
		}
		d.verifier = v
	}
	return d, nil
}

// Name returns "replicate".
func (d *Driver) Name() string { return "replicate" }

// HonorsIdempotencyKeys reports false: Replicate has no idempotency key for
// creating predictions, so a retried Submit may start a second one.
func (d *Driver) HonorsIdempotencyKeys() bool { return false }

// createRequest is the body of a create-prediction call.
type createRequest struct {
	Version             string         `json:"version,omitempty"`
	Input               map[string]any `json:"input"`
	Webhook             string         `json:"webhook,omitempty"`
	WebhookEventsFilter []string       `json:"webhook_events_filter,omitempty"`
}

// webhookEvents are the events the driver asks for; see the package doc.
var webhookEvents = []string{"start", "completed"}

// Submit creates a prediction and returns its id.
func (d *Driver) Submit(ctx context.Context, req providers.Request) (string, error) {
	ref, ok := d.models[req.Workflow]
	if !ok {
		return "", providers.Errorf(providers.CodeUnimplemented, "replicate submit: workflow %q not supported", req.Workflow)
	}
	if req.Model != "" {
		var err error
		if ref, err = parseModel(req.Model); err != nil {
			return "", &providers.Error{Code: providers.CodeInvalidInput, Message: "replicate submit: invalid model id", Err: err}
		}
	}
	if req.Workflow == providers.WorkflowImageToVideo && req.SourceImageURL == "" {
		return "", providers.Errorf(providers.CodeInvalidInput, "replicate submit: image_to_video without a source image")
	}
	input, err := buildInput(ref, req)
	if err != nil {
		return "", err
	}
	body := createRequest{Version: ref.version, Input: input}
	if req.WebhookURL != "" {
		body.Webhook, body.WebhookEventsFilter = req.WebhookURL, webhookEvents
	}
	path := "/predictions"
	if ref.version == "" {
		path = "/models/" + ref.owner + "/" + ref.name + "/predictions"
	}
	sc := d.scrub(req.Prompt, req.SourceImageURL, req.WebhookURL, req.NegativePrompt)
	var p prediction
	if err := d.call(ctx, "submit", http.MethodPost, path, body, &p, sc); err != nil {
		return "", err
	}
	if p.ID == "" {
		return "", providers.Errorf(providers.CodeUnavailable, "replicate submit: answer without a prediction id")
	}
	return p.ID, nil
}

// Status returns the state of prediction requestID.
func (d *Driver) Status(ctx context.Context, requestID string) (providers.Status, error) {
	var p prediction
	if err := d.call(ctx, "status", http.MethodGet, "/predictions/"+url.PathEscape(requestID), nil, &p, d.scrub("")); err != nil {
		return providers.Status{}, err
	}
	st, err := p.status(d.scrub(p.Input.Prompt, p.Input.image(), p.Input.NegativePrompt))
	if err != nil {
		return providers.Status{}, &providers.Error{Code: providers.CodeUnknown, Message: "replicate status: invalid prediction", Err: err}
	}
	return st, nil
}

// Cancel cancels prediction requestID. Replicate answers 200 for a
// prediction that has already finished, and leaves it as it is.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	return d.call(ctx, "cancel", http.MethodPost, "/predictions/"+url.PathEscape(requestID)+"/cancel", nil, nil, d.scrub(""))
}

// VerifyWebhook verifies a delivery's Standard Webhooks signature and
// timestamp and parses the prediction it carries.
func (d *Driver) VerifyWebhook(r *http.Request, body []byte) (providers.Webhook, error) {
	if d.verifier == nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeUnauthenticated,
			Message: "replicate webhook: cannot verify", Err: d.verifierErr}
	}
	id, err := d.verifier.Verify(r.Header, body)
	if err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeUnauthenticated,
			Message: "replicate webhook: signature does not verify", Err: err}
	}
	var p prediction
	if err := json.Unmarshal(body, &p); err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput,
			Message: "replicate webhook: body is not a prediction", Err: err}
	}
	st, err := p.status(d.scrub(p.Input.Prompt, p.Input.image(), p.Input.NegativePrompt))
	if err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput,
			Message: "replicate webhook: invalid prediction", Err: err}
	}
	return providers.Webhook{EventID: id, Status: st}, nil
}

// call makes one API call and decodes a 2xx JSON answer into out (if not
// nil). Every error it returns is a *providers.Error whose message went
// through sc.
func (d *Driver) call(ctx context.Context, op, method, path string, body, out any, sc scrubber) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &providers.Error{Code: providers.CodeInvalidInput, Message: "replicate " + op + ": encode request", Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return &providers.Error{Code: providers.CodeInvalidInput, Message: "replicate " + op + ": build request", Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.apiKey)
	resp, err := d.client.Do(req)
	if err != nil {
		// Connection refused, reset, timeout, a canceled ctx: nothing is
		// known about the vendor's side, and trying again is right.
		return &providers.Error{Code: providers.CodeUnavailable, Message: "replicate " + op + ": request failed", Err: withoutURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &providers.Error{Code: providers.CodeUnavailable, Message: "replicate " + op + ": read response", Err: withoutURL(err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(op, resp, data, sc, d.now())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &providers.Error{Code: providers.CodeUnavailable, Message: "replicate " + op + ": malformed response", Err: err}
	}
	return nil
}

// withoutURL returns the cause of a *url.Error: its message repeats the
// request URL, which has no place in an event log.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
