package fal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// Defaults.
const (
	DefaultBaseURL           = "https://queue.fal.run"
	DefaultJWKSURL           = "https://rest.alpha.fal.ai/.well-known/jwks.json"
	DefaultTextToVideoModel  = "fal-ai/bytedance/seedance/v1/pro/text-to-video"
	DefaultImageToVideoModel = "fal-ai/bytedance/seedance/v1/pro/image-to-video"
	DefaultTimeout           = providers.DefaultTimeout
)

// AppQueryParam is the query parameter of the webhook URL that carries the
// app path; see the package doc.
const AppQueryParam = "fal_app"

// Config configures a Driver.
type Config struct {
	// APIKey (the fal key, "key_id:key_secret"; required), BaseURL (the
	// queue API root; "" means DefaultBaseURL), Timeout, HTTPClient and Now
	// are as in providers.Conn; Timeout bounds the JWKS fetch too, and
	// Now also times webhook timestamps and the key cache.
	providers.Conn
	// Models are the model ids per workflow; a missing workflow uses
	// DefaultTextToVideoModel or DefaultImageToVideoModel.
	Models map[providers.Workflow]string
	// WebhookSecrets is unused: fal signs webhooks with Ed25519 keys
	// published at JWKSURL. It is accepted so both adapters share a shape.
	WebhookSecrets []string
	// JWKSURL is where fal publishes its webhook keys; "" means
	// DefaultJWKSURL (PROVIDERS.md: unconfirmed between rest.alpha.fal.ai
	// and rest.fal.ai).
	JWKSURL string
	// UserID is the fal account the API key belongs to, as fal names it in
	// X-Fal-Webhook-User-Id. When set, a delivery signed for another
	// account is refused (CodeUnauthenticated): fal signs every account's
	// deliveries with the same keys, so a signature alone does not say the
	// request was ours. "" accepts any account.
	UserID string
}

// Driver is the providers.Driver of fal.ai. Apart from its configuration it
// holds only the webhook key cache; it is safe for concurrent use.
type Driver struct {
	api        *providers.API // calls name absolute URLs: fal returns some
	base       *url.URL       // no trailing slash
	models     map[providers.Workflow]string
	defaultApp string // the app of the text_to_video model
	userID     string // the account webhooks must name; "" for any
	keys       *keySet
}

var (
	_ providers.Driver          = (*Driver)(nil)
	_ providers.WebhookVerifier = (*Driver)(nil)
)

// New returns a Driver for cfg. It returns an error for a missing API key, a
// base or JWKS URL that is not absolute http(s), a negative timeout, a model
// id it cannot parse or a workflow it does not know: wiring mistakes, better
// found at start-up.
func New(cfg Config) (*Driver, error) {
	conn := cfg.Conn
	conn.BaseURL = "" // calls name absolute URLs: fal returns some
	api, err := providers.NewAPI(providers.APIConfig{
		Conn:       conn,
		Vendor:     "fal",
		Header:     func(key string) http.Header { return http.Header{"Authorization": {"Key " + key}} },
		ParseError: parseError})
	if err != nil {
		return nil, err
	}
	base, err := absURL(cmp.Or(cfg.BaseURL, DefaultBaseURL))
	if err != nil {
		return nil, fmt.Errorf("fal: base URL: %w", err)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	jwks, err := absURL(cmp.Or(cfg.JWKSURL, DefaultJWKSURL))
	if err != nil {
		return nil, fmt.Errorf("fal: JWKS URL: %w", err)
	}
	d := &Driver{
		api:  api,
		base: base,
		models: map[providers.Workflow]string{
			providers.WorkflowTextToVideo:  DefaultTextToVideoModel,
			providers.WorkflowImageToVideo: DefaultImageToVideoModel,
		},
	}
	if cfg.UserID != "" && !ValidUserID(cfg.UserID) {
		return nil, errors.New("fal: user id is not a fal account id (printable, no spaces, at most 200 characters)")
	}
	d.userID = cfg.UserID
	for wf, model := range cfg.Models {
		if _, ok := d.models[wf]; !ok {
			return nil, fmt.Errorf("fal: unknown workflow %q in Models", wf)
		}
		if _, err := appOf(model); err != nil {
			return nil, fmt.Errorf("fal: model for %s: %w", wf, err)
		}
		d.models[wf] = model
	}
	d.defaultApp, _ = appOf(d.models[providers.WorkflowTextToVideo])
	d.keys = &keySet{url: jwks.String(), client: api.Client(), timeout: api.Timeout(), now: api.Now}
	return d, nil
}

// ValidUserID reports whether id can be a fal account id as the
// X-Fal-Webhook-User-Id header carries it ("github|12345", a UUID …):
// printable ASCII without spaces, at most 200 characters.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

func absURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}

// Name returns "fal".
func (d *Driver) Name() string { return "fal" }

// HonorsIdempotencyKeys reports false: fal has no idempotency key for queue
// submissions, so a retried Submit may queue a second request.
func (d *Driver) HonorsIdempotencyKeys() bool { return false }

var (
	segmentRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	requestIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

// namespaces are the model id prefixes that put one more segment before
// the app, as fal's clients know them.
var namespaces = []string{"workflows", "comfy"}

// maxAppLen caps an app path, so that a request id (app, "/requests/" and
// a 36-character UUID) fits the engine's 255-character column.
const maxAppLen = 200

// appOf returns the app path of a model id: its owner and app, without the
// endpoint sub-path.
func appOf(model string) (string, error) {
	segs := strings.Split(model, "/")
	for _, s := range segs {
		if !segmentRE.MatchString(s) || s == ".." {
			return "", fmt.Errorf("model id %q is not owner/app[/path]", model)
		}
	}
	n := 2
	if len(segs) > 0 && (segs[0] == namespaces[0] || segs[0] == namespaces[1]) {
		n = 3
	}
	if len(segs) < n {
		return "", fmt.Errorf("model id %q is not owner/app[/path]", model)
	}
	app := strings.Join(segs[:n], "/")
	if len(app) > maxAppLen {
		return "", fmt.Errorf("app path of model id %q is over %d characters", providers.Clip(model, 60), maxAppLen)
	}
	return app, nil
}

// requestIDOf returns the driver's request id for fal request rid of app.
func requestIDOf(app, rid string) string { return app + "/requests/" + rid }

// parseRequestID splits a request id into app path and fal request id; a
// bare fal request id belongs to the default app. It returns an error for
// which ErrorCode is CodeNotFound for an id the driver cannot have issued.
func (d *Driver) parseRequestID(id string) (app, rid string, err error) {
	app, rid, found := strings.Cut(id, "/requests/")
	if !found {
		app, rid = d.defaultApp, id
	}
	if a, err := appOf(app); err != nil || a != app || !requestIDRE.MatchString(rid) {
		return "", "", providers.Errorf(providers.CodeNotFound, "fal: %q is not a fal request id", providers.Clip(id, 100))
	}
	return app, rid, nil
}

// submitResponse is fal's answer to a queue submission.
type submitResponse struct {
	RequestID   string `json:"request_id"`
	StatusURL   string `json:"status_url"`
	ResponseURL string `json:"response_url"`
	CancelURL   string `json:"cancel_url"`
}

// Submit queues a request and returns its id, "{app}/requests/{request_id}".
func (d *Driver) Submit(ctx context.Context, req providers.Request) (string, error) {
	model, ok := d.models[req.Workflow]
	if !ok {
		return "", providers.Errorf(providers.CodeUnimplemented, "fal submit: workflow %q not supported", req.Workflow)
	}
	model = cmp.Or(req.Model, model)
	if err := d.Catalog().Check("fal submit", model, req); err != nil {
		return "", err
	}
	app, err := appOf(model)
	if err != nil {
		return "", &providers.Error{Code: providers.CodeInvalidInput, Message: "fal submit: invalid model id", Err: err}
	}
	if req.Workflow == providers.WorkflowImageToVideo && req.SourceImageURL == "" {
		return "", providers.Errorf(providers.CodeInvalidInput, "fal submit: image_to_video without a source image")
	}
	u := d.endpoint(model)
	if req.WebhookURL != "" {
		hook, err := webhookURLFor(req.WebhookURL, app)
		if err != nil {
			return "", &providers.Error{Code: providers.CodeInvalidInput, Message: "fal submit: invalid webhook URL", Err: err}
		}
		u.RawQuery = url.Values{"fal_webhook": {hook}}.Encode()
	}
	var sr submitResponse
	if err := d.api.Call(ctx, "submit", http.MethodPost, u.String(), buildInput(model, req), &sr,
		req.Prompt, req.NegativePrompt, req.SourceImageURL, req.EndFrameURL, req.WebhookURL); err != nil {
		return "", err
	}
	if !requestIDRE.MatchString(sr.RequestID) {
		return "", providers.Errorf(providers.CodeUnavailable, "fal submit: answer without a valid request_id")
	}
	return requestIDOf(app, sr.RequestID), nil
}

// webhookURLFor returns hook with the app path added as AppQueryParam.
func webhookURLFor(hook, app string) (string, error) {
	u, err := absURL(hook)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set(AppQueryParam, app)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// endpoint returns base + "/" + path.
func (d *Driver) endpoint(path string) *url.URL {
	u := *d.base
	u.Path = d.base.Path + "/" + path
	u.RawPath, u.RawQuery = "", ""
	return &u
}

// sameOrigin reports whether s is a URL on the base URL's scheme and host,
// where the API key may go.
func (d *Driver) sameOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == d.base.Scheme && u.Host == d.base.Host && u.User == nil
}
