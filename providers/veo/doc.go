// Package veo is the providers.Driver and providers.WebhookVerifier of
// Google's Veo on the Gemini API (https://generativelanguage.googleapis.com).
// Veo runs as a long-running operation that the engine polls (Google
// suggests every 10 s or so; a video takes 11 s to 6 min); with a
// Config.CallbackToken the Gemini API also notifies on completion, a hint
// the driver confirms by reading the operation (see Notifications).
//
// # Calls
//
// Every call sends the API key as x-goog-api-key (never in the URL, so no
// transport error quotes it).
//
//	Submit  POST /v1beta/models/{model}:predictLongRunning
//	        {instances: [{prompt, image?: {bytesBase64Encoded, mimeType}}],
//	         parameters: {aspectRatio, durationSeconds, resolution},
//	         webhookConfig?: {uris: [<WebhookURL>?token=<CallbackToken>]}}
//	        → {name}; the request id is the operation name,
//	        "models/{model}/operations/{id}"
//	Status  GET /v1beta/{name}
//	Cancel  none: CodeUnimplemented. The Gemini API's models.operations has
//	        get and list only, so an operation runs (and is billed) to its
//	        end.
//
// The wire names are those go-genai's models.go uses for the Gemini
// Developer API (generateVideosParametersToMldev,
// generateVideosConfigToMldev, imageToMldev for the request;
// generateVideosOperationFromMldev, videoFromMldev for the operation).
//
// Veo wants the source image inline, so for image-to-video Submit
// downloads Request.SourceImageURL itself (the engine's HTTP client rules:
// Config.HTTPClient, Config.Timeout), at most MaxImageBytes, and sends it
// base64-encoded with its type (JPEG, PNG or WebP, from Content-Type or,
// failing that, the bytes). An image that cannot be had (a 4xx, too large,
// not an image) is CodeInvalidInput; an image host that fails or cannot be
// reached, CodeUnavailable. The signed URL never appears in an error.
//
// # Inputs
//
// Models: Request.Model, else Config.Models[workflow], else
// veo-3.0-generate-001 (DefaultModel, Veo 3's stable id) for both
// workflows. Veo makes 16:9 and 9:16 only, at 720p, 1080p or (Veo 3.1)
// 4k, and fixed lengths: Veo 3 (veo-3*) 4, 6 or 8 s, 8 s only at 1080p
// and 4k, and Veo 2 (veo-2.*) 5 to 8 s at 720p, with no resolution
// parameter. What a model does not make is CodeInvalidInput before
// calling (the catalog: the families in driver.go), never rounded into a
// longer clip. Veo 3.1 takes an end frame (Request.EndFrameURL, inlined as
// instances[0].lastFrame) with a first one; every model takes a negative
// prompt; none takes a seed or an audio switch on the Gemini API (Vertex
// only), so those are refused. Other model ids are sent as asked for, for
// Google to judge (a 400, CodeInvalidInput).
//
// # States and errors
//
//	not done                          StateProcessing, Progress 0 (unknown)
//	done, error code 1 (CANCELLED)    StateCanceled
//	done, error                       StateFailed, by google.rpc code:
//	                                    3, 9, 11 CodeInvalidInput; 4, 8, 10, 13, 14
//	                                    CodeUnavailable; 7, 16 CodeUnauthenticated;
//	                                    12 CodeUnimplemented; else CodeUnknown;
//	                                    VendorCode the code's name
//	done, samples                     StateSucceeded, one OutputVideo per
//	                                  generatedSamples[].video.uri, its
//	                                  ContentType the video's "encoding"
//	                                  (video/mp4 if absent)
//	done, raiMediaFilteredReasons,    StateFailed, CodeContentPolicy, the
//	no samples                        reasons (and Google's support codes) in the
//	                                  message, VendorCode "raiMediaFiltered"
//	done, nothing                     StateFailed, CodeUnknown
//
// Veo filters content in the operation, so content-policy refusals never
// come from Submit. A done operation with samples and some filtered
// reasons succeeded with what it has.
//
// HTTP errors are google.rpc.Status bodies and classify by status (400
// CodeInvalidInput, 401/403 CodeUnauthenticated, 404 CodeNotFound, 429
// CodeRateLimited, 5xx, timeouts and connection errors CodeUnavailable),
// except that an ErrorInfo reason API_KEY_* is CodeUnauthenticated: Google
// answers a bad key with 400 INVALID_ARGUMENT. RetryAfter is the
// Retry-After header or else the RetryInfo detail's retryDelay, which is
// how Google says it. VendorCode is the canonical status
// (RESOURCE_EXHAUSTED …). The API key and the prompt are taken out of any
// vendor text an error quotes.
//
// # Outputs are downloaded with the API key
//
// Google's video URI (…/v1beta/files/{id}:download?alt=media) needs the
// API key. Output.URL is that URI without any key — it is queued in Redis,
// stored and may be logged — and the engine downloads it through
// Driver.Download (providers.Downloader), which sends the key as
// x-goog-api-key, and only to the API's own host: a URI elsewhere, or a
// redirect to another host, is fetched without it. Polls are paced at
// MinPollInterval (providers.PollPacer).
// ExpiresAt is 48 hours (OutputTTL) after the Status that first saw the
// operation done: Google deletes videos after two days.
//
// # Notifications
//
// Since 2026-04 the Gemini API (Developer API mode only) takes
// webhookConfig {uris, userMetadata} on a video generation and notifies
// those URIs when the operation completes (go-genai types.go
// WebhookConfig; models.go generateVideosConfigToMldev puts it at the
// body's top level, beside instances and parameters). How those
// notifications are signed is not confirmed here, and their body's layout
// is not documented in a form vidgate could check, so:
//
//   - Submit sends webhookConfig only with both Request.WebhookURL and
//     Config.CallbackToken, its one URI the WebhookURL with the token added
//     as the query parameter "token" (no userMetadata); otherwise none, and
//     the engine polls;
//   - VerifyWebhook requires that token (constant-time compare; missing or
//     wrong: CodeUnauthenticated, and Google is not called), takes from
//     the body only the one operation name it carries, wherever it is
//     (none, several, not JSON: CodeInvalidInput), and confirms by GET
//     /v1beta/{name} within ConfirmTimeout: the Status is Google's answer,
//     never the body's. An operation Google does not know is CodeNotFound;
//   - the EventID is "<name>:<confirmed state>": retries and late copies
//     deduplicate, each new state is a new event, and a forged body cannot
//     mint events.
//
// The token is a secret in a URL: Google holds it with the operation, the
// driver takes it out of any error text, and the engine's access logs must
// not record webhook query strings.
//
// The Gemini API documents no idempotency key: HonorsIdempotencyKeys is
// false, and a Submit whose answer was lost may have started an operation
// that a retry duplicates.
package veo
