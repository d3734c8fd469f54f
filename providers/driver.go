package providers

import (
	"context"
	"net/http"
	"time"
)

// Workflow is what a request asks the provider to do.
type Workflow string

const (
	// WorkflowTextToVideo generates a video from Request.Prompt alone.
	WorkflowTextToVideo Workflow = "text_to_video"
	// WorkflowImageToVideo animates Request.SourceImageURL, guided by
	// Request.Prompt.
	WorkflowImageToVideo Workflow = "image_to_video"
)

// Request is one generation to start.
type Request struct {
	// IdempotencyKey is stable for one job attempt. Where the vendor supports
	// keys, the driver sends it so that the same key never starts two paid
	// generations, however often Submit is retried. A new attempt after a
	// failed generation uses a new key.
	IdempotencyKey string
	Workflow       Workflow
	Prompt         string
	// SourceImageURL is, for WorkflowImageToVideo, a signed URL the provider
	// can fetch the source image from.
	SourceImageURL  string
	DurationSeconds int
	// AspectRatio is one of "16:9", "9:16", "1:1", "4:3", "3:4", "21:9".
	AspectRatio string
	// Resolution is "720p", "1080p" or "4k".
	Resolution string
	// Model is the vendor's model id; "" means the driver's default.
	Model string
	// The options below are sent only to models whose catalog entry (see
	// Cataloger) says they take them; jobs refuse them for other models
	// before anything is billed, so a driver never has to drop one.
	//
	// Seed, when set, makes the generation repeatable where the vendor
	// allows it.
	Seed *int64
	// NegativePrompt is what the video should not show: user text, handled
	// like Prompt (never logged, never in an error).
	NegativePrompt string
	// EndFrameURL is a signed URL of the image the video should end on
	// (the last keyframe).
	EndFrameURL string
	// Audio, when set, asks for a soundtrack (true) or for none (false).
	Audio *bool
	// WebhookURL is where the vendor should push status changes; "" means no
	// webhooks, and the engine polls Status.
	WebhookURL string
}

// State is a request's state at the provider.
type State string

const (
	// StateQueued: accepted, not started yet.
	StateQueued State = "queued"
	// StateProcessing: generating; Status.Progress may say how far.
	StateProcessing State = "processing"
	// StateSucceeded (terminal): Status.Outputs holds the files.
	StateSucceeded State = "succeeded"
	// StateFailed (terminal): Status.Error says why.
	StateFailed State = "failed"
	// StateCanceled (terminal): canceled by us or by the provider.
	StateCanceled State = "canceled"
)

// Terminal reports whether s is final: a request in a terminal state never
// changes again.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// Output kinds.
const (
	OutputVideo     = "video"
	OutputThumbnail = "thumbnail"
)

// Output is one file a finished request produced, still at the provider.
type Output struct {
	// URL is where to download the file from, without credentials.
	URL string
	// Kind is OutputVideo or OutputThumbnail.
	Kind string
	// ContentType is what the provider claims, e.g. "video/mp4". The engine
	// sniffs the bytes and does not trust it.
	ContentType string
	// ExpiresAt is when the provider deletes the file; zero if unknown.
	ExpiresAt time.Time
}

// Status is a request's state as the provider reports it.
type Status struct {
	RequestID string
	State     State
	// Progress is 0..100; 0 if unknown.
	Progress int
	// Outputs are set when State is StateSucceeded, and hold at least one
	// OutputVideo then, unless the provider has already deleted them (a
	// late read after Replicate's one-hour cleanup): Outputs is then empty
	// and Error says so, and the engine fails the job as artifact
	// unavailable, not as a failed generation.
	Outputs []Output
	// Error is set when State is StateFailed: a classified code, the vendor's
	// code and a message safe to log. With StateSucceeded it is set only
	// to explain outputs that are no longer available.
	Error *Error
}

// Driver is what a provider adapter implements. Implementations are safe for
// concurrent use. Every error a method returns is classified: ErrorCode gives
// its Code, and the engine retries only transient codes (Code.Transient).
type Driver interface {
	// Name is the provider's name as jobs store it ("sim", "replicate" …).
	Name() string

	// Submit starts a generation and returns the provider's id for it.
	//
	// With an IdempotencyKey the vendor honours, submitting the same key again
	// returns the same id and starts nothing. Submit returns an error for
	// which ErrorCode is CodeInvalidInput when the provider refuses the
	// parameters, CodeContentPolicy when it refuses the prompt or image at
	// submission, CodeRateLimited (with RetryAfter when known) when it asks
	// us to slow down, CodeUnavailable when it cannot be reached or answers
	// with a server error, CodeUnauthenticated when it refuses the API key,
	// and CodeUnimplemented when it does not offer req.Workflow.
	Submit(ctx context.Context, req Request) (requestID string, err error)

	// Status returns the current state of requestID. A generation that failed
	// is not an error: Status returns StateFailed with Status.Error set.
	// Status returns an error for which ErrorCode is CodeNotFound when the
	// provider does not know requestID, and the transient codes as Submit.
	Status(ctx context.Context, requestID string) (Status, error)

	// Cancel asks the provider to stop requestID. Canceling a request that
	// has already finished is not an error (and does not change its state).
	// A canceled request reports StateCanceled from Status once the provider
	// has stopped it. Cancel returns an error for which ErrorCode is
	// CodeNotFound when the provider does not know requestID, and
	// CodeUnimplemented when the provider cannot cancel.
	Cancel(ctx context.Context, requestID string) error
}

// Webhook is one verified webhook delivery.
type Webhook struct {
	// EventID is the vendor's delivery id, the same on every retry of one
	// delivery: the idempotency key of the engine's receipt.
	EventID string
	// Status is the request's state as the delivery reports it, RequestID
	// set. Deliveries may arrive late, twice or out of order.
	Status Status
}

// WebhookVerifier is an optional Driver capability, found by type assertion,
// for providers that push status changes.
type WebhookVerifier interface {
	// VerifyWebhook checks the signature and timestamp of a delivery (r's
	// headers; body is r's body, already read by the caller, which caps its
	// size) and parses it. It returns an error for which ErrorCode is
	// CodeUnauthenticated when the signature or timestamp does not verify, and
	// CodeInvalidInput when the body is not a valid payload. It does not
	// read r.Body.
	VerifyWebhook(r *http.Request, body []byte) (Webhook, error)
}

// Idempotent is an optional capability: a driver reports whether its vendor
// honours Request.IdempotencyKey, so that a submit whose outcome is unknown
// (a worker died before saving the request id) can be sent again without
// risking a second paid generation. A driver without it is assumed not to.
type Idempotent interface {
	HonorsIdempotencyKeys() bool
}

// HonorsIdempotencyKeys reports whether d's vendor deduplicates submits by
// idempotency key.
func HonorsIdempotencyKeys(d Driver) bool {
	i, ok := d.(Idempotent)
	return ok && i.HonorsIdempotencyKeys()
}

// PollPacer is an optional capability: a driver whose vendor asks for a
// minimum wait between two Status calls for one request (Runway: 5 s)
// reports it, and the engine never schedules a request's next poll sooner,
// whatever its own poll interval. A driver without it accepts any pace.
type PollPacer interface {
	MinPollInterval() time.Duration
}

// Wrapper is implemented by drivers that wrap another one (metrics,
// concurrency limits, circuit breakers). Unwrap returns the wrapped driver.
//
// Unwrapping serves the capabilities that describe the vendor rather than
// a call — PollPacer, Downloader and Cataloger — so that no wrapper can hide them by
// forgetting them. Capabilities a wrapper may hide on purpose
// (WebhookVerifier, Idempotent) are found by type assertion on the driver
// itself, never through Unwrap.
type Wrapper interface {
	Unwrap() Driver
}

// maxUnwrap bounds the walk down a chain of wrappers, in case one wraps
// itself.
const maxUnwrap = 32

// findCapability returns the first driver in d's chain of wrappers (d
// itself first) that implements T.
func findCapability[T any](d Driver) (T, bool) {
	for range maxUnwrap {
		if d == nil {
			break
		}
		if c, ok := d.(T); ok {
			return c, true
		}
		w, ok := d.(Wrapper)
		if !ok {
			break
		}
		d = w.Unwrap()
	}
	var zero T
	return zero, false
}

// MinPollInterval returns the shortest wait the vendor of d allows between
// two Status calls for one request (see PollPacer), looking through
// wrappers; 0 if it sets none.
func MinPollInterval(d Driver) time.Duration {
	p, ok := findCapability[PollPacer](d)
	if !ok {
		return 0
	}
	return max(p.MinPollInterval(), 0)
}

// Downloader is an optional capability for vendors whose output files need
// credentials to download (Veo: the API key). Status then returns
// Output.URLs without credentials — they are queued in Redis, stored and
// may be logged — and the engine downloads them through Download, which
// adds the credentials to the request only.
type Downloader interface {
	// Download GETs url, an Output.URL this driver returned, with the
	// vendor's credentials, and returns the response whatever its status
	// (the caller checks it and closes the body). Credentials go only to
	// the vendor's own host: a URL elsewhere, or a redirect to another
	// host, is fetched without them. An error never quotes a credential or
	// the URL's query; CodeInvalidInput means url cannot be requested at
	// all, any other error is worth retrying.
	Download(ctx context.Context, url string) (*http.Response, error)
}

// DownloaderOf returns the Downloader of d, looking through wrappers, and
// whether it has one.
func DownloaderOf(d Driver) (Downloader, bool) {
	return findCapability[Downloader](d)
}
