// Package sim is vidgate's simulated AI video provider: an HTTP API shaped
// like a real vendor's (Server), and the providers.Driver that calls it
// (Driver). It is the provider of the embedded default deployment, and the
// one tests and benchmarks run against: it can be told, per deployment or
// per request, to be slow, flaky, to duplicate, reorder or drop its
// webhooks, to fail, and to serve large, expiring or corrupt outputs.
//
// # API
//
// Server is an http.Handler; mount it under Config.Prefix (say "/sim") in
// another mux, or serve it on its own with http.ListenAndServe. JSON in and
// out; with Config.APIKey set, every API call needs
// "Authorization: Bearer <APIKey>" (else 401).
//
//	POST {prefix}/v1/generations
//	  {"idempotency_key","workflow","prompt","image_url","duration_seconds",
//	   "aspect_ratio","resolution","model","webhook_url","seed",
//	   "negative_prompt","end_image_url","audio"}
//	  201 the new generation; 200 the same generation again for a key
//	  already used (never a second one); 400 for invalid input.
//	GET  {prefix}/v1/generations/{id}          200 the generation, or 404
//	POST {prefix}/v1/generations/{id}/cancel   200 the generation: canceled
//	                                           unless it had finished
//	GET  {prefix}/v1/files/{id}.mp4            the output video (no API key:
//	                                           the URL is the secret); 410
//	                                           once it has expired
//
// A generation is
//
//	{"id":"gen_…","status":"queued|processing|succeeded|failed|canceled",
//	 "progress":0..100,"workflow","model","duration_seconds","aspect_ratio",
//	 "resolution",
//	 "output":{"video_url","content_type":"video/mp4","expires_at"},  (succeeded)
//	 "error":{"code","message"},                                      (failed)
//	 "created_at","updated_at"}
//
// and an error {"error":{"code","message"}}, with codes invalid_input,
// content_policy, rate_limited (429, with Retry-After), server_error,
// unauthenticated, not_found and gone.
//
// A generation is queued, then processing at 25, 50 and 75 % of its
// latency, then succeeded (or failed) when the latency has run out. Its
// output is a real, playable H.264 MP4 made for the request (clip.go,
// h264.go): duration_seconds long, its resolution's short side (720, 1080
// or 2160) at its aspect ratio (720p 16:9 is 1280x720, 9:16 720x1280), 24
// frames a second of one colour per second, about 4 KB a second at 720p.
// With a seed, the colours follow from the seed and the prompt and the seed
// is written in moov/udta: the same request and seed make the same bytes,
// another seed other bytes. Without one, every output of the same options
// is the same. The file is padded with a free box to the requested size;
// the file endpoint serves Range requests (206, 416), If-Range against its
// strong ETag, and HEAD.
//
// # Webhooks
//
// With a webhook_url, each state change (every progress step and the
// terminal state) is POSTed there as the generation JSON, signed with
// Standard Webhooks (see providers/stdwebhooks) under Config.WebhookSecret:
// headers webhook-id (new for each state, the same on every retry and
// copy of it), webhook-timestamp and webhook-signature. A generation's
// deliveries go one at a time, in order. A delivery that does not get a
// 2xx is retried (Config.WebhookAttempts, exponential backoff from
// Config.WebhookBackoff) and then given up; a 410 stops all deliveries of
// that generation.
//
// # Directives
//
// Config.Defaults sets the behaviour of every generation. A prompt
// overrides it with directive blocks anywhere in its text:
//
//	a red fox in the snow [sim latency=0s fail=content_policy]
//
// A block is "[sim" then whitespace-separated settings then "]"; several
// blocks apply in order, a later setting winning. Unknown settings and bad
// values are refused with 400 invalid_input, so a typo does not silently
// test nothing. Settings (see Behavior for the details of each):
//
//	latency=DUR               queued → terminal over DUR (Go duration: 0s, 20ms, 2s; ≤ 1h)
//	hold                      stay queued until Server.Succeed/Fail or a cancel
//	fail=CODE                 fail with content_policy | invalid_input | server_error
//	submit_error=STATUS[:N]   answer the create call with STATUS (429, 500..504)
//	                          instead, for the first N calls with this
//	                          idempotency key, or all of them without :N
//	slow_submit=DUR[:N]       start the generation, then answer the create
//	                          call only after DUR (a timeout after the work
//	                          was accepted), for the first N calls with this
//	                          idempotency key, or all of them without :N
//	retry_after=DUR           Retry-After of those 429s (default 1s)
//	duplicate=N               send every webhook delivery N times (≤ 10)
//	reorder                   hold webhooks until the terminal state, then
//	                          send it first and the progress ones after
//	drop_webhooks             send no webhooks: the client must poll
//	output_expires_after=DUR  output URL answers 410 Gone DUR after success (default 1h)
//	output_size=SIZE          pad the MP4 to SIZE bytes: 1048576, 200MB, 3MiB (≤ Config.MaxOutputSize, 64MiB by default)
//	corrupt_output            serve an HTML error page as video/mp4
//	moov_at_end               serve an MP4 whose moov box follows its mdat
//
// Flags also take =true or =false, to undo a deployment default.
//
// # For tests
//
// Server records what it did: Generations counts the distinct generations
// started and KeyCounts the calls and generations per idempotency key, so a
// fault test can assert that retries never started a second paid
// generation. Succeed, Fail, FailNextSubmit and WebhookRequest drive it
// directly; providers/drivertest uses them through the harness in
// sim_test.go. Every goroutine a Server starts (one per progressing
// generation, one per generation with webhooks) stops on Close, which waits
// for them.
package sim
