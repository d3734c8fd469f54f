package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
)

// keyWatch closes the long-lived connections (WebSockets, SSE streams) an
// API key authenticated once the key is revoked. Every period it asks the
// store, in one read, which of the keys in use are no longer valid —
// however many connections each key holds — on a runtime timer that runs
// only while some connection is watched: no goroutine of its own.
//
// JWTs need no store: a connection ends when its token expires
// (gqlws.CloseAt for WebSockets, untilCredentialEnds for SSE streams).
// vidgate has no user store, so there is no user to disable: a user is a
// subject its identity provider vouches for, until the token expires.
type keyWatch struct {
	check  func(ctx context.Context, prefixes []string) ([]string, error)
	period time.Duration
	log    *slog.Logger

	mu    sync.Mutex
	byKey map[string]map[*func()]struct{} // key prefix → what closes each connection
	timer *time.Timer                     // nil while nothing is watched
}

func newKeyWatch(authn *auth.Authenticator, period time.Duration, log *slog.Logger) *keyWatch {
	return &keyWatch{check: authn.RevokedAPIKeys, period: period, log: log, byKey: map[string]map[*func()]struct{}{}}
}

// watch calls revoke once the key with prefix is found revoked, until
// stop is called.
func (w *keyWatch) watch(prefix string, revoke func()) (stop func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := &revoke
	if w.byKey[prefix] == nil {
		w.byKey[prefix] = map[*func()]struct{}{}
	}
	w.byKey[prefix][h] = struct{}{}
	if w.timer == nil {
		w.timer = time.AfterFunc(w.period, w.sweep)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.byKey[prefix], h)
			if len(w.byKey[prefix]) == 0 {
				delete(w.byKey, prefix)
			}
		})
	}
}

// sweep runs on the timer: one check of every key watched, then the
// connections of revoked keys are closed.
func (w *keyWatch) sweep() {
	w.mu.Lock()
	prefixes := make([]string, 0, len(w.byKey))
	for p := range w.byKey {
		prefixes = append(prefixes, p)
	}
	w.mu.Unlock()
	if len(prefixes) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), min(w.period, 10*time.Second))
		revoked, err := w.check(ctx, prefixes)
		cancel()
		if err != nil {
			// Open connections stay open while the store cannot answer: an
			// outage must not drop every client at once. Next period retries.
			w.log.Warn("checking the API keys of open connections", "keys", len(prefixes), "err", err)
		}
		var closers []func()
		w.mu.Lock()
		for _, p := range revoked {
			for h := range w.byKey[p] {
				closers = append(closers, *h)
			}
		}
		w.mu.Unlock()
		for _, c := range closers {
			c()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.byKey) == 0 {
		w.timer = nil
		return
	}
	w.timer.Reset(w.period)
}

type credentialKey struct{}

// withCredential returns ctx carrying the credential that authenticated
// its request (withAuth), for the streams that must end with it.
func withCredential(ctx context.Context, c auth.Credential) context.Context {
	return context.WithValue(ctx, credentialKey{}, c)
}

// Why a stream's credential ended (the error message after
// "unauthenticated: ").
const (
	endedExpired = "token expired"
	endedRevoked = "API key revoked"
)

// untilCredentialEnds calls end once, with why, when the credential that
// authenticated ctx's request stops being accepted: a JWT at its expiry
// (exp plus the leeway), an API key once the periodic check finds it
// revoked (the check the WebSockets use). stop ends the watch.
func (w *keyWatch) untilCredentialEnds(ctx context.Context, end func(why string)) (stop func()) {
	c, _ := ctx.Value(credentialKey{}).(auth.Credential)
	var once sync.Once
	ended := func(why string) { once.Do(func() { end(why) }) }
	stops := []func(){}
	if !c.Expires.IsZero() {
		t := time.AfterFunc(time.Until(c.Expires), func() { ended(endedExpired) })
		stops = append(stops, func() { t.Stop() })
	}
	if c.APIKey != "" && w != nil {
		stops = append(stops, w.watch(c.APIKey, func() { ended(endedRevoked) }))
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// credentialEnded is the result that ends an operation whose credential
// ended: an error with code UNAUTHENTICATED and no data entry.
func credentialEnded(why string) requestErrors {
	return requestErrors{Errors: gqlerror.List{{
		Message:    "unauthenticated: " + why + "; authenticate again",
		Extensions: map[string]any{"code": string(jobs.CodeUnauthenticated)},
	}}}
}
