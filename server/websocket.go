package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/vidgate/vidgate/resolvers"
	"github.com/vidgate/vidgate/server/auth"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

// closeUnauthorized closes a WebSocket whose connection_init carries no
// valid credentials (the graphql-ws convention).
const closeUnauthorized = 4401

// websocketTransport serves subscriptions over gorilla/websocket, with
// both graphql-transport-ws and the legacy graphql-ws. A connection
// authenticates in its connection_init payload, the way browsers can (they
// cannot set headers on a WebSocket): {"Authorization": "Bearer <token>"}.
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

func websocketTransport(authn *auth.Authenticator, ws *wsgorilla.Implementation, slots *identitySlots, cfg Config) transport.Websocket {
	return transport.Websocket{
		Implementation:        ws,
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			token := initToken(p)
			if token == "" {
				err := errors.New("unauthorized: send {\"Authorization\": \"Bearer <token>\"} in connection_init")
				return closeWith(ctx, closeUnauthorized, "Unauthorized: no token in connection_init"), nil, err
			}
			actor, err := authn.Authenticate(ctx, token)
			if err != nil {
				return closeWith(ctx, closeUnauthorized, "Unauthorized: "+err.Error()), nil, err
			}
			release, ok := slots.acquire(actor.Subject)
			if !ok {
				return closeWith(ctx, closeTooManyConnections, "Too many connections"), nil, errors.New(slots.refusal())
			}
			ctx = holdSlot(auth.WithActor(ctx, actor), release)
			return resolvers.WithSubscriptionLimit(ctx, cfg.MaxSubscriptions), nil, nil
		},
		// The slot taken in InitFunc is freed when the connection closes.
		CloseFunc: func(ctx context.Context, _ int) { releaseSlot(ctx) },
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

func closeWith(ctx context.Context, code int, reason string) context.Context {
	return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, code), reason)
}
