package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/vidgate/vidgate/jobs"
)

// Credential is a credential Authenticate accepted, with how long it stays
// accepted: what a long-lived connection needs to end with it.
type Credential struct {
	Actor jobs.Actor
	// Expires is when the Authenticator stops accepting the credential: a
	// JWT's exp plus the leeway. Zero for an API key, which lasts until it
	// is revoked.
	Expires time.Time
	// APIKey is an API key's lookup prefix (what `vidgate apikey list`
	// shows; not a secret), "" for a JWT.
	APIKey string
}

// AuthenticateCredential is Authenticate, returning the credential's
// lifetime as well.
func (a *Authenticator) AuthenticateCredential(ctx context.Context, token string) (Credential, error) {
	if strings.HasPrefix(token, jobs.APIKeyPrefix) {
		return a.apiKey(ctx, token)
	}
	return a.jwt(ctx, token)
}

// KeyRevocations is a KeyChecker that can also tell, in one read, which of
// many API keys are no longer valid (a *jobs.Store does).
type KeyRevocations interface {
	// RevokedAPIKeys returns those of prefixes (API keys' lookup prefixes)
	// that name no valid key: revoked, or deleted.
	RevokedAPIKeys(ctx context.Context, prefixes []string) ([]string, error)
}

// ErrNoRevocations is returned by RevokedAPIKeys when the key store cannot
// list revoked keys.
var ErrNoRevocations = errors.New("auth: the API key store cannot list revoked keys")

// RevokedAPIKeys returns those of prefixes that no longer name a valid API
// key, for closing the connections they authenticated.
func (a *Authenticator) RevokedAPIKeys(ctx context.Context, prefixes []string) ([]string, error) {
	r, ok := a.cfg.Keys.(KeyRevocations)
	if !ok {
		return nil, ErrNoRevocations
	}
	return r.RevokedAPIKeys(ctx, prefixes)
}
