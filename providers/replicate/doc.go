// Package replicate is the providers.Driver (and providers.WebhookVerifier)
// for Replicate's HTTP API, https://api.replicate.com/v1.
//
// # Calls
//
//	POST /models/{owner}/{name}/predictions   Submit, for a model id "owner/name"
//	POST /predictions {"version": …}           Submit, for "owner/name:<version>"
//	                                           or a bare 64-hex version id
//	GET  /predictions/{id}                     Status
//	POST /predictions/{id}/cancel              Cancel (200 for a finished
//	                                           prediction too, unchanged)
//
// Every call carries "Authorization: Bearer <APIKey>" and is bounded by
// Config.Timeout (30 s by default) on top of the caller's context. The driver
// never sends "Prefer: wait": the engine is asynchronous, and a held
// connection would only eat the timeout.
//
// # Idempotency
//
// Replicate documents no idempotency key for creating predictions, so the
// driver sends none and HonorsIdempotencyKeys reports false. A Submit whose
// outcome is unknown (a timeout, a reset connection, a 5xx after the
// request was sent) may have started a paid prediction that nobody will
// claim. The engine must treat such a retry as possibly duplicating the
// generation: the orphan still runs to completion (and is billed), and its
// webhook arrives for a request id no job holds.
//
// # Models and input mapping
//
// Config.Models picks the model per workflow; Request.Model overrides it for
// one request. The default for both workflows is
// DefaultModel, "bytedance/seedance-1-pro", which takes a text prompt and an
// optional first frame. A model's input schema is its own, so the driver
// holds a table of the models it knows (input.go, from each model's API
// page on replicate.com) and checks a request against it before sending
// anything:
//
//	model                       image field   duration        aspect_ratio     resolution
//	bytedance/seedance-1-pro,   image         2..12 s         16:9 4:3 1:1     resolution:
//	bytedance/seedance-1-lite                                 3:4 9:16 21:9    480p 720p 1080p
//	                                                          9:21
//	kwaivgi/kling-v2.1          start_image   5 or 10 s       (none: the       mode: standard
//	                            (required:                    frame follows    (720p), pro
//	                            image only)                   the image)       (1080p)
//	other kwaivgi/kling-*       start_image   5 or 10 s       text_to_video    (not sent, not
//	                                                          only, unchecked  checked)
//	google/veo-3,               image         8 s only (no    16:9 9:16        resolution:
//	google/veo-3-fast                         duration input)                  720p 1080p
//	any other model             image         passed          passed           resolution,
//	                                          unchecked       unchecked        passed unchecked
//
// A value the model does not take is refused with CodeInvalidInput naming
// what it takes ("kwaivgi/kling-v2.1 makes 5 or 10 s videos, not 6 s"):
// a duration is never rounded up into a longer, billed clip, and a 1080p
// request is never sent where it would come back at 720p. Empty or zero
// fields are omitted, so the model's defaults apply. A pinned version
// ("owner/name:<version>") takes its model's row; a bare version id the
// last. Prompt is "prompt" everywhere; the source image is sent only for
// image_to_video (which requires one).
//
// With Request.WebhookURL set, the prediction carries "webhook" and
// "webhook_events_filter": ["start", "completed"]. "output" is left out on
// purpose: a video model produces its one output at the end, so that event
// only duplicates "completed" as a non-terminal state, and "logs" fires on
// every log line.
//
// # States and outputs
//
//	starting              StateQueued
//	processing            StateProcessing (Progress from the last "NN%|" tqdm
//	                      bar in logs, if any)
//	succeeded             StateSucceeded, Progress 100
//	succeeded, with       StateSucceeded, Progress 100, no Outputs, Error
//	data_removed          CodeNotFound, vendor code "data_removed" (below)
//	failed                StateFailed, Error classified (below)
//	canceled, aborted     StateCanceled (aborted: deadline passed before start)
//
// "output" may be a URL, a list of URLs or an object of URLs (values taken in
// key order). Video extensions (.mp4, .webm, .mov, .m4v) and URLs without a
// known extension are OutputVideo; images (.jpg, .jpeg, .png, .webp, .gif)
// are OutputThumbnail. Replicate deletes the outputs of API predictions an
// hour after they finish, so ExpiresAt is completed_at + OutputTTL (or the
// latest earlier timestamp, if completed_at is missing). A prediction that
// read after Replicate's one-hour cleanup has "data_removed": true and
// "output": null. That generation did not fail: Status reports it as
// succeeded without outputs, with an Error saying the output was deleted,
// and the engine fails the job as ARTIFACT_UNAVAILABLE (jobs/worker
// apply.go: a success without a video), not as a failed generation that a
// retry could fix. A prediction that
// succeeded without any video output is reported as StateFailed with
// CodeUnknown and vendor code "no_video_output": there is nothing to copy,
// and polling again will not change that.
//
// # Errors
//
// HTTP answers map by status (providers.CodeForHTTPStatus): 400/422
// CodeInvalidInput, 401/403 CodeUnauthenticated, 404 CodeNotFound, 429
// CodeRateLimited, 5xx and transport failures CodeUnavailable. A 429's
// RetryAfter comes from Retry-After or, failing that, from the throttle
// detail ("… Expected available in 3 seconds."). A 4xx whose problem detail
// matches the content-policy words below is CodeContentPolicy.
//
// A failed prediction carries only a free-text "error". The driver
// classifies it by words, in this order, keeping any "(E…)" code Replicate
// appends as VendorCode:
//
//   - CodeContentPolicy: "nsfw", "flagged", "sensitive", "safety",
//     "content policy", "moderation", "inappropriate" (Replicate's E005 reads
//     "The input or output was flagged as sensitive …");
//   - CodeUnavailable (the vendor failed on its own side): "out of memory",
//     "cuda", "interrupted", "timed out", "timeout", "internal error",
//     "unexpected error", "please retry", "try again later";
//   - CodeInvalidInput: "invalid", "must be", "validation", "unsupported",
//     "too small", "too large", "too long", "download", "cannot identify
//     image", "not a valid";
//   - CodeUnknown otherwise (the engine treats it as permanent).
//
// Messages are the vendor's text passed through providers.Redactor: the API
// key, the webhook secrets, the prompt (and any 32 characters of it, with
// any whitespace), the source image URL and the webhook URL replaced by
// "[redacted]", on one line and at most 300 characters. In Status the
// prompt is known from the prediction's "input".
//
// # Webhooks
//
// Deliveries are signed with Standard Webhooks (providers/stdwebhooks):
// webhook-id, webhook-timestamp (5 minutes tolerance either way, on
// Config.Now) and webhook-signature. Config.WebhookSecrets holds the
// account's signing secret ("whsec_…", from GET /webhooks/default/secret),
// or several during a rotation. Without one VerifyWebhook rejects everything.
// The body is the prediction and parses exactly as Status does; EventID is
// webhook-id, which Replicate keeps across the retries of one delivery. Only
// the final delivery is retried, and duplicates happen.
package replicate
