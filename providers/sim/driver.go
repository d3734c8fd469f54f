package sim

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

// Driver is the providers.Driver (and providers.WebhookVerifier) of the
// simulated provider: a client of its HTTP API, written as an adapter for a
// real vendor would be.
type Driver struct {
	base     string // ends with the Server's prefix, no trailing slash
	apiKey   string
	client   *http.Client
	verifier *stdwebhooks.Verifier
	// verifierErr is why there is no verifier; VerifyWebhook fails closed
	// with it.
	verifierErr error
}

var (
	_ providers.Driver          = (*Driver)(nil)
	_ providers.WebhookVerifier = (*Driver)(nil)
)

// maxResponseBytes caps the JSON the driver reads from an API answer.
const maxResponseBytes = 1 << 20

// NewDriver returns a Driver for the Server at baseURL (including its
// prefix, e.g. "http://127.0.0.1:8080/sim"). webhookSecret verifies webhooks;
// it may hold several space-separated secrets while one is rotated. With
// no (or a malformed) secret, VerifyWebhook rejects every delivery. A nil
// httpClient means one with a 30-second timeout; ctx deadlines apply either
// way.
func NewDriver(baseURL, apiKey, webhookSecret string, httpClient *http.Client) *Driver {
	d := &Driver{base: strings.TrimSuffix(baseURL, "/"), apiKey: apiKey, client: httpClient}
	if d.client == nil {
		d.client = providers.NewHTTPClient(30 * time.Second)
	}
	if secrets := strings.Fields(webhookSecret); len(secrets) == 0 {
		d.verifierErr = errors.New("no webhook secret configured")
	} else {
		d.verifier, d.verifierErr = stdwebhooks.NewVerifier(secrets)
	}
	return d
}

// Name returns "sim".
func (d *Driver) Name() string { return "sim" }

// Submit creates a generation. The simulator honours idempotency keys: the
// same key returns the same generation.
func (d *Driver) Submit(ctx context.Context, req providers.Request) (string, error) {
	body, err := json.Marshal(createRequest{
		IdempotencyKey:  req.IdempotencyKey,
		Workflow:        string(req.Workflow),
		Prompt:          req.Prompt,
		ImageURL:        req.SourceImageURL,
		DurationSeconds: req.DurationSeconds,
		AspectRatio:     req.AspectRatio,
		Resolution:      req.Resolution,
		Model:           req.Model,
		WebhookURL:      req.WebhookURL,
		Seed:            req.Seed,
		NegativePrompt:  req.NegativePrompt,
		EndImageURL:     req.EndFrameURL,
		Audio:           req.Audio,
	})
	if err != nil {
		return "", &providers.Error{Code: providers.CodeInvalidInput, Message: "sim submit: encode request", Err: err}
	}
	var g generationJSON
	if err := d.call(ctx, "submit", http.MethodPost, "/v1/generations", body, &g); err != nil {
		return "", err
	}
	return g.ID, nil
}

// Status returns the state of generation requestID.
func (d *Driver) Status(ctx context.Context, requestID string) (providers.Status, error) {
	var g generationJSON
	if err := d.call(ctx, "status", http.MethodGet, "/v1/generations/"+url.PathEscape(requestID), nil, &g); err != nil {
		return providers.Status{}, err
	}
	st, err := g.status()
	if err != nil {
		return providers.Status{}, &providers.Error{Code: providers.CodeUnknown, Message: "sim status: invalid generation", Err: err}
	}
	return st, nil
}

// Cancel cancels generation requestID; the simulator answers 200 for a
// finished one too, leaving it as it is.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	return d.call(ctx, "cancel", http.MethodPost, "/v1/generations/"+url.PathEscape(requestID)+"/cancel", nil, nil)
}

// VerifyWebhook verifies a delivery's Standard Webhooks signature and
// timestamp and parses the generation it carries.
func (d *Driver) VerifyWebhook(r *http.Request, body []byte) (providers.Webhook, error) {
	if d.verifier == nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeUnauthenticated,
			Message: "sim webhook: cannot verify", Err: d.verifierErr}
	}
	id, err := d.verifier.Verify(r.Header, body)
	if err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeUnauthenticated,
			Message: "sim webhook: signature does not verify", Err: err}
	}
	var g generationJSON
	if err := json.Unmarshal(body, &g); err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput,
			Message: "sim webhook: body is not a generation", Err: err}
	}
	st, err := g.status()
	if err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput,
			Message: "sim webhook: invalid generation", Err: err}
	}
	return providers.Webhook{EventID: id, Status: st}, nil
}

// status converts the wire form to a providers.Status. It returns an error
// for a generation without an id, with a status it does not know, or
// succeeded without an output.
func (g *generationJSON) status() (providers.Status, error) {
	st := providers.Status{RequestID: g.ID, Progress: min(max(g.Progress, 0), 100)}
	switch g.Status {
	case statusQueued:
		st.State = providers.StateQueued
	case statusProcessing:
		st.State = providers.StateProcessing
	case statusSucceeded:
		st.State = providers.StateSucceeded
	case statusFailed:
		st.State = providers.StateFailed
	case statusCanceled:
		st.State = providers.StateCanceled
	default:
		return providers.Status{}, fmt.Errorf("unknown status %q", g.Status)
	}
	if g.ID == "" {
		return providers.Status{}, errors.New("no id")
	}
	if st.State == providers.StateSucceeded {
		if g.Output == nil || g.Output.VideoURL == "" {
			return providers.Status{}, errors.New("succeeded without an output")
		}
		st.Outputs = []providers.Output{{
			URL:         g.Output.VideoURL,
			Kind:        providers.OutputVideo,
			ContentType: g.Output.ContentType,
			ExpiresAt:   g.Output.ExpiresAt,
		}}
	}
	if st.State == providers.StateFailed {
		e := &providers.Error{Code: providers.CodeUnknown, Message: "generation failed"}
		if g.Error != nil {
			e.Code, e.VendorCode = failureCode(g.Error.Code), g.Error.Code
			if g.Error.Message != "" {
				e.Message = g.Error.Message
			}
		}
		st.Error = e
	}
	return st, nil
}

// failureCode classifies the code of a failed generation.
func failureCode(vendor string) providers.Code {
	switch vendor {
	case CodeContentPolicy:
		return providers.CodeContentPolicy
	case CodeInvalidInput:
		return providers.CodeInvalidInput
	case CodeServerError:
		return providers.CodeUnavailable
	default:
		return providers.CodeUnknown
	}
}

// call makes one API call and decodes a 2xx JSON answer into out (if not
// nil). Every error it returns is a *providers.Error.
func (d *Driver) call(ctx context.Context, op, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return &providers.Error{Code: providers.CodeInvalidInput, Message: "sim " + op + ": build request", Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if d.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+d.apiKey)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		// Connection refused, reset, timeout, a canceled ctx: nothing is
		// known about the vendor's side, and trying again is right.
		return &providers.Error{Code: providers.CodeUnavailable, Message: "sim " + op + ": request failed", Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &providers.Error{Code: providers.CodeUnavailable, Message: "sim " + op + ": read response", Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(op, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &providers.Error{Code: providers.CodeUnavailable, Message: "sim " + op + ": malformed response", Err: err}
	}
	return nil
}

// apiError classifies a non-2xx answer: by the vendor's code where it is
// more precise than the status (a 400 for content policy), else by status.
func apiError(op string, resp *http.Response, data []byte) *providers.Error {
	var body struct {
		Error errorJSON `json:"error"`
	}
	_ = json.Unmarshal(data, &body) // a proxy's HTML page classifies by status
	code := providers.CodeForHTTPStatus(resp.StatusCode)
	switch body.Error.Code {
	case CodeContentPolicy:
		code = providers.CodeContentPolicy
	case CodeInvalidInput:
		code = providers.CodeInvalidInput
	}
	msg := body.Error.Message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &providers.Error{
		Code:       code,
		Message:    fmt.Sprintf("sim %s: HTTP %d: %s", op, resp.StatusCode, msg),
		VendorCode: body.Error.Code,
		RetryAfter: providers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
}

// HonorsIdempotencyKeys reports true: the simulator returns the same
// generation for a repeated idempotency key.
func (d *Driver) HonorsIdempotencyKeys() bool { return true }

var _ providers.Idempotent = (*Driver)(nil)
