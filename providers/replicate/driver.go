package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	DefaultTimeout = providers.DefaultTimeout
	// OutputTTL is how long Replicate keeps the outputs of an API prediction
	// after it finishes.
	OutputTTL = time.Hour
)

// Config configures a Driver.
type Config struct {
	// APIKey (required), BaseURL ("" means DefaultBaseURL), Timeout,
	// HTTPClient and Now are as in providers.Conn; Now also times
	// webhook timestamps and output expiry.
	providers.Conn
	// Models are the model ids per workflow ("owner/name",
	// "owner/name:<version>" or a bare version id); a missing workflow uses
	// DefaultModel.
	Models map[providers.Workflow]string
	// WebhookSecrets verify webhooks ("whsec_…"); several while one is
	// rotated. With none, VerifyWebhook rejects every delivery.
	WebhookSecrets []string
}

// Driver is the providers.Driver of Replicate. It is stateless apart from
// its configuration, and safe for concurrent use.
type Driver struct {
	api      *providers.API
	models   map[providers.Workflow]modelRef
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
// base URL that is not absolute http(s), a negative timeout, a model id it
// cannot parse, a workflow it does not know, or a malformed webhook secret:
// all wiring mistakes, better found at start-up.
func New(cfg Config) (*Driver, error) {
	api, err := providers.NewAPI(providers.APIConfig{
		Conn:   cfg.Conn,
		Vendor: "replicate", DefaultBaseURL: DefaultBaseURL,
		Header:     providers.BearerAuth,
		ParseError: parseError, Secrets: cfg.WebhookSecrets,
	})
	if err != nil {
		return nil, err
	}
	d := &Driver{api: api, models: make(map[providers.Workflow]modelRef, 2)}
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
		v, err := stdwebhooks.NewVerifier(cfg.WebhookSecrets, stdwebhooks.WithClock(api.Now))
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
	var p prediction
	if err := d.api.Call(ctx, "submit", http.MethodPost, path, body, &p,
		req.Prompt, req.SourceImageURL, req.WebhookURL, req.NegativePrompt); err != nil {
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
	if err := d.api.Call(ctx, "status", http.MethodGet, "/predictions/"+url.PathEscape(requestID), nil, &p); err != nil {
		return providers.Status{}, err
	}
	st, err := p.status(d.api.Redactor().With(p.Input.Prompt, p.Input.image(), p.Input.NegativePrompt))
	if err != nil {
		return providers.Status{}, &providers.Error{Code: providers.CodeUnknown, Message: "replicate status: invalid prediction", Err: err}
	}
	return st, nil
}

// Cancel cancels prediction requestID. Replicate answers 200 for a
// prediction that has already finished, and leaves it as it is.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	return d.api.Call(ctx, "cancel", http.MethodPost, "/predictions/"+url.PathEscape(requestID)+"/cancel", nil, nil)
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
	st, err := p.status(d.api.Redactor().With(p.Input.Prompt, p.Input.image(), p.Input.NegativePrompt))
	if err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput,
			Message: "replicate webhook: invalid prediction", Err: err}
	}
	return providers.Webhook{EventID: id, Status: st}, nil
}
