// Package runway is the providers.Driver of Runway's API
// (https://api.dev.runwayml.com, API version 2024-11-06). Runway has no
// webhooks for generations: the engine polls Status, no faster than
// MinPollInterval for one task, as Runway asks.
//
// # Calls
//
// Every call sends "Authorization: Bearer <APIKey>" and
// "X-Runway-Version: 2024-11-06".
//
//	Submit   POST /v1/text_to_video  {model, promptText, ratio, duration}
//	         POST /v1/image_to_video {model, promptImage, promptText, ratio, duration}
//	         → {id}; the request id is Runway's task id
//	Status   GET /v1/tasks/{id}
//	Cancel   GET /v1/tasks/{id}, then DELETE /v1/tasks/{id} if the task has
//	         not finished (a DELETE of a finished task deletes it and its
//	         outputs, which canceling must not do)
//
// Request.SourceImageURL is sent as promptImage: Runway fetches it itself,
// and wants an HTTPS URL on a domain name. Runway's seed is not sent (a
// Request has none), so Runway picks one.
//
// # Inputs
//
// Models: Request.Model, else Config.Models[workflow], else gen4.5 for
// text-to-video and gen4_turbo for image-to-video (see
// DefaultTextToVideoModel). Runway's "ratio" is a pixel size, so it comes
// from the aspect ratio and the resolution together:
//
//	aspect  720p        1080p
//	16:9    1280:720    1920:1080
//	9:16    720:1280    1080:1920
//	1:1     960:960     -
//	4:3     1104:832    -
//	3:4     832:1104    -
//	21:9    1584:672    -
//
// and each model offers a subset: gen4_turbo and gen4.5 (image) the 720p
// column, gen4.5 (text) 1280:720 and 720:1280, veo3, veo3.1 and
// veo3.1_fast 16:9 and 9:16 at both resolutions (gen3a_turbo only
// 1280:768 and 768:1280, none of ours). Durations: gen4_turbo and gen4.5
// 2–10 s, veo3.1 and veo3.1_fast 4, 6 or 8 s, veo3 8 s, gen3a_turbo 5 or
// 10 s (models.go). A duration is never rounded: Runway bills by the
// second, so rounding up would bill a longer clip than asked for. For these
// models, Submit refuses a size or duration the model does not make with
// CodeInvalidInput before calling, naming what the model makes;
// for any other model it sends the table's ratio and the asked duration,
// and Runway decides.
//
// # States and errors
//
//	PENDING, THROTTLED  StateQueued
//	RUNNING             StateProcessing, Progress = progress × 100 (≤ 99)
//	SUCCEEDED           StateSucceeded: one OutputVideo per output URL,
//	                    ExpiresAt zero (Runway gives none)
//	FAILED              StateFailed, code from failureCode:
//	                      SAFETY.*, INPUT_PREPROCESSING.SAFETY.*  CodeContentPolicy
//	                      ASSET.*                                 CodeInvalidInput
//	                      INTERNAL.*, INPUT_PREPROCESSING.INTERNAL CodeUnavailable
//	                      other                                   CodeUnknown
//	                    with Error.VendorCode the failureCode itself
//	CANCELLED           StateCanceled
//
// Runway moderates inside the task, so content-policy refusals arrive as
// FAILED tasks, never from Submit. Output URLs expire 24 to 48 hours after
// they are issued, and reading the task again issues fresh ones: the
// driver states no expiry, and the engine, when a copy finds a URL dead,
// asks Status again for a fresh one.
//
// HTTP errors ({"error": "..."}, no code of their own) classify by status:
// 400 CodeInvalidInput, 401 CodeUnauthenticated, 404 CodeNotFound, 429
// CodeRateLimited (with Retry-After when sent; Runway answers 429 when the
// daily task limit is hit too), 5xx, timeouts and connection errors
// CodeUnavailable. A prompt Runway quotes back is taken out of the
// message.
//
// # Idempotency and cancellation
//
// Runway documents no idempotency key: HonorsIdempotencyKeys is false, and
// a Submit whose answer was lost (a timeout) may have started a task that
// a retry then duplicates. Runway's DELETE aborts a task, and a task it
// aborted "will not be able to be fetched again", so the driver remembers
// for a day, in memory, the tasks it canceled and reports StateCanceled
// for them rather than CodeNotFound.
package runway
