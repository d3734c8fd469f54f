// Package providers is the contract between vidgate's job engine and the AI
// video vendors it calls.
//
// It follows the go-cloud pattern. An adapter (one package per vendor, such as
// providers/sim) implements the small Driver interface: Submit, Status and
// Cancel. Optional capabilities are separate interfaces found by type
// assertion; today there is one, WebhookVerifier, for vendors that push
// signed status changes. A Registry maps provider names, as jobs store them,
// to drivers.
//
// Every error a driver returns carries a portable Code (see ErrorCode). The
// job engine decides from codes alone whether to retry (Code.Transient), how
// long to wait (RetryAfter), and what to tell the user, so adapters must
// classify carefully and must never put a prompt or a credential in an error
// message: messages end up in the job's event log.
//
// Every adapter runs the conformance suite in providers/drivertest from a
// short test file, against a fake of its vendor's HTTP API.
package providers
