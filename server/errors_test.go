package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
)

// A panic in a resolver becomes an INTERNAL error on the response, with the
// request id and no internals, and the connection survives.
func TestPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	cfg := Config{Logger: slog.New(LogHandler(slog.NewJSONHandler(&logs, nil)))}
	cfg.defaults()
	// A nil service makes job() dereference nil: a stand-in for any bug.
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	h := withRequestID(newGraphQL(nil, nil, websocketTransport(authn, newWebsockets(cfg), newIdentitySlots(-1), nil, cfg), nil, cfg))
	body := `{"query":"{ job(id: \"00000000-0000-4000-8000-000000000001\") { id } }"}`
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-123")
	req = req.WithContext(auth.WithActor(req.Context(), jobs.Actor{Subject: "alice", Role: jobs.RoleUser}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var res struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("response %q: %v", rec.Body.String(), err)
	}
	if len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "INTERNAL" || !strings.Contains(res.Errors[0].Message, "req-123") {
		t.Fatalf("errors = %+v, want one INTERNAL naming the request id", res.Errors)
	}
	if strings.Contains(res.Errors[0].Message, "nil pointer") {
		t.Errorf("INTERNAL error leaks the panic: %q", res.Errors[0].Message)
	}
	if !strings.Contains(logs.String(), "nil pointer") || !strings.Contains(logs.String(), `"request_id":"req-123"`) {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200 (a GraphQL error, not a dropped connection)", rec.Code)
	}
}

func TestPresentError(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	present := presentError(slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx := jobs.WithRequestID(context.Background(), "r1")
	tests := []struct {
		err      error
		code     string
		noLeak   string
		wantText string
	}{
		{jobs.BadInput("input.prompt", "must not be empty"), "BAD_USER_INPUT", "", "input.prompt"},
		{jobs.Errorf(jobs.CodeNotFound, "no job"), "NOT_FOUND", "", "no job"},
		{&auth.Error{Reason: "token expired"}, "UNAUTHENTICATED", "", "expired"},
		{errors.New("pq: relation video_jobs does not exist"), "INTERNAL", "video_jobs", "r1"},
		{context.DeadlineExceeded, "UNAVAILABLE", "deadline", "unavailable"},
		// What pgx returns when the connection drops mid-query, when a pooled
		// connection was closed under it, and when the server is shutting down.
		{fmt.Errorf("insert job: failed to receive message: %w", io.ErrUnexpectedEOF), "UNAVAILABLE", "insert", "unavailable"},
		{fmt.Errorf("insert job: %w", pgconn.ErrConnClosed), "UNAVAILABLE", "insert", "unavailable"},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, "UNAVAILABLE", "administrator", "unavailable"},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, "INTERNAL", "duplicate", "r1"},
	}
	for _, tt := range tests {
		got := present(ctx, tt.err)
		if got.Extensions["code"] != tt.code || !strings.Contains(got.Message, tt.wantText) {
			t.Errorf("present(%v) = %s %q, want %s containing %q", tt.err, got.Extensions["code"], got.Message, tt.code, tt.wantText)
		}
		if tt.noLeak != "" && strings.Contains(got.Message, tt.noLeak) {
			t.Errorf("present(%v) leaks %q: %q", tt.err, tt.noLeak, got.Message)
		}
	}
	if !strings.Contains(logs.String(), "video_jobs") {
		t.Error("the internal error's detail was not logged")
	}
}

// The presenter tells request failures apart by type and code, never by
// message: gqlgen's protocol codes stay, a variable gqlgen refuses becomes
// BAD_USER_INPUT, the transport's decode and size failures get BAD_REQUEST
// and PAYLOAD_TOO_LARGE whatever their text, and an error that is only
// text is INTERNAL, however much it reads like a bad request.
func TestPresentErrorByType(t *testing.T) {
	t.Parallel()
	present := presentError(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := jobs.WithRequestID(context.Background(), "r1")
	syntax := json.Unmarshal([]byte(`{"query": `), new(map[string]any))
	var typeErr error = &json.UnmarshalTypeError{Value: "number", Field: "query"}
	coded := func(code string, path ...ast.PathElement) error {
		e := gqlerror.Errorf("gqlgen's words, which may change")
		e.Path = path
		errcode.Set(e, code)
		return e
	}
	tests := []struct {
		name  string
		err   error
		code  string
		field string
		text  string
	}{
		{"parse failure", coded(errcode.ParseFailed), "GRAPHQL_PARSE_FAILED", "", "gqlgen's words"},
		{"validation failure", coded(errcode.ValidationFailed), "GRAPHQL_VALIDATION_FAILED", "", "gqlgen's words"},
		{"complexity", coded(codeComplexityLimit), "COMPLEXITY_LIMIT_EXCEEDED", "", "gqlgen's words"},
		{"variable", coded(errcode.ValidationFailed, ast.PathName("variable"), ast.PathName("in"), ast.PathName("workflowType")), "BAD_USER_INPUT", "in.workflowType", "gqlgen's words"},
		{"body not JSON", &gqlerror.Error{Message: "x", Err: &decodeError{what: "the request body", err: syntax}}, "BAD_REQUEST", "", "not valid JSON"},
		{"query not a string", &gqlerror.Error{Message: "x", Err: &decodeError{what: "the request body", err: typeErr}}, "BAD_REQUEST", "", `"query" must be a string`},
		{"no query", &gqlerror.Error{Message: "x", Err: errNoQuery}, "BAD_REQUEST", "", "no query"},
		{"body too large", &gqlerror.Error{Message: "x", Err: fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1024})}, "PAYLOAD_TOO_LARGE", "", "1024 bytes"},
		{"text alone", gqlerror.Errorf("json request body could not be decoded: request body too large"), "INTERNAL", "", "r1"},
	}
	for _, tt := range tests {
		got := present(ctx, tt.err)
		if got.Extensions["code"] != tt.code || !strings.Contains(got.Message, tt.text) || (tt.field != "" && got.Extensions["field"] != tt.field) {
			t.Errorf("%s: %s %q field %v, want %s %q field %q", tt.name, got.Extensions["code"], got.Message, got.Extensions["field"], tt.code, tt.text, tt.field)
		}
	}
}
