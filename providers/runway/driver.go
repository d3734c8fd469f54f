package runway

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
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
	DefaultTimeout = providers.DefaultTimeout
)

// Config configures a Driver.
type Config struct {
	// APIKey (required), BaseURL ("" means DefaultBaseURL), Timeout,
	// HTTPClient and Now are as in providers.Conn; Now also times the
	// memory of canceled tasks.
	providers.Conn
	// Models maps a workflow to the model used when Request.Model is "";
	// missing entries take DefaultTextToVideoModel and
	// DefaultImageToVideoModel.
	Models map[providers.Workflow]string
}

// Driver is the providers.Driver of Runway. It is safe for concurrent use.
type Driver struct {
	api      *providers.API
	models   map[providers.Workflow]string
	canceled *providers.CancelByDelete
}

var (
	_ providers.Driver    = (*Driver)(nil)
	_ providers.PollPacer = (*Driver)(nil)
	_ providers.Cataloger = (*Driver)(nil)
)

// New returns a Driver for cfg, or an error if cfg has no API key, a
// malformed BaseURL or a negative Timeout.
func New(cfg Config) (*Driver, error) {
	api, err := providers.NewAPI(providers.APIConfig{
		Conn:   cfg.Conn,
		Vendor: "runway", DefaultBaseURL: DefaultBaseURL,
		Header: func(key string) http.Header {
			return http.Header{"Authorization": {"Bearer " + key}, "X-Runway-Version": {APIVersion}}
		},
		ParseError: parseError})
	if err != nil {
		return nil, err
	}
	d := &Driver{
		api:      api,
		canceled: providers.NewCancelByDelete[task](api, "/v1/tasks/"),
		models:   providers.ModelsFor(DefaultTextToVideoModel, DefaultImageToVideoModel, cfg.Models),
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
	Model string `json:"model"`
	// PromptImage is the first frame's URL, or with an end frame a list of
	// promptFrame (PromptImage in sdk-node's image-to-video.ts).
	PromptImage any    `json:"promptImage,omitempty"`
	PromptText  string `json:"promptText,omitempty"`
	Ratio       string `json:"ratio"`
	Duration    int    `json:"duration"`
	Seed        *int64 `json:"seed,omitempty"`
	Audio       *bool  `json:"audio,omitempty"`
}

// promptFrame is one item of promptImage's list form.
type promptFrame struct {
	URI      string `json:"uri"`
	Position string `json:"position"` // "first" or "last"
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
	if err := d.Catalog().Check("runway submit", model, req); err != nil {
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
		if req.EndFrameURL != "" {
			body.PromptImage = []promptFrame{{URI: req.SourceImageURL, Position: "first"}, {URI: req.EndFrameURL, Position: "last"}}
		}
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
	return d.api.Create(ctx, path, "task", body, req.Prompt, req.SourceImageURL, req.EndFrameURL)
}

// Status returns the state of task requestID. A task this driver canceled
// that Runway no longer returns reports StateCanceled (see
// providers.CancelByDelete).
func (d *Driver) Status(ctx context.Context, requestID string) (providers.Status, error) {
	return d.canceled.Status(ctx, requestID)
}

// Cancel aborts task requestID if it has not finished. Runway's DELETE
// both cancels a running task and deletes a finished one (outputs
// included), so Cancel reads the task first and leaves a finished one
// alone; a task that finishes between the two calls is deleted, which is
// what canceling it asked for anyway.
func (d *Driver) Cancel(ctx context.Context, requestID string) error {
	return d.canceled.Cancel(ctx, requestID)
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

// AsStatus converts a task to a providers.Status:
//
//	PENDING, THROTTLED  StateQueued
//	RUNNING             StateProcessing, Progress = progress × 100 (at most 99)
//	SUCCEEDED           StateSucceeded, one OutputVideo per output URL, with
//	                    no ExpiresAt: Runway gives none, and renews URLs
//	                    when the task is read again
//	FAILED              StateFailed, Error.Code from failureCode (failureClass)
//	CANCELLED           StateCanceled
//
// Failure text passes through r. It returns an error for which ErrorCode is CodeUnknown for a status it
// does not know.
func (t *task) AsStatus(id string, r providers.Redactor) (providers.Status, error) {
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
			msg += ": " + r.Redact(t.Failure)
		}
		st.Error = &providers.Error{Code: failureClass(t.FailureCode), Message: msg, VendorCode: t.FailureCode}
	case "CANCELLED":
		st.State = providers.StateCanceled
	default:
		return providers.Status{}, providers.Errorf(providers.CodeUnknown, "runway status: unknown task status %q", providers.Clip(t.Status, providers.QuoteLen))
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

// parseError reads Runway's error body, {"error": "..."}, which carries no
// code of its own: the status classifies (400 CodeInvalidInput, 401
// CodeUnauthenticated, 404 CodeNotFound, 429 CodeRateLimited with
// Retry-After, 5xx CodeUnavailable).
func parseError(_ int, _ http.Header, data []byte) providers.VendorError {
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(data, &body) // a proxy's HTML page classifies by status alone
	return providers.VendorError{Message: body.Error}
}
