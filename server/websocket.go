package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/resolvers"
	"github.com/vidgate/vidgate/server/auth"
	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

// newWebsockets accepts WebSockets on gorilla/websocket for gqlws.
func newWebsockets(cfg Config) *wsgorilla.Implementation {
	return wsgorilla.New(wsgorilla.Options{
		AllowedOrigins: cfg.AllowedOrigins,
		WriteTimeout:   10 * time.Second,
		// WebSocket-level pings find dead peers for both protocols
		// (graphql-ws has no ping of its own); browsers answer them.
		PingInterval: wsgorilla.RecommendedPingInterval,
		// Held for the connection's life. Clients send little (init,
		// subscribe, pongs); a larger message is read past the buffer, and
		// 256 bytes still hold any control frame (at most 125).
		ReadBufferSize: 256,
		Logger:         cfg.Logger,
	})
}

// websocketTransport serves GraphQL over those WebSockets, with both
// graphql-transport-ws and the legacy graphql-ws (package gqlws: one
// goroutine per connection, none per idle subscription). A connection
// authenticates in its connection_init payload, the way browsers can (they
// cannot set headers on a WebSocket): {"Authorization": "Bearer <token>"}.
//
// A connection ends with its credential (4401): when a JWT expires, and
// when an API key is found revoked (keys, every cfg.APIKeyCheckInterval).
func websocketTransport(authn *auth.Authenticator, ws *wsgorilla.Implementation, slots *identitySlots, keys *keyWatch, cfg Config) *gqlws.Transport {
	return &gqlws.Transport{
		Upgrader:    ws,
		InitTimeout: 10 * time.Second,
		KeepAlive:   15 * time.Second,
		ReadLimit:   cfg.MaxBodyBytes, // a message is a request: the same cap as a POST body
		Logger:      cfg.Logger,
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, error) {
			releasePending(ctx) // from here on the connection counts as its identity's
			token := initToken(p)
			if token == "" {
				return nil, &gqlws.CloseError{Code: gqlws.CloseUnauthorized, Reason: "Unauthorized: no token in connection_init",
					Message: `unauthorized: send {"Authorization": "Bearer <token>"} in connection_init`}
			}
			cred, err := authn.AuthenticateCredential(ctx, token)
			if err != nil {
				return nil, &gqlws.CloseError{Code: gqlws.CloseUnauthorized, Reason: "Unauthorized: " + err.Error()}
			}
			release, ok := slots.acquire(cred.Actor.Subject)
			if !ok {
				return nil, &gqlws.CloseError{Code: closeTooManyConnections, Reason: "Too many connections", Message: slots.refusal()}
			}
			ctx = holdSlot(auth.WithActor(ctx, cred.Actor), release)
			if !cred.Expires.IsZero() {
				// graphql-ws clients do not retry 4401 on their own: the
				// application gets the close event, and reconnects with a
				// fresh token (connectionParams as a function).
				ctx = gqlws.CloseAt(ctx, cred.Expires, gqlws.CloseUnauthorized, "Unauthorized: token expired")
			}
			if cred.APIKey != "" {
				closeConn := gqlws.Closer(ctx)
				stop := keys.watch(cred.APIKey, func() { closeConn(gqlws.CloseUnauthorized, "Unauthorized: API key revoked") })
				context.AfterFunc(ctx, stop) // ctx ends when the connection does
			}
			return resolvers.WithSubscriptionLimit(ctx, cfg.MaxSubscriptions), nil
		},
		// The slot taken in InitFunc is freed when the connection closes.
		CloseFunc: releaseSlot,
	}
}

// pendingTransport counts WebSockets that have not sent connection_init
// yet against their client's IP address (pending, cfg.MaxPendingWebSocketsPerIP):
// until then they belong to no identity, so the per-identity cap cannot
// hold them, and one address could otherwise pin any number of sockets,
// each for the init timeout, again and again. Per address rather than one
// budget for the process, which one client could exhaust for everyone. An
// upgrade over the cap is refused with 429 RATE_LIMITED before it is
// accepted. The slot is freed when connection_init arrives, or when the
// connection ends without one.
type pendingTransport struct {
	*gqlws.Transport
	pending *identitySlots
}

type pendingKey struct{}

func (t pendingTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	release, ok := t.pending.acquire(jobs.ClientFrom(r.Context()).IP)
	if !ok {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, string(jobs.CodeRateLimited),
			"too many WebSockets from your address have not sent connection_init yet; send it as soon as the socket opens")
		return
	}
	defer release()
	t.Transport.Do(w, r.WithContext(context.WithValue(r.Context(), pendingKey{}, release)), exec)
}

func releasePending(ctx context.Context) {
	if release, ok := ctx.Value(pendingKey{}).(func()); ok {
		release()
	}
}

// initToken finds the bearer token in a connection_init payload:
// "Authorization" (any case) with or without "Bearer ", or "token", at the
// top level or inside "headers" (as some clients nest them).
func initToken(p map[string]any) string {
	for k, v := range p {
		if h, ok := v.(map[string]any); ok && strings.EqualFold(k, "headers") {
			if tok := initToken(h); tok != "" {
				return tok
			}
			continue
		}
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "authorization", "token", "authtoken":
			if scheme, tok, found := strings.Cut(s, " "); found && strings.EqualFold(scheme, "Bearer") {
				return strings.TrimSpace(tok)
			}
			return strings.TrimSpace(s)
		}
	}
	return ""
}
