// Package stdwebhooks signs and verifies webhooks with the Standard Webhooks
// scheme (https://www.standardwebhooks.com), used by Replicate and by
// vidgate's simulated provider.
//
// A delivery carries three headers: webhook-id (the same on every retry of a
// delivery), webhook-timestamp (unix seconds) and webhook-signature, a
// space-separated list of "v1,<base64 HMAC-SHA256>" over
// "{id}.{timestamp}.{body}". The key is the base64 decoding of the secret
// after its "whsec_" prefix. Several signatures (and, on the receiving side,
// several secrets) allow a secret to be rotated without dropping deliveries.
// A receiver rejects timestamps more than five minutes away from its clock,
// in either direction, so a captured delivery cannot be replayed later.
//
// The official Go library (github.com/standard-webhooks/standard-webhooks/
// libraries) takes one secret and reads the wall clock; vidgate needs several
// secrets during rotation and an injectable clock for tests, and the scheme
// fits in this package.
package stdwebhooks
