package providers

import "net/http"

// WithCapabilities returns w — a wrapper of inner that adds behaviour to
// Submit, Status and Cancel (metrics, limits, circuit breakers) — with the
// optional capabilities of inner: a WebhookVerifier and an Idempotent
// exactly when inner is one, each answered by inner. The result is also a
// Wrapper whose Unwrap returns inner, so that the capabilities found by
// unwrapping (PollPacer, Downloader) stay visible. Wrappers use it so that
// wrapping never hides what a driver can do.
func WithCapabilities(w, inner Driver) Driver {
	v, hooks := inner.(WebhookVerifier)
	i, idem := inner.(Idempotent)
	switch {
	case hooks && idem:
		return verifierIdempotent{w, inner, v, i}
	case hooks:
		return verifier{w, inner, v}
	case idem:
		return idempotent{w, inner, i}
	}
	return wrapped{w, inner}
}

// wrapped is a wrapper with no capabilities beyond Unwrap.
type wrapped struct {
	Driver
	inner Driver
}

func (d wrapped) Unwrap() Driver { return d.inner }

type verifier struct {
	Driver
	inner Driver
	v     WebhookVerifier
}

func (d verifier) Unwrap() Driver { return d.inner }

func (d verifier) VerifyWebhook(r *http.Request, body []byte) (Webhook, error) {
	return d.v.VerifyWebhook(r, body)
}

type idempotent struct {
	Driver
	inner Driver
	i     Idempotent
}

func (d idempotent) Unwrap() Driver { return d.inner }

func (d idempotent) HonorsIdempotencyKeys() bool { return d.i.HonorsIdempotencyKeys() }

type verifierIdempotent struct {
	Driver
	inner Driver
	v     WebhookVerifier
	i     Idempotent
}

func (d verifierIdempotent) Unwrap() Driver { return d.inner }

func (d verifierIdempotent) VerifyWebhook(r *http.Request, body []byte) (Webhook, error) {
	return d.v.VerifyWebhook(r, body)
}

func (d verifierIdempotent) HonorsIdempotencyKeys() bool { return d.i.HonorsIdempotencyKeys() }

var (
	_ Wrapper         = wrapped{}
	_ Wrapper         = verifier{}
	_ Wrapper         = idempotent{}
	_ Wrapper         = verifierIdempotent{}
	_ WebhookVerifier = verifier{}
	_ Idempotent      = idempotent{}
	_ WebhookVerifier = verifierIdempotent{}
	_ Idempotent      = verifierIdempotent{}
)
