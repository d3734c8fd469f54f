package luma

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

const (
	// DefaultBaseURL is the Dream Machine API's base.
	DefaultBaseURL = "https://api.lumalabs.ai/dream-machine/v1"
	// DefaultModel is the model used when neither Request.Model nor
	// Config.Models names one: Luma's current general video model, which
	// does text- and image-to-video.
	DefaultModel = "ray-2"
	// DefaultTimeout bounds each HTTP call when Config.Timeout is 0.
	DefaultTimeout = providers.DefaultTimeout
)

// Config configures a Driver.
type Config struct {
	// APIKey (required), BaseURL (up to and including /dream-machine/v1;
	// "" means DefaultBaseURL), Timeout, HTTPClient and Now are as in
	// providers.Conn; Now also times the memory of deleted
	// generations.
	providers.Conn
	// Models maps a workflow to the model used when Request.Model is "";
	// missing entries take DefaultModel.
	Models map[providers.Workflow]string
	// CallbackToken is the secret that authenticates Luma's callbacks,
	// which carry no signature: Submit adds it to Request.WebhookURL as the
	// "token" query parameter and VerifyWebhook requires it back. At least
	// MinCallbackTokenLen characters; "" turns callbacks off (Submit sends
	// no callback_url and VerifyWebhook refuses everything), and the engine
	// polls.
	CallbackToken string
}

// Driver is the providers.Driver and providers.WebhookVerifier of Luma's
// Dream Machine API. It is safe for concurrent use.
type Driver struct {
	api     *providers.API
	token   providers.CallbackToken
	models  map[providers.Workflow]string
	deleted *providers.CancelByDelete
}

var (
	_ providers.Driver          = (*Driver)(nil)
	_ providers.WebhookVerifier = (*Driver)(nil)
)

// New returns a Driver for cfg, or an error if cfg has no API key, a
// malformed BaseURL, a negative Timeout or a short CallbackToken.
func New(cfg Config) (*Driver, error) {
	api, token, err := providers.NewCallbackAPI(providers.APIConfig{
		Conn:   cfg.Conn,
		Vendor: "luma", DefaultBaseURL: DefaultBaseURL,
		Header:     providers.BearerAuth,
		ParseError: parseError,
	}, cfg.CallbackToken)
	if err != nil {
		return nil, err
	}
	return &Driver{
		api:     api,
		token:   token,
		deleted: providers.NewCancelByDelete[generation](api, "/generations/"),
		models:  providers.ModelsFor(DefaultModel, DefaultModel, cfg.Models),
	}, nil
}

// Name returns "luma".
func (d *Driver) Name() string { return "luma" }

// HonorsIdempotencyKeys reports false: Luma documents no idempotency key,
// so a Submit retried after a lost answer may start a second generation.
func (d *Driver) HonorsIdempotencyKeys() bool { return false }

type createRequest struct {
	Prompt      string     `json:"prompt,omitempty"`
	Model       string     `json:"model"`
	AspectRatio string     `json:"aspect_ratio"`
	Duration    string     `json:"duration"`
	Resolution  string     `json:"resolution"`
	Keyframes   *keyframes `json:"keyframes,omitempty"`
	CallbackURL string     `json:"callback_url,omitempty"`
}

type keyframes struct {
	Frame0 *keyframe `json:"frame0,omitempty"`
	// Frame1 is the last frame (Request.EndFrameURL).
	Frame1 *keyframe `json:"frame1,omitempty"`
}

type keyframe struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Submit creates a generation. What the catalog says a model does not make
// (ray-2 and ray-flash-2: 5 or 9 s; Catalog.Check), or an aspect ratio or
// resolution Luma does not offer, is refused with CodeInvalidInput before
// calling: a length is never rounded into a longer, billed clip. With a
// CallbackToken, the callback URL is Request.WebhookURL with
// ?token=<CallbackToken> added.
func (d *Driver) Submit(ctx context.Context, req providers.Request) (string, error) {
	model := req.Model
	if model == "" {
		model = d.models[req.Workflow]
	}
	if err := d.Catalog().Check("luma submit", model, req); err != nil {
		return "", err
	}
	body := createRequest{Prompt: req.Prompt, Model: model, AspectRatio: req.AspectRatio, Resolution: req.Resolution}
	var frames keyframes
	switch req.Workflow {
	case providers.WorkflowTextToVideo:
	case providers.WorkflowImageToVideo:
		if req.SourceImageURL == "" {
			return "", providers.Errorf(providers.CodeInvalidInput, "luma submit: image_to_video needs a source image URL")
		}
		frames.Frame0 = &keyframe{Type: "image", URL: req.SourceImageURL}
	default:
		return "", providers.Errorf(providers.CodeUnimplemented, "luma submit: workflow %q is not offered", req.Workflow)
	}
	if req.EndFrameURL != "" {
		frames.Frame1 = &keyframe{Type: "image", URL: req.EndFrameURL}
	}
	if frames != (keyframes{}) {
		body.Keyframes = &frames
	}
	secs, err := sizeFor(model, req)
	if err != nil {
		return "", err
	}
	body.Duration = fmt.Sprintf("%ds", secs)
	if req.WebhookURL != "" && d.token.On() {
		if body.CallbackURL, err = d.token.URL("luma", req.WebhookURL); err != nil {
			return "", err
		}
	}
	// POST /generations/video is the create route of Luma's API (the
	// official SDKs' generations.create); /generations itself only lists.
	return d.api.Create(ctx, "/generations/video", "generation", body,
		req.Prompt, req.SourceImageURL, req.EndFrameURL, body.CallbackURL)
}

// Status returns the state of generation requestID. A generation this
// driver deleted (canceled) reports StateCanceled (see
// providers.CancelByDelete).
func (d *Driver) Status(ctx context.Context, requestID string) (providers.Status, error) {
	return d.deleted.Status(ctx, requestID)
}

// Cancel stops generation requestID by deleting it, if it has not
// finished. Luma has no cancel: DELETE /generations/{id} removes a
// generation whatever its state, outputs included, so Cancel reads it first
// and leaves a finished one alone.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	return d.deleted.Cancel(ctx, requestID)
}

// ConfirmTimeout bounds the GET with which VerifyWebhook confirms a
// callback: Luma gives up on a callback after 5 seconds.
const ConfirmTimeout = 4 * time.Second

// VerifyWebhook authenticates a Luma callback and returns the state of its
// generation as Luma reports it now. Luma signs nothing, so:
//
//  1. the request's "token" query parameter must equal Config.CallbackToken
//     (compared in constant time), else CodeUnauthenticated;
//  2. the body is read for the generation's id only (CodeInvalidInput if
//     it has none);
//  3. the generation is fetched from Luma (GET /generations/{id}, within
//     ConfirmTimeout and r's context), and that answer, never the body, is
//     the returned Status. An id Luma does not know is CodeNotFound; a
//     failed GET has the GET's (transient) code.
//
// The EventID is "<id>:<state>" with the state Luma confirmed: retries of
// one callback (Luma retries three times) and late copies of a state
// already seen deduplicate, while each new state is a new event. Keying on
// the confirmed state rather than the body's also means a forged body
// cannot mint events.
func (d *Driver) VerifyWebhook(r *http.Request, body []byte) (providers.Webhook, error) {
	if err := d.token.Verify("luma", r); err != nil {
		return providers.Webhook{}, err
	}
	var claimed struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &claimed); err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput, Message: "luma webhook: body is not a generation", Err: err}
	}
	if !idPattern.MatchString(claimed.ID) {
		return providers.Webhook{}, providers.Errorf(providers.CodeInvalidInput, "luma webhook: body has no valid generation id")
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(ConfirmTimeout, d.api.Timeout()))
	defer cancel()
	var g generation
	if err := d.deleted.Get(ctx, "webhook confirm", claimed.ID, &g); err != nil {
		return providers.Webhook{}, err
	}
	st, err := g.AsStatus(claimed.ID, d.api.Redactor())
	if err != nil {
		return providers.Webhook{}, err
	}
	return providers.Webhook{EventID: claimed.ID + ":" + g.State, Status: st}, nil
}

// idPattern is what a generation id may look like (Luma's are UUIDs); it
// keeps a forged body from steering the confirming GET elsewhere.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// parseError reads a non-2xx answer: its status classifies, refined by the
// text of its detail: a 400 or 422 whose detail reads like a moderation refusal is
// CodeContentPolicy (see failureClass). Luma's errors are
// {"detail": "..."}, or, for a body that fails validation,
// {"detail": [{"loc", "msg", "type", "input"}]}, of which only loc and msg
// are kept: "input" may quote the prompt.
func parseError(status int, _ http.Header, data []byte) providers.VendorError {
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	_ = json.Unmarshal(data, &body) // a proxy's HTML page classifies by status alone
	var detail string
	if err := json.Unmarshal(body.Detail, &detail); err != nil {
		var items []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(body.Detail, &items) == nil {
			parts := make([]string, 0, len(items))
			for _, it := range items {
				loc := make([]string, len(it.Loc))
				for i, l := range it.Loc {
					loc[i] = fmt.Sprint(l)
				}
				parts = append(parts, strings.Join(loc, ".")+": "+it.Msg)
			}
			detail = strings.Join(parts, "; ")
		}
	}
	ve := providers.VendorError{Message: detail}
	if (status == http.StatusBadRequest || status == http.StatusUnprocessableEntity) &&
		failureClass(detail) == providers.CodeContentPolicy {
		ve.Code = providers.CodeContentPolicy
	}
	return ve
}
