package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
)

// Protocol-level codes, beside the domain codes of package jobs.
const (
	codeBadRequest      = "BAD_REQUEST"
	codePayloadTooLarge = "PAYLOAD_TOO_LARGE"
	codeDepthLimit      = "DEPTH_LIMIT_EXCEEDED"
	// codeComplexityLimit is gqlgen's own code for an over-complex
	// operation; the field and introspection limits answer with it too, so
	// clients branch on one code for "ask for less".
	codeComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
)

func init() {
	// Over-deep and over-complex operations are request errors, like
	// documents that do not parse or validate: gqlgen's multipart transport
	// answers them so (withUploads then gives them the status httpJSON would).
	errcode.RegisterErrorType(codeDepthLimit, errcode.KindProtocol)
	errcode.RegisterErrorType(codeComplexityLimit, errcode.KindProtocol)
}

// presentError gives every error that leaves the server an
// extensions.code. Domain errors keep their code and message; gqlgen's
// protocol errors keep theirs; requests that are not GraphQL over HTTP get
// BAD_REQUEST or PAYLOAD_TOO_LARGE; everything else becomes INTERNAL with
// the request id, and the detail goes to the log only. Errors are told
// apart by their type and code, never by their text.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		set := func(code, msg string) {
			gqlErr.Extensions["code"] = code
			if msg != "" {
				gqlErr.Message = msg
			}
		}
		var domain *jobs.Error
		var authErr *auth.Error
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &domain):
			set(string(domain.Code), domain.Message)
			if domain.Field != "" {
				gqlErr.Extensions["field"] = domain.Field
			}
			if domain.Reason != "" {
				gqlErr.Extensions["reason"] = domain.Reason
			}
			if domain.RetryAfter > 0 {
				gqlErr.Extensions["retryAfterSeconds"] = int(domain.RetryAfter.Round(time.Second).Seconds())
			}
			for k, v := range domain.Extra {
				gqlErr.Extensions[k] = v
			}
		case errors.As(err, &authErr):
			set(string(jobs.CodeUnauthenticated), authErr.Error())
		case errors.As(err, &tooLarge):
			set(codePayloadTooLarge, "request body is over the limit of "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
		case badRequestMessage(err) != "":
			set(codeBadRequest, badRequestMessage(err))
		case isVariableError(gqlErr):
			// A variable that does not fit its type (an unknown enum value, a
			// string for an Int) is bad user input, as in Apollo Server.
			set(string(jobs.CodeBadUserInput), "")
			gqlErr.Extensions["field"] = pathString(gqlErr.Path[1:])
		case gqlErr.Extensions["code"] != nil:
			// gqlgen's own protocol codes (parse, validation, complexity).
		case isUnavailable(err):
			log.ErrorContext(ctx, "dependency unavailable", "err", err)
			set(string(jobs.CodeUnavailable), "a backing service is unavailable; try again shortly")
		default:
			log.ErrorContext(ctx, "internal error", "err", err, "path", pathString(gqlErr.Path))
			set(string(jobs.CodeInternal), "internal error (request id "+RequestID(ctx)+")")
		}
		return gqlErr
	}
}

// badRequestMessage is the message of err when it is a request vidgate
// could not read as GraphQL over HTTP (see httpJSON), else "".
func badRequestMessage(err error) string {
	var bad badRequestError
	var decode *decodeError
	switch {
	case errors.As(err, &bad):
		return bad.Error()
	case errors.As(err, &decode):
		return decode.Error()
	}
	return ""
}

// isVariableError reports whether gqlErr is gqlgen's refusal of a variable's
// value: GRAPHQL_VALIDATION_FAILED on the path ["variable", name, …].
func isVariableError(gqlErr *gqlerror.Error) bool {
	return gqlErr.Extensions["code"] == errcode.ValidationFailed && len(gqlErr.Path) > 0 &&
		gqlErr.Path[0] == ast.PathName("variable")
}

// pathString renders a GraphQL error path as dotted field names.
func pathString(p ast.Path) string {
	var b strings.Builder
	for _, e := range p {
		switch v := e.(type) {
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(v))
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(v))
		}
	}
	return b.String()
}

// isUnavailable reports whether err means a backing service (the database)
// could not be reached, as opposed to a bug.
func isUnavailable(err error) bool { return jobs.IsUnavailable(err) }
