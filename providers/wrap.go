package providers

import "net/http"

// WithCapabilities returns w — a wrapper of inner that adds behaviour to
// Submit, Status and Cancel (metrics, limits, circuit breakers) — with the
// optional capabilities of inner: a WebhookVerifier and an Idempotent
// exactly when inner is one, each answered by inner. Wrappers use it so
// that wrapping never hides what a driver can do.
func WithCapabilities(w, inner Driver) Driver {
	v, hooks := inner.(WebhookVerifier)
	i, idem := inner.(Idempotent)
	switch {
	case hooks && idem:
		return verifierIdempotent{w, v, i}
	case hooks:
		return verifier{w, v}
	case idem:
		return idempotent{w, i}
	}
	return w
}

type verifier struct {
	Driver
	v WebhookVerifier
}

func (d verifier) VerifyWebhook(r *http.Request, body []byte) (Webhook, error) {
	return d.v.VerifyWebhook(r, body)
}

type idempotent struct {
	Driver
	i Idempotent
}

func (d idempotent) HonorsIdempotencyKeys() bool { return d.i.HonorsIdempotencyKeys() }

type verifierIdempotent struct {
	Driver
	v WebhookVerifier
	i Idempotent
}

func (d verifierIdempotent) VerifyWebhook(r *http.Request, body []byte) (Webhook, error) {
	return d.v.VerifyWebhook(r, body)
}

func (d verifierIdempotent) HonorsIdempotencyKeys() bool { return d.i.HonorsIdempotencyKeys() }

var (
	_ WebhookVerifier = verifier{}
	_ Idempotent      = idempotent{}
	_ WebhookVerifier = verifierIdempotent{}
	_ Idempotent      = verifierIdempotent{}
)
