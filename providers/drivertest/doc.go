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
// signature is tampered with, keep their event id when redelivered, and
// are refused when signed too long ago or ahead (WebhookAtHarness) or for
// another account (AccountHarness); and a repeated idempotency key returns
// the same request where the vendor honours keys (IdempotencyHarness).
//
// With CancelHarness, a request is canceled while queued, while running
// and after it finished, each with the outcome the vendor documents. With
// CatalogHarness (the fake's request count), the catalog matrix runs:
// every model the driver's catalog lists, in each workflow, at each
// duration, aspect ratio, resolution and allowed pair it claims, and with
// an end frame where it claims one, must be accepted by the fake — which
// validates as the vendor does, so a refusal means the catalog or the
// driver is wrong — and a value just outside each claim (an unlisted
// duration, ratio or resolution, a request outside one of its Limits, an
// option or workflow it does not take) must be refused by the driver with
// CodeInvalidInput naming what the model makes, before any request is
// sent. The suite's plain requests fit the catalog's default model.
//
// A harness is some forty lines: see providers/sim/sim_test.go.
package drivertest
