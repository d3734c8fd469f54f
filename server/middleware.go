package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
	"github.com/vidgate/vidgate/server/gqlws"
)

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string { return jobs.RequestID(ctx) }

// LogHandler wraps h so that every record logged with a request's context
// carries its request_id.
func LogHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}
func (h ctxHandler) WithGroup(n string) slog.Handler { return ctxHandler{h.Handler.WithGroup(n)} }

// withRequestID gives each request an id: the caller's X-Request-Id when it
// is sane, else a new one, echoed in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(jobs.WithRequestID(r.Context(), id)))
	})
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush lets streaming responses (Server-Sent Events) through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// withRecover turns a panic outside gqlgen (which has its own) into a 500
// with the request id, and logs the stack.
func withRecover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic", "panic", v, "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, string(jobs.CodeInternal), "internal error (request id "+RequestID(r.Context())+")")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withBodyLimit refuses bodies over max bytes with 413: at once when the
// declared length says so; a body of unknown length (chunked) is read
// first, up to max, since gqlgen answers a read cut short with 200 and an
// error. Multipart requests (uploads) are bounded by withUploads instead.
func withBodyLimit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isMultipart(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge,
				"request body is "+strconv.FormatInt(r.ContentLength, 10)+" bytes; the limit is "+strconv.FormatInt(max, 10))
			return
		}
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			switch {
			case int64(len(b)) > max:
				writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge,
					"request body is over the limit of "+strconv.FormatInt(max, 10)+" bytes")
				return
			case err != nil:
				writeError(w, http.StatusBadRequest, codeBadRequest, "could not read the request body")
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// isWebSocketHandshake reports whether r is a complete WebSocket handshake
// (GET, Connection: upgrade, Upgrade: websocket, a Sec-WebSocket-Key and
// version 13) that the GraphQL handler routes to its WebSocket transport:
// that transport comes first, so its Supports decides. Only such a request
// may skip HTTP authentication, to authenticate in connection_init; any
// other request merely carrying an Upgrade header (an SSE or POST request
// would run with no identity) is authenticated like every request.
func isWebSocketHandshake(r *http.Request) bool {
	return new(gqlws.Transport).Supports(r) && r.Header.Get("Sec-WebSocket-Key") != "" &&
		r.Header.Get("Sec-WebSocket-Version") == "13"
}

// withAuth authenticates every request to the API. A WebSocket handshake is
// let through: it authenticates in its connection_init message instead.
// Every request's context carries where it came from (jobs.WithClient), for
// the audit trail, and its credential (withCredential), for the streams
// that end with it.
func withAuth(a *auth.Authenticator, trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(jobs.WithClient(r.Context(), jobs.Client{
			IP: clientIP(r, trusted), UserAgent: r.UserAgent(),
		}))
		if isWebSocketHandshake(r) {
			next.ServeHTTP(w, r)
			return
		}
		cred, err := a.CredentialFromRequest(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vidgate"`)
			writeError(w, http.StatusUnauthorized, string(jobs.CodeUnauthenticated), err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(withCredential(auth.WithActor(r.Context(), cred.Actor), cred)))
	})
}

// writeError writes a GraphQL-shaped error response, so GraphQL clients
// read transport failures the same way as resolver errors.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}
