package veo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

const (
	// DefaultBaseURL is the Gemini API's host.
	DefaultBaseURL = "https://generativelanguage.googleapis.com"
	// DefaultModel is the model used when neither Request.Model nor
	// Config.Models names one: Veo 3's stable (GA) id, which does text- and
	// image-to-video. Newer ids (veo-3.1-generate-preview and the like)
	// can be set in Config.Models.
	DefaultModel = "veo-3.0-generate-001"
	// DefaultTimeout bounds each HTTP call when Config.Timeout is 0.
	DefaultTimeout = providers.DefaultTimeout
	// MaxImageBytes caps the source image Submit downloads and inlines.
	// Base64 makes the request about a third larger; Google refuses an
	// oversized request with a 400 (CodeInvalidInput).
	MaxImageBytes = 20 << 20
	// OutputTTL is how long a generated video is kept: Google deletes them
	// after two days. ExpiresAt counts it from the first Status that saw
	// the operation done, so it is late by at most the polling delay.
	OutputTTL = 48 * time.Hour
	// MinPollInterval is the wait between two Status calls for one
	// operation that Google's guide uses ("poll every ~10 s"; a generation
	// takes 11 s to 6 min). The driver reports it through
	// Driver.MinPollInterval (providers.PollPacer); the engine, which
	// schedules polls, honours it.
	MinPollInterval = 10 * time.Second
)

// Config configures a Driver.
type Config struct {
	// APIKey (required), BaseURL ("" means DefaultBaseURL), Timeout,
	// HTTPClient and Now are as in providers.Conn. The key
	// authenticates every call and output download (x-goog-api-key) and is
	// never put in a URL; Timeout bounds the source image download too, and
	// HTTPClient makes it; Now also dates output expiry.
	providers.Conn
	// Models maps a workflow to the model used when Request.Model is "";
	// missing entries take DefaultModel.
	Models map[providers.Workflow]string
	// CallbackToken is the secret that authenticates the Gemini API's
	// completion notifications, whose signature scheme vidgate has not
	// confirmed: Submit adds it to Request.WebhookURL as the query
	// parameter "token" and VerifyWebhook requires it back. At least
	// MinCallbackTokenLen characters; "" turns notifications off (Submit
	// sends no webhookConfig and VerifyWebhook refuses everything), and the
	// engine polls.
	CallbackToken string
}

// Driver is the providers.Driver of Veo on the Gemini API. It is safe for
// concurrent use.
type Driver struct {
	models map[providers.Workflow]string
	api    *providers.API
	base   *url.URL
	apiKey string
	token  providers.CallbackToken
	// downloads is the API's client for Download: see downloadClient.
	downloads *http.Client
	maxImage  int64
}

var (
	_ providers.Cataloger  = (*Driver)(nil)
	_ providers.Driver     = (*Driver)(nil)
	_ providers.PollPacer  = (*Driver)(nil)
	_ providers.Downloader = (*Driver)(nil)

	_ providers.WebhookVerifier = (*Driver)(nil)
)

// New returns a Driver for cfg, or an error if cfg has no API key, a
// malformed BaseURL, a negative Timeout or a short CallbackToken.
func New(cfg Config) (*Driver, error) {
	api, token, err := providers.NewCallbackAPI(providers.APIConfig{
		Conn: cfg.Conn, Vendor: "veo", DefaultBaseURL: DefaultBaseURL,
		// The key goes in a header, never the URL, so that no *url.Error
		// (which quotes the URL) can carry it.
		Header:     func(key string) http.Header { return http.Header{"X-Goog-Api-Key": {key}} },
		ParseError: parseError,
	}, cfg.CallbackToken)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		api:      api,
		base:     api.Base(),
		apiKey:   cfg.APIKey,
		token:    token,
		maxImage: MaxImageBytes,
		models:   providers.ModelsFor(DefaultModel, DefaultModel, cfg.Models),
	}
	d.downloads = d.downloadClient(api.Client())
	return d, nil
}

// Name returns "veo".
func (d *Driver) Name() string { return "veo" }

// MinPollInterval reports the package's MinPollInterval: the engine never
// polls one operation sooner than that after the last poll.
func (d *Driver) MinPollInterval() time.Duration { return MinPollInterval }

// HonorsIdempotencyKeys reports false: the Gemini API documents no
// idempotency key, so a Submit retried after a lost answer may start a
// second operation.
func (d *Driver) HonorsIdempotencyKeys() bool { return false }

// predictRequest is predictLongRunning's body, laid out as go-genai's
// models.go builds it for the Gemini Developer API
// (generateVideosParametersToMldev, generateVideosConfigToMldev).
type predictRequest struct {
	Instances  []instance  `json:"instances"`
	Parameters withOptions `json:"parameters"`
	// WebhookConfig sits beside instances and parameters, not inside
	// parameters: generateVideosConfigToMldev sets it at the body's top
	// level ("webhookConfig"), and only in Developer API mode
	// (generateVideosConfigToVertex refuses it).
	WebhookConfig *webhookConfig `json:"webhookConfig,omitempty"`
}

// webhookConfig is go-genai's WebhookConfig (types.go): the URIs notified
// when the operation completes, used instead of the project's registered
// webhooks. Its userMetadata is not sent: the notification is only a hint,
// and the operation's name is what VerifyWebhook confirms.
type webhookConfig struct {
	URIs []string `json:"uris"`
}

type instance struct {
	Prompt string       `json:"prompt,omitempty"`
	Image  *inlineImage `json:"image,omitempty"`
	// LastFrame is the end frame (go-genai videoGenerationConfig's
	// lastFrame, sent as instances[0].lastFrame by
	// generateVideosConfigToMldev).
	LastFrame *inlineImage `json:"lastFrame,omitempty"`
}

type inlineImage struct {
	BytesBase64Encoded string `json:"bytesBase64Encoded"`
	MimeType           string `json:"mimeType"`
}

type parameters struct {
	AspectRatio     string `json:"aspectRatio"`
	DurationSeconds int    `json:"durationSeconds"`
	Resolution      string `json:"resolution,omitempty"`
}

// withOptions is parameters with the request's options, flattened into
// one JSON object.
type withOptions struct {
	parameters
	NegativePrompt string `json:"negativePrompt,omitempty"`
}

var (
	// modelPattern is what a model id may look like: it goes in the path.
	modelPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]{0,63}$`)
	// opPattern is an operation name, the driver's request id.
	opPattern = regexp.MustCompile(`^models/[a-z0-9][a-z0-9.\-]{0,63}/operations/[A-Za-z0-9_\-]{1,128}$`)
	// imageTypes are the source image types inlined.
	imageTypes = []string{"image/jpeg", "image/png", "image/webp"}
)

// Submit starts an operation. With Request.WebhookURL and a
// Config.CallbackToken, it asks for a completion notification
// (webhookConfig) at Request.WebhookURL with ?token=<CallbackToken> added.
// Veo makes 16:9 and 9:16 only, and fixed lengths (Veo 3: 4, 6 or 8 s,
// 8 s only at 1080p and 4k; Veo 2: 5 to 8 s): what the catalog says a
// model does not make is refused with CodeInvalidInput before calling,
// never rounded into a longer clip. For image-to-video, Submit downloads
// Request.SourceImageURL (at most MaxImageBytes, JPEG, PNG or WebP) and
// inlines it, and Request.EndFrameURL likewise as the last frame.
func (d *Driver) Submit(ctx context.Context, req providers.Request) (string, error) {
	model := req.Model
	if model == "" {
		model = d.models[req.Workflow]
	}
	if !modelPattern.MatchString(model) {
		return "", providers.Errorf(providers.CodeInvalidInput, "veo submit: malformed model id %q", providers.Clip(model, providers.QuoteLen))
	}
	inst := instance{Prompt: req.Prompt}
	switch req.Workflow {
	case providers.WorkflowTextToVideo:
		if req.Prompt == "" {
			return "", providers.Errorf(providers.CodeInvalidInput, "veo submit: text_to_video needs a prompt")
		}
	case providers.WorkflowImageToVideo:
		if req.SourceImageURL == "" {
			return "", providers.Errorf(providers.CodeInvalidInput, "veo submit: image_to_video needs a source image URL")
		}
	default:
		return "", providers.Errorf(providers.CodeUnimplemented, "veo submit: workflow %q is not offered", req.Workflow)
	}
	// What the model does not make or take is refused, not rounded or
	// dropped.
	if err := d.Catalog().Check("veo submit", model, req); err != nil {
		return "", err
	}
	params, err := parametersFor(model, req)
	if err != nil {
		return "", err
	}
	if req.Workflow == providers.WorkflowImageToVideo {
		if inst.Image, err = d.inline(ctx, req.SourceImageURL); err != nil {
			return "", err
		}
	}
	if req.EndFrameURL != "" {
		if inst.LastFrame, err = d.inline(ctx, req.EndFrameURL); err != nil {
			return "", err
		}
	}
	var op operation
	path := "/v1beta/models/" + url.PathEscape(model) + ":predictLongRunning"
	body := predictRequest{Instances: []instance{inst}, Parameters: withOptions{params, req.NegativePrompt}}
	if req.WebhookURL != "" && d.token.On() {
		hook, err := d.token.URL("veo", req.WebhookURL)
		if err != nil {
			return "", err
		}
		body.WebhookConfig = &webhookConfig{URIs: []string{hook}}
	}
	if err := d.api.Call(ctx, "submit", http.MethodPost, path, body, &op,
		req.Prompt, req.NegativePrompt, req.SourceImageURL, req.EndFrameURL, req.WebhookURL); err != nil {
		return "", err
	}
	if !opPattern.MatchString(op.Name) {
		// The operation may exist: not transient, so the engine does not
		// start (and pay for) another one on a guess.
		return "", providers.Errorf(providers.CodeUnknown, "veo submit: answer without a valid operation name")
	}
	return op.Name, nil
}

// family is what the models whose id starts with prefix make and take,
// from the Gemini API's video guide (ai.google.dev/gemini-api/docs/video,
// "Veo model parameters") and go-genai's generateVideosConfigToMldev:
// every family takes a negative prompt (parameters.negativePrompt); the
// Gemini API refuses a seed and generateAudio (Vertex only: Veo 3 makes
// its soundtrack unasked), so no family takes them; Veo 3.1 takes a last
// frame (instances[0].lastFrame), with a first one.
type family struct {
	prefix      string
	lengths     []int
	resolutions []string
	limits      []providers.Limit
	endFrame    bool
}

// eightSeconds limits res to 8-second clips: "1080p (8s duration
// only)", "4k (8s duration only)".
func eightSeconds(res string) providers.Limit {
	return providers.Limit{Resolution: res, Durations: []int{8}}
}

var families = []family{
	// Veo 2 makes 720p only and takes no resolution parameter.
	{prefix: "veo-2.", lengths: []int{5, 6, 7, 8}, resolutions: []string{"720p"}},
	{prefix: "veo-3.1-lite", lengths: []int{4, 6, 8}, resolutions: []string{"720p", "1080p"},
		limits: []providers.Limit{eightSeconds("1080p"), withFirstFrame}, endFrame: true},
	{prefix: "veo-3.1", lengths: []int{4, 6, 8}, resolutions: []string{"720p", "1080p", "4k"},
		limits: []providers.Limit{eightSeconds("1080p"), eightSeconds("4k"), withFirstFrame}, endFrame: true},
	{prefix: "veo-3", lengths: []int{4, 6, 8}, resolutions: []string{"720p", "1080p"},
		limits: []providers.Limit{eightSeconds("1080p")}},
}

// withFirstFrame: a last frame goes with a first one (image_to_video).
var withFirstFrame = providers.Limit{EndFrame: true, Workflows: []providers.Workflow{providers.WorkflowImageToVideo}}

// knownModels are the model ids the catalog lists (besides the
// configured defaults): the Gemini API's Veo ids.
var knownModels = []string{
	"veo-2.0-generate-001",
	"veo-3.0-fast-generate-001", "veo-3.0-generate-001",
	"veo-3.1-fast-generate-preview", "veo-3.1-generate-preview",
}

func familyOf(model string) (family, bool) {
	i := slices.IndexFunc(families, func(f family) bool { return strings.HasPrefix(model, f.prefix) })
	if i < 0 {
		return family{}, false
	}
	return families[i], true
}

// modelFor is model as a catalog entry: what its family makes and takes.
func modelFor(model string, f family) providers.Model {
	return providers.Model{
		ID: model, Name: model, Workflows: []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo},
		Durations: f.lengths, AspectRatios: aspectRatios, Resolutions: f.resolutions,
		NegativePrompt: true, EndFrame: f.endFrame, Limits: f.limits,
	}
}

// Catalog lists knownModels and the driver's default models of a known
// family; others are unlisted (and take no option).
func (d *Driver) Catalog() providers.Catalog {
	c := providers.Catalog{Defaults: maps.Clone(d.models)}
	ids := slices.Compact(slices.Sorted(slices.Values(append(slices.Collect(maps.Values(d.models)), knownModels...))))
	for _, id := range ids {
		if f, ok := familyOf(id); ok {
			c.Models = append(c.Models, modelFor(id, f))
		}
	}
	return c
}

// Veo's values, for models of no known family.
var (
	aspectRatios = []string{"16:9", "9:16"}
	resolutions  = []string{"720p", "1080p", "4k"}
)

// parametersFor maps a request's shape to Veo's parameters. Catalog.Check
// has refused what a known model does not make; for another model, an
// aspect ratio or resolution Veo does not make is refused here, and Veo
// judges the rest.
func parametersFor(model string, req providers.Request) (parameters, error) {
	p := parameters{AspectRatio: req.AspectRatio, Resolution: req.Resolution, DurationSeconds: req.DurationSeconds}
	if !slices.Contains(aspectRatios, p.AspectRatio) {
		return p, providers.Errorf(providers.CodeInvalidInput, "veo submit: Veo makes 16:9 or 9:16 video, not %q", providers.Clip(req.AspectRatio, 16))
	}
	if !slices.Contains(resolutions, p.Resolution) {
		return p, providers.Errorf(providers.CodeInvalidInput, "veo submit: Veo makes 720p, 1080p or 4k video, not %q", providers.Clip(req.Resolution, 16))
	}
	if req.DurationSeconds <= 0 {
		return p, providers.Errorf(providers.CodeInvalidInput, "veo submit: duration must be positive, got %d", req.DurationSeconds)
	}
	if f, known := familyOf(model); known && len(f.resolutions) == 1 {
		p.Resolution = "" // Veo 2 takes no resolution parameter
	}
	return p, nil
}

// inline downloads an image for the request body.
func (d *Driver) inline(ctx context.Context, rawURL string) (*inlineImage, error) {
	data, mimeType, err := d.fetchImage(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return &inlineImage{BytesBase64Encoded: base64.StdEncoding.EncodeToString(data), MimeType: mimeType}, nil
}

// fetchImage downloads the source image. The URL is signed, so no error
// carries it. An image that cannot be had (4xx, too large, not an image) is
// CodeInvalidInput; a server that fails or cannot be reached,
// CodeUnavailable.
func (d *Driver) fetchImage(ctx context.Context, rawURL string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.api.Timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", providers.Errorf(providers.CodeInvalidInput, "veo submit: source image URL is not valid")
	}
	resp, err := d.api.Client().Do(req)
	if err != nil {
		return nil, "", &providers.Error{Code: providers.CodeUnavailable, Message: "veo submit: source image download failed", Err: providers.WithoutURL(err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, "", providers.Errorf(providers.CodeUnavailable, "veo submit: source image download: HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, "", providers.Errorf(providers.CodeInvalidInput, "veo submit: source image unreadable: HTTP %d", resp.StatusCode)
	case resp.ContentLength > d.maxImage:
		return nil, "", providers.Errorf(providers.CodeInvalidInput, "veo submit: source image is %d bytes, over the %d-byte limit", resp.ContentLength, d.maxImage)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, d.maxImage+1))
	if err != nil {
		return nil, "", &providers.Error{Code: providers.CodeUnavailable, Message: "veo submit: source image download failed", Err: providers.WithoutURL(err)}
	}
	if int64(len(data)) > d.maxImage {
		return nil, "", providers.Errorf(providers.CodeInvalidInput, "veo submit: source image is over the %d-byte limit", d.maxImage)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !slices.Contains(imageTypes, mt) {
		// A store that says application/octet-stream: look at the bytes.
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(data))
	}
	if !slices.Contains(imageTypes, mt) {
		return nil, "", providers.Errorf(providers.CodeInvalidInput, "veo submit: source image is %s, want JPEG, PNG or WebP", mt)
	}
	return data, mt, nil
}

// Status returns the state of operation requestID. A name that is not an
// operation name is CodeNotFound without a call.
//
// The video's Output.URL carries no credential, though Google's download
// URL needs the API key: the engine downloads it through Download
// (providers.Downloader), which sends the key in a header.
func (d *Driver) Status(ctx context.Context, requestID string) (providers.Status, error) {
	if !opPattern.MatchString(requestID) {
		return providers.Status{}, providers.Errorf(providers.CodeNotFound, "veo status: %q is not an operation name", providers.Clip(requestID, providers.QuoteLen))
	}
	var op operation
	if err := d.api.Call(ctx, "status", http.MethodGet, "/v1beta/"+escapePath(requestID), nil, &op); err != nil {
		return providers.Status{}, err
	}
	return d.status(requestID, &op), nil
}

// Download GETs a video's Output.URL with the API key in the
// x-goog-api-key header, which Google's file downloads take as the API
// calls do. The key goes only to the API's own host (scheme and host of
// BaseURL): a URL elsewhere is fetched without it, and a redirect to
// another host (Google serves files from its storage hosts) drops it, as
// net/http would not do by itself for a header of this name. The answer's
// headers must arrive within Config.Timeout; the body may take as long as
// ctx allows. The response is returned whatever its status. Errors quote neither the key nor the
// URL's query.
func (d *Driver) Download(ctx context.Context, rawURL string) (*http.Response, error) {
	// The answer's headers must come within Timeout; the body then takes
	// as long as ctx allows (a video may be large).
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		cancel()
		return nil, providers.Errorf(providers.CodeInvalidInput, "veo download: the output URL is not an http(s) URL")
	}
	if d.onAPIHost(req.URL) {
		req.Header.Set("x-goog-api-key", d.apiKey)
	}
	slow := time.AfterFunc(d.api.Timeout(), cancel)
	resp, err := d.downloads.Do(req)
	if err != nil || !slow.Stop() {
		cancel()
		if err == nil {
			resp.Body.Close()
			err = context.DeadlineExceeded
		}
		return nil, &providers.Error{Code: providers.CodeUnavailable, Message: "veo download: request failed",
			Err: providers.RedactURLError(err, rawURL)}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose is a response body that releases its request's context
// when closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// onAPIHost reports whether u is on the API's scheme and host: the only
// place the key may go.
func (d *Driver) onAPIHost(u *url.URL) bool {
	return u.Scheme == d.base.Scheme && u.Host == d.base.Host
}

// downloadClient is client, but following at most 10 redirects and taking
// the API key off every redirect that leaves the API's host.
func (d *Driver) downloadClient(client *http.Client) *http.Client {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !d.onAPIHost(req.URL) {
			req.Header.Del("x-goog-api-key")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// Cancel returns an error for which ErrorCode is CodeUnimplemented: the
// Gemini API has no cancel for these operations (its models.operations
// offers get and list only), so an operation runs to its end, and is
// billed, whatever the engine decides.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	return providers.Errorf(providers.CodeUnimplemented, "veo cancel: the Gemini API cannot cancel a video operation")
}

// escapePath escapes each segment of an operation name.
func escapePath(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// parseError reads a Google API error,
// {"error": {code, message, status, details[]}}: by HTTP status, except
// that an ErrorInfo reason API_KEY_* (Google answers a bad key with 400
// INVALID_ARGUMENT) is CodeUnauthenticated. RetryAfter is the Retry-After
// header or, as Google sends it, a RetryInfo detail's retryDelay.
// VendorCode is the canonical status (RESOURCE_EXHAUSTED …).
func parseError(_ int, _ http.Header, data []byte) providers.VendorError {
	var body struct {
		Error struct {
			Message string            `json:"message"`
			Status  string            `json:"status"`
			Details []json.RawMessage `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &body) // a proxy's HTML page classifies by status alone
	ve := providers.VendorError{Message: body.Error.Message, VendorCode: body.Error.Status}
	for _, raw := range body.Error.Details {
		var det struct {
			Type       string `json:"@type"`
			Reason     string `json:"reason"`
			RetryDelay string `json:"retryDelay"`
		}
		if json.Unmarshal(raw, &det) != nil {
			continue
		}
		switch {
		case strings.HasSuffix(det.Type, "google.rpc.ErrorInfo") && strings.HasPrefix(det.Reason, "API_KEY_"):
			ve.Code = providers.CodeUnauthenticated
		case strings.HasSuffix(det.Type, "google.rpc.RetryInfo"):
			if dur, err := time.ParseDuration(det.RetryDelay); err == nil && dur > 0 {
				ve.RetryAfter = dur
			}
		}
	}
	return ve
}
