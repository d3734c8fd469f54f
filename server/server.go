package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/imgcheck"
	"github.com/vidgate/vidgate/graph"
	"github.com/vidgate/vidgate/graph/model"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/resolvers"
	"github.com/vidgate/vidgate/server/auth"
	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/review"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

// Config holds the HTTP server's limits.
type Config struct {
	// MaxBodyBytes caps a GraphQL request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxUploadBytes caps the file of an upload (uploadSourceAsset): a
	// multipart request may be MaxUploadBytes + MaxBodyBytes long, the
	// rest being its operations, map and framing (default 20 MiB; the
	// service checks the file itself against its own limit).
	MaxUploadBytes int64
	// MaxDepth and MaxComplexity cap a GraphQL operation (defaults 12 and
	// 5000; a list field counts its children once per requested item).
	MaxDepth      int
	MaxComplexity int
	// MaxFields caps the fields an operation selects, aliases, fragments
	// and introspection included (default 1000; IDEs' introspection query
	// selects about 250).
	MaxFields int
	// DownloadURLTTL is how long signed artifact URLs stay valid (default 15m).
	DownloadURLTTL time.Duration
	// Broker feeds subscriptions; nil turns them off.
	Broker *broker.Broker
	// AllowedOrigins lists the browser origins allowed to open WebSockets
	// ("https://app.example.com", or "*"); empty allows same-origin only.
	AllowedOrigins []string
	// CORSOrigins lists the browser origins allowed to call /graphql over
	// HTTP from another origin ("https://app.example.com", exact), or "*"
	// for any; empty allows none. Credentials are never allowed (tokens
	// travel in headers, not cookies).
	CORSOrigins []string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed when
	// deciding a client's IP address (for the audit trail); empty means the
	// peer address is the client.
	TrustedProxies []netip.Prefix
	// MaxSubscriptions caps the subscriptions of one WebSocket connection
	// (default 20).
	MaxSubscriptions int
	// MaxConnectionsPerIdentity caps the WebSockets and SSE subscription
	// streams one identity (subject) holds open in this process at once
	// (default 20; negative: no cap). Connection N+1 is closed with 4429
	// (WebSocket) or refused with 429 RATE_LIMITED (SSE).
	MaxConnectionsPerIdentity int
	// MaxPendingWebSocketsPerIP caps the WebSockets one client IP address
	// holds open before they send connection_init (default 32; negative:
	// no cap). One more is refused with 429 RATE_LIMITED.
	MaxPendingWebSocketsPerIP int
	// APIKeyCheckInterval is how often the API keys of open WebSockets and
	// SSE streams are checked, in one read for all of them: a revoked key's
	// WebSockets are closed with 4401, and its streams end with an
	// UNAUTHENTICATED error, within this interval (default 30s).
	APIKeyCheckInterval time.Duration
	// Mount adds handlers by ServeMux pattern, served behind the same
	// request ids, access log and panic recovery: the webhook intake
	// ("POST /webhooks/{provider}") and the simulated provider ("/sim/").
	// They authenticate their callers themselves.
	Mount  map[string]http.Handler
	Logger *slog.Logger
	// Metrics, when set, counts and times HTTP requests and GraphQL
	// operations.
	Metrics Metrics
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = imgcheck.DefaultMaxBytes
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 12
	}
	if c.MaxComplexity <= 0 {
		c.MaxComplexity = 5000
	}
	if c.MaxFields <= 0 {
		c.MaxFields = 1000
	}
	if c.DownloadURLTTL <= 0 {
		c.DownloadURLTTL = 15 * time.Minute
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 20
	}
	if c.MaxConnectionsPerIdentity == 0 {
		c.MaxConnectionsPerIdentity = 20
	}
	if c.MaxPendingWebSocketsPerIP == 0 {
		c.MaxPendingWebSocketsPerIP = 32
	}
	if c.APIKeyCheckInterval <= 0 {
		c.APIKeyCheckInterval = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// maxIntrospectionLists is how many introspection list fields may nest in
// one path: IDEs' introspection query nests three (types → fields → args).
const maxIntrospectionLists = 3

// uploadMemory is how much of a multipart request gqlgen keeps in memory.
const uploadMemory = 4 << 20

// Server is vidgate's HTTP handler.
type Server struct {
	http.Handler
	ws      *wsgorilla.Implementation
	gqlws   *gqlws.Transport
	slots   *identitySlots
	streams *streamSet
}

// ConnectionSlots returns how many WebSockets and SSE streams hold a slot
// of the per-identity cap: in all, and by subject.
func (s *Server) ConnectionSlots() (total int, bySubject map[string]int) { return s.slots.Open() }

// OpenConnections is how many WebSockets are open.
func (s *Server) OpenConnections() int64 { return s.ws.OpenConnections() }

// CloseConnections closes every WebSocket with 1001 (going away), so that
// clients reconnect — to another API process — during a shutdown, and
// subscribe again there: their subscriptions get no complete (graphql-ws
// clients retry 1001 and 1012, not 1000 or 4xxx). Plain requests are
// drained by http.Server.Shutdown; WebSockets are not its to drain, and
// Server-Sent Events streams would hold it until its grace ends: they end
// here too. Call it before stopping the broker, whose end would complete
// the subscriptions first.
func (s *Server) CloseConnections() {
	s.streams.closeAll()
	s.gqlws.CloseAll(1001, "server shutting down; reconnect")
	s.ws.CloseAll(1001, "server shutting down; reconnect") // any accepted but not yet served
}

// New returns vidgate's HTTP handler.
func New(svc *jobs.Service, files *blob.Bucket, authn *auth.Authenticator, cfg Config) *Server {
	cfg.defaults()
	ws := newWebsockets(cfg)
	slots := newIdentitySlots(cfg.MaxConnectionsPerIdentity)
	streams := &streamSet{}
	keys := newKeyWatch(authn, cfg.APIKeyCheckInterval, cfg.Logger) // one check for WebSockets and SSE streams
	wst := websocketTransport(authn, ws, slots, keys, cfg)
	gql := newGraphQL(svc, files, pendingTransport{Transport: wst, pending: newIdentitySlots(cfg.MaxPendingWebSocketsPerIP)}, keys, cfg)

	mux := http.NewServeMux()
	// ws.Detach: a WebSocket is served on a goroutine of its own once
	// upgraded, so net/http's buffers and serving goroutine are not held
	// for the socket's life (the access log sees it end at the upgrade).
	mux.Handle("/graphql", withCORS(newCORSPolicy(cfg.CORSOrigins), withAuth(authn, cfg.TrustedProxies, withStreamCap(slots, streams,
		withUploads(cfg.MaxBodyBytes+cfg.MaxUploadBytes, withBodyLimit(cfg.MaxBodyBytes, ws.Detach(gql)))))))
	idePage, ideAssets := ideHandler()
	mux.Handle("GET /{$}", idePage)
	mux.Handle("GET /ide/", ideAssets)
	dashboard := review.Handler()
	mux.Handle("GET "+review.Prefix, dashboard)
	mux.Handle("GET "+review.Prefix+"/", dashboard)
	mux.Handle("/files/", files.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := svc.Ready(ctx); err != nil {
			cfg.Logger.WarnContext(ctx, "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "database unavailable")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	for pattern, h := range cfg.Mount {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, string(jobs.CodeNotFound), "no such endpoint: the API is POST /graphql")
	})
	return &Server{Handler: withRequestID(withAccessLog(cfg.Logger, cfg.TrustedProxies, cfg.Metrics, routeOf(mux), withRecover(cfg.Logger, mux))), ws: ws, gqlws: wst, slots: slots, streams: streams}
}

// routeOf names the mux pattern that serves a request: a bounded label.
func routeOf(mux *http.ServeMux) func(*http.Request) string {
	return func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		return pattern
	}
}

func newGraphQL(svc *jobs.Service, files *blob.Bucket, websockets graphql.Transport, keys *keyWatch, cfg Config) *handler.Server {
	gc := graph.Config{Resolvers: &resolvers.Resolver{
		Service: svc, Files: files, DownloadTTL: cfg.DownloadURLTTL, Broker: cfg.Broker,
	}}
	// A page of jobs costs its children once per job asked for.
	gc.Complexity.Query.Jobs = func(child int, first *int, _ *string, _ []model.JobStatus) int {
		n := 20
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	gc.Complexity.Query.AuditLog = func(child int, first *int, _, _, _ *string, _ *time.Time) int {
		n := 20
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	gc.Schema = withoutDefer(graph.NewExecutableSchema(graph.Config{}).Schema())
	srv := handler.New(graph.NewExecutableSchema(gc))
	srv.AddTransport(websockets)
	srv.AddTransport(newSSESingle(cfg.MaxSubscriptions, keys)) // graphql-sse single connection mode: requests with a stream token, PUT, DELETE
	srv.AddTransport(eventStream{keys: keys})                  // before POST: it claims POSTs that prefer text/event-stream
	srv.AddTransport(httpJSON{})
	// Uploads (the GraphQL multipart request spec). withUploads has already
	// bounded the body; files past uploadMemory wait in a temporary file
	// (removed after the request) rather than in memory.
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: cfg.MaxBodyBytes + cfg.MaxUploadBytes, MaxMemory: uploadMemory})
	srv.AddTransport(unsupported{}) // last: whatever no transport above serves
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	srv.Use(depthLimit{max: cfg.MaxDepth})
	srv.Use(fieldLimit{maxFields: cfg.MaxFields, maxIntrospectionLists: maxIntrospectionLists})
	srv.Use(observeOperations{metrics: cfg.Metrics})
	srv.AroundOperations(resolvers.LoaderMiddleware(svc))
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		cfg.Logger.ErrorContext(ctx, "panic in resolver", "panic", v, "stack", string(debug.Stack()))
		return errors.New("panic in resolver")
	})
	return srv
}

// withoutDefer is schema without the @defer directive. gqlgen's prelude
// declares it, but vidgate's transports answer with one JSON document (or
// one event per result), not incremental delivery: a deferred fragment
// would come back null with hasNext and never arrive. Without the
// declaration, validation refuses @defer (GRAPHQL_VALIDATION_FAILED,
// "Unknown directive") and introspection does not offer it.
func withoutDefer(schema *ast.Schema) *ast.Schema {
	s := *schema
	s.Directives = maps.Clone(schema.Directives)
	delete(s.Directives, "defer")
	return &s
}
