// Package luma is the providers.Driver and providers.WebhookVerifier of
// Luma's Dream Machine API (https://api.lumalabs.ai/dream-machine/v1).
//
// # Calls
//
// Every call sends "Authorization: Bearer <APIKey>".
//
//	Submit   POST /generations/video {prompt, model, aspect_ratio, duration: "<n>s",
//	         resolution, keyframes.frame0 {type: "image", url} (image-to-video),
//	         callback_url} → the generation; the request id is its id
//	Status   GET /generations/{id}
//	Cancel   GET /generations/{id}, then DELETE /generations/{id} if it has
//	         not finished
//
// Luma has no cancel: DELETE removes a generation, finished or not, video
// included. Cancel therefore deletes only unfinished generations, and the
// driver remembers for a day, in memory, the ones it deleted, reporting
// StateCanceled for them where Luma answers 404.
//
// # Inputs
//
// Models: Request.Model, else Config.Models[workflow], else ray-2
// (DefaultModel) for both workflows. Aspect ratios and resolutions pass
// through unchanged (Luma offers all of ours, and 9:21, at 540p, 720p,
// 1080p or 4k); anything Luma does not offer is refused with
// CodeInvalidInput before calling. Durations are sent as "<n>s"; ray-2 and
// ray-flash-2 make 5 s and 9 s videos, and any other length is refused,
// never rounded into a longer, billed clip (the catalog, models.go).
// Request.SourceImageURL becomes keyframe frame0 and Request.EndFrameURL
// frame1, which Luma fetches itself. Request.Model's other models pass
// through for Luma to judge.
//
// # States and errors
//
//	queued     StateQueued
//	dreaming   StateProcessing (Progress 0: Luma reports none)
//	completed  StateSucceeded: assets.video an OutputVideo, assets.image
//	           an OutputThumbnail; ExpiresAt zero (Luma documents no expiry)
//	failed     StateFailed, code from failure_reason
//
// failure_reason is free text, so its code is a heuristic (failureClass),
// first match wins: "failed to moderate" is CodeInvalidInput (Luma could
// not fetch or read the input to moderate it: seen for image URLs it could
// not load); "moderat", "safety", "policy", "nsfw", "not allowed",
// "inappropriate" are CodeContentPolicy; a leading "400", "invalid",
// "unsupported", "could not fetch", "failed to fetch", "failed to
// download" are CodeInvalidInput; a leading 5xx, "internal", "timeout",
// "timed out" are CodeUnavailable; anything else is CodeUnknown, which the
// engine does not retry, so no paid generation is repeated on a guess.
// The same heuristic turns a 400 or 422 whose detail reads like a
// moderation refusal into CodeContentPolicy at Submit.
//
// HTTP errors ({"detail": "..."} or a list of {loc, msg, input}) classify
// by status: 400 and 422 CodeInvalidInput, 401 and 403
// CodeUnauthenticated, 404 CodeNotFound, 429 CodeRateLimited (with
// Retry-After when sent), 5xx, timeouts and connection errors
// CodeUnavailable. Of a validation list only loc and msg are kept ("input"
// may quote the prompt), and a prompt quoted back is taken out.
//
// # Callbacks
//
// Luma POSTs the generation to callback_url when it is dreaming, completed
// or failed, retrying three times (100 ms apart, 5 s timeout) until it
// gets a 200. The callbacks are not signed, so:
//
//   - Submit adds the secret Config.CallbackToken to Request.WebhookURL as
//     the query parameter "token" (without a CallbackToken, no callback_url
//     is sent at all and the engine polls);
//   - VerifyWebhook requires that token (constant-time compare; missing or
//     wrong: CodeUnauthenticated), reads only the generation id from the
//     body, and confirms by GET /generations/{id} within ConfirmTimeout:
//     the returned Status is Luma's answer, never the body's state or
//     assets. A generation Luma does not know is CodeNotFound;
//   - the EventID is "<id>:<confirmed state>": Luma's retries of a callback,
//     and a late callback for a state already confirmed, deduplicate; each
//     new state is a new event; and a forged body cannot mint events.
//
// The token is a secret in a URL: Luma stores it in the generation's
// request.callback_url (visible to holders of the API key), and the
// engine's access logs must not record webhook query strings.
//
// Luma documents no idempotency key: HonorsIdempotencyKeys is false, and a
// Submit whose answer was lost may have started a generation that a retry
// duplicates.
package luma
