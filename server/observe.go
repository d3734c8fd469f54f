package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Metrics hears of every HTTP request and every GraphQL query and mutation
// the server runs (jobs/metrics.Metrics implements it).
type Metrics interface {
	// HTTPRequest: route is the ServeMux pattern that served the request,
	// never its raw path.
	HTTPRequest(route, method string, code int, d time.Duration)
	// GraphQLOperation: name is the client's operation name ("" when
	// anonymous), typ "query", "mutation" or "none" for a request refused
	// before it became an operation; errors how many the response carried.
	GraphQLOperation(name, typ string, errors int, d time.Duration)
}

// requestInfo is what serving one request learns for its access log line:
// the GraphQL operation and the errors its responses carried.
type requestInfo struct {
	mu        sync.Mutex
	operation string
	opType    string
	errors    int
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func (i *requestInfo) add(operation, opType string, errors int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if operation != "" {
		i.operation = operation
	}
	if opType != "" {
		i.opType = opType
	}
	i.errors += errors
}

func (i *requestInfo) read() (operation, opType string, errors int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.operation, i.opType, i.errors
}

// observeOperations is a gqlgen extension that sees every response —
// executed operations and request errors alike — and reports its operation
// and error count to the request's access log line and to the metrics
// (queries and mutations; a subscription's events are not operations).
type observeOperations struct{ metrics Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = observeOperations{}

func (observeOperations) ExtensionName() string                   { return "VidgateObserve" }
func (observeOperations) Validate(graphql.ExecutableSchema) error { return nil }

func (o observeOperations) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	name, typ, start := "", "none", time.Time{}
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		name, start = oc.OperationName, oc.Stats.OperationStart
		if oc.Operation != nil {
			typ = string(oc.Operation.Operation)
			if name == "" {
				name = oc.Operation.Name
			}
		}
	}
	errs := 0
	if resp != nil {
		errs = len(resp.Errors)
	}
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.add(name, typ, errs)
	}
	if o.metrics != nil && typ != string(ast.Subscription) {
		d := time.Duration(0)
		if !start.IsZero() {
			d = time.Since(start)
		}
		o.metrics.GraphQLOperation(name, typ, errs, d)
	}
	return resp
}

// withAccessLog logs one line per request — method, path, route, status,
// size, duration, the client's IP address and, for GraphQL, the operation
// name and type and how many errors the response carried — and counts it
// in the metrics. Never the body, the query string or headers, which may
// carry prompts or tokens. A WebSocket handshake is logged with status 101
// when it was upgraded; its duration is the handshake's, and long-lived
// responses (WebSockets, event streams) are kept out of the latency
// histogram.
func withAccessLog(log *slog.Logger, trusted []netip.Prefix, metrics Metrics, route func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		info := &requestInfo{}
		next.ServeHTTP(rec, r.WithContext(withRequestInfo(r.Context(), info)))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return
		}
		d := time.Since(start)
		status := rec.status
		if status == 0 && isWebSocketHandshake(r) {
			status = http.StatusSwitchingProtocols
		}
		pattern := route(r)
		if metrics != nil && status != http.StatusSwitchingProtocols && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
			metrics.HTTPRequest(pattern, r.Method, status, d)
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "route", pattern, "status", status, "bytes", rec.bytes,
			"duration_ms", d.Milliseconds(), "client_ip", clientIP(r, trusted)}
		if op, typ, errs := info.read(); typ != "" {
			attrs = append(attrs, "operation", op, "operation_type", typ, "graphql_errors", errs)
		}
		log.InfoContext(r.Context(), "http request", attrs...)
	})
}
