package server

import (
	"context"
	"strings"
	"time"

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
func websocketTransport(authn *auth.Authenticator, ws *wsgorilla.Implementation, slots *identitySlots, cfg Config) *gqlws.Transport {
	return &gqlws.Transport{
		Upgrader:    ws,
		InitTimeout: 10 * time.Second,
		KeepAlive:   15 * time.Second,
		ReadLimit:   cfg.MaxBodyBytes, // a message is a request: the same cap as a POST body
		Logger:      cfg.Logger,
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, error) {
			token := initToken(p)
			if token == "" {
				return nil, &gqlws.CloseError{Code: gqlws.CloseUnauthorized, Reason: "Unauthorized: no token in connection_init",
					Message: `unauthorized: send {"Authorization": "Bearer <token>"} in connection_init`}
			}
			actor, err := authn.Authenticate(ctx, token)
			if err != nil {
				return nil, &gqlws.CloseError{Code: gqlws.CloseUnauthorized, Reason: "Unauthorized: " + err.Error()}
			}
			release, ok := slots.acquire(actor.Subject)
			if !ok {
				return nil, &gqlws.CloseError{Code: closeTooManyConnections, Reason: "Too many connections", Message: slots.refusal()}
			}
			ctx = holdSlot(auth.WithActor(ctx, actor), release)
			return resolvers.WithSubscriptionLimit(ctx, cfg.MaxSubscriptions), nil
		},
		// The slot taken in InitFunc is freed when the connection closes.
		CloseFunc: releaseSlot,
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
