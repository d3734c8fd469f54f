// Package drivertest is the conformance suite of providers.Driver, in the
// manner of go-cloud's drivertest packages: every provider adapter runs
// RunConformanceTests from a short test file, with a Harness that drives a
// fake of its vendor's HTTP API (started on loopback with httptest; no test
// reaches a real vendor).
//
// The suite checks what the job engine relies on: Submit then Status
// reports a live request; a finished request reports a video output whose
// URL serves bytes (fetched through the driver's providers.Downloader when
// it has one, as the engine fetches it); failures, submit refusals and unknown ids carry the
// right portable codes (and RetryAfter for rate limits); Cancel stops a
// running request (reported as StateCanceled, unless the vendor documents
// no canceled state: CanceledStateHarness) and is harmless on a finished
// one; webhooks, for a driver
// that is a providers.WebhookVerifier, verify, parse to the state Status
// reports, and are rejected with CodeUnauthenticated when their body or
// signature is tampered with; and a repeated idempotency key returns the
// same request where the vendor honours keys (IdempotencyHarness).
//
// A harness is some forty lines: see providers/sim/sim_test.go.
package drivertest
