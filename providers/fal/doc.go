// Package fal is the providers.Driver (and providers.WebhookVerifier) for
// fal.ai's queue API, https://queue.fal.run.
//
// # Calls
//
//	POST {base}/{model}?fal_webhook=<url>     Submit: {request_id, status_url,
//	                                          response_url, cancel_url}
//	GET  {base}/{app}/requests/{id}/status    Status: 202 IN_QUEUE / IN_PROGRESS,
//	                                          200 COMPLETED
//	GET  {base}/{app}/requests/{id}           the result, once COMPLETED
//	PUT  {base}/{app}/requests/{id}/cancel    Cancel
//
// Every call carries "Authorization: Key <APIKey>" and is bounded by
// Config.Timeout (30 s by default) on top of the caller's context.
//
// # Request ids and app paths
//
// A model id is "{owner}/{app}[/{sub-path}]", e.g.
// "fal-ai/bytedance/seedance/v1/pro/text-to-video"; "workflows/…" and
// "comfy/…" ids have one more leading segment. fal submits to the full id,
// but its request URLs use the app path only ("fal-ai/bytedance"): fal
// documents that the sub-path is left out of status, result and cancel URLs,
// and its clients derive them that way. The driver is stateless, so the
// request id it returns carries the app path:
//
//	fal-ai/bytedance/requests/0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69
//
// and Status and Cancel rebuild the URLs from it (base + "/" + id +
// "/status" …). App paths are capped at 200 characters so that an id fits
// the engine's 255-character column. In Status the driver fetches the result from the
// response_url the status answer returns when that URL is on the base URL's
// host (the API key is never sent elsewhere), else from the derived URL. An
// id without "/requests/" is taken for a bare fal request id of the
// text_to_video model's app.
//
// fal's webhook body names the request but not the app, so Submit adds the
// app path to the webhook URL it passes in fal_webhook, as the query
// parameter "fal_app", and VerifyWebhook reads it back from the delivery's
// URL (the job engine routes POST /webhooks/fal with its query intact). A
// delivery without it is taken for one of the text_to_video model's app.
// fal does not sign the URL, but changing the parameter only yields a
// request id no job holds.
//
// # Idempotency
//
// fal documents no idempotency key for queue submissions, so the driver
// sends none and HonorsIdempotencyKeys reports false. A Submit whose outcome
// is unknown (a timeout, a reset connection, a 5xx after the request was
// sent) may have queued a paid request that nobody will claim: the engine
// must treat such a retry as possibly duplicating the generation.
//
// # Models and input mapping
//
// The defaults are DefaultTextToVideoModel
// ("fal-ai/bytedance/seedance/v1/pro/text-to-video") and
// DefaultImageToVideoModel ("fal-ai/bytedance/seedance/v1/pro/image-to-video");
// Config.Models or Request.Model override them. fal's video models share
// field names but not their value sets:
//
//	Request          seedance / default         kling-video     veo3          veo2
//	Prompt           prompt                     prompt          prompt        prompt
//	SourceImageURL   image_url (image_to_video) image_url       image_url     image_url
//	DurationSeconds  duration "5" (string)      duration "5"    duration "8s" duration "5s"
//	AspectRatio      aspect_ratio "16:9"        aspect_ratio    aspect_ratio  aspect_ratio
//	                                            (text_to_video)
//	Resolution       resolution "720p"          (omitted)       resolution    (omitted)
//
// Empty or zero fields are omitted so the model's defaults apply; values
// pass through unchanged, and one the model does not accept comes back as a
// 422, CodeInvalidInput.
//
// # States and outputs
//
//	IN_QUEUE                       StateQueued
//	IN_PROGRESS                    StateProcessing
//	COMPLETED, result 2xx          StateSucceeded, Progress 100
//	COMPLETED, result error        StateFailed, Error classified (below)
//	anything else                  an error, CodeUnknown
//
// These are the three statuses fal's clients know (fal-js
// libs/client/src/types/common.ts, QueueStatus). Status never reports
// StateCanceled: see Cancel.
// The result's "video" ({"url", "content_type", "file_name", "file_size"},
// as fal's video models return it) becomes an OutputVideo, as does each
// entry of a "videos" list; a "thumbnail" or "image" file becomes an
// OutputThumbnail. fal documents no deletion date for its media, so
// ExpiresAt is zero. A result without a video is reported as StateFailed,
// CodeUnknown, vendor code "no_video_output".
//
// # Errors
//
// fal returns two error shapes: model errors, {"detail": [{"loc", "msg",
// "type", "url", "input"}]} (mostly 422), and request errors, {"detail":
// "…", "error_type": "…"} with the same type in X-Fal-Error-Type. The driver
// classifies either, in this order:
//
//   - CodeContentPolicy: a detail entry of type "content_policy_violation";
//     or a message that says "content policy", "content_policy", "nsfw",
//     "flagged", "safety checker", "moderation" or "sensitive content";
//   - CodeUnavailable: any error_type (request_timeout, startup_timeout,
//     runner_scheduling_failure, runner_*, internal_error …: infrastructure
//     failures, fal's own side);
//   - CodeInvalidInput: any other typed detail entry (validation errors,
//     "file_download_error", "image_too_small" …);
//   - else by HTTP status (providers.CodeForHTTPStatus), 429 with
//     RetryAfter from Retry-After.
//
// VendorCode is the detail entry's type or the error_type. Messages are
// built from "msg", "loc" and "detail" only, never from "input" (which
// echoes what was refused); the API key, and at submission the prompt, the
// source image URL and the webhook URL, are replaced by "[redacted]"; at
// most 300 characters.
//
// A result that fails to load is a failed generation only when it carries
// fal's markers (X-Fal-Error-Type, "detail" or "error_type"); a bare 5xx
// from the way there is returned as a CodeUnavailable error, and polling
// again is right. 401, 403, 404 and 429 on the result are errors of the
// call, not of the generation.
//
// # Cancel
//
// fal documents three answers to PUT …/cancel (docs: "Cancel a request",
// fal.ai/docs/inference-api/queue/cancel): 202 {"status":
// "CANCELLATION_REQUESTED"} — a queued request was removed and never runs,
// a running one had its runner signalled and may still complete — 400
// "ALREADY_COMPLETED" and 404 "NOT_FOUND". Cancel returns nil for the first
// two (any 2xx counts as the first), CodeNotFound for a 404, and classifies
// any other answer like a failed call.
//
// fal documents no status or result for a canceled request, and the driver
// invents none: Status never reports StateCanceled, and no error text
// ("cancelled", HTTP 499 …) is read as a cancellation. vidgate's engine
// decides a job's state itself when the user cancels, and records what the
// provider reports later (a result that completed anyway, an error) as a
// late event.
//
// # Webhooks
//
// fal POSTs {request_id, gateway_request_id, status: "OK"|"ERROR", payload,
// error, payload_error} once the request finishes, retried 10 times over 2
// hours. The signature is Ed25519 over
//
//	request_id \n user_id \n timestamp \n hex(sha256(body))
//
// from the headers X-Fal-Webhook-Request-Id, -User-Id, -Timestamp (unix
// seconds, at most 300 s from Config.Now either way) and -Signature (hex),
// checked against every OKP/Ed25519 key of the JWKS at Config.JWKSURL ("x"
// base64url, with or without padding). The key set is cached for up to 24
// hours; when a signature does not verify against cached keys the set is
// fetched again (fal may have added a key), at most once a minute, so a
// flood of forged deliveries cannot turn into a flood of fetches. Keys older
// than 24 hours are not used: if the JWKS cannot be fetched then, the
// delivery fails with CodeUnavailable (fal delivers again later).
//
// X-Fal-Webhook-User-Id names the fal account the request ran under, and
// the signature covers it. fal signs every account's deliveries with the
// same keys, so with Config.UserID set (VIDGATE_FAL_USER_ID) a genuinely
// signed delivery for another account is refused with CodeUnauthenticated
// (the error does not quote the other id); without it any account's
// signed delivery is accepted, and one for a request no job holds is
// merely unmatched.
//
// status OK with a payload parses as a result does; OK with a
// payload_error (the result did not fit in a webhook) reports
// StateProcessing with Progress 100, so the engine polls Status, which
// fetches it; ERROR classifies the payload (and the status code in "error",
// "Invalid status code: 422") as above.
//
// fal has no delivery id. EventID is the request id (with its app path)
// and the status, "fal-ai/bytedance/requests/…#OK": fal sends one delivery
// per request and retries it unchanged, so every retry dedupes against the
// first, while a delivery whose fal_app was altered gets another id and
// cannot shadow the genuine one.
package fal
