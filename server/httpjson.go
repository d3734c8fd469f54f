package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// httpJSON serves GraphQL over HTTP — GET with URL parameters, POST with a
// JSON body — as the GraphQL-over-HTTP spec has it, in place of gqlgen's
// GET and POST transports:
//
//   - The answer is application/graphql-response+json when the client
//     prefers it, else application/json (see responseMediaType).
//   - A request that is not a GraphQL-over-HTTP request at all (a body that
//     is not JSON, a parameter of the wrong type, no query) is 400
//     BAD_REQUEST.
//   - A request error — the document does not parse or validate, a
//     variable does not fit its type, the operation asks for too much — is
//     200 under application/json, so that clients read it as GraphQL
//     errors, and 400 under application/graphql-response+json. Either way
//     the body has errors and no data entry: nothing was executed.
//   - GET runs queries only: anything else is 405 with Allow: POST.
type httpJSON struct{}

var _ graphql.Transport = httpJSON{}

func (httpJSON) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	if r.Method == http.MethodGet {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mt == mediaJSON
}

// requestParams is a GraphQL-over-HTTP request's parameters. Fields are
// decoded strictly by type: {"query": 1} is not a request.
type requestParams struct {
	Query         *string        `json:"query"`
	OperationName *string        `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

func (httpJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	mediaType := responseMediaType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	start := graphql.Now()
	var params requestParams
	var err error
	if r.Method == http.MethodGet {
		err = paramsFromURL(r.URL.RawQuery, &params)
	} else {
		_, err = paramsFromBody(r.Body, &params)
	}
	if err != nil {
		refuse(w, r, exec, err)
		return
	}
	raw := params.raw(r.Header)
	raw.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	opCtx, reqErrs := exec.CreateOperationContext(ctx, raw)
	if reqErrs != nil {
		status := http.StatusOK
		if mediaType == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		respond(w, status, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), reqErrs), false)
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		err := &gqlerror.Error{Err: errGetNotQuery, Message: errGetNotQuery.Error()}
		respond(w, http.StatusMethodNotAllowed, exec.DispatchError(ctx, gqlerror.List{err}), false)
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	respond(w, http.StatusOK, responses(ctx), true)
}

// respond writes resp with status; withData says whether it has a data
// entry (an executed operation) or only errors (a request that was not).
func respond(w http.ResponseWriter, status int, resp *graphql.Response, withData bool) {
	var body any = resp
	if !withData {
		body = requestErrors{resp.Errors, resp.Extensions}
	}
	b, err := json.Marshal(body)
	if err != nil {
		// Only a resolver's value that JSON cannot hold gets here.
		b = []byte(`{"errors":[{"message":"the response could not be encoded","extensions":{"code":"INTERNAL"}}]}`)
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(b)
}

// requestErrors is the answer to a request that was not executed: errors
// and no data entry, as the GraphQL spec has it.
type requestErrors struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Errors of a request that is not a GraphQL-over-HTTP request. The error
// presenter gives them BAD_REQUEST by type (badRequestError).
var (
	errNoQuery     = badRequestError{"the request has no query: send {\"query\": \"…\", \"variables\": {…}}"}
	errGetNotQuery = badRequestError{"GET runs queries only: send mutations and subscriptions with POST"}
	errBodyEmpty   = badRequestError{"the request body is empty: send {\"query\": \"…\", \"variables\": {…}}"}
	errBodyUnread  = badRequestError{"could not read the request body"}
)

// badRequestError is a request vidgate could not read as GraphQL over
// HTTP: the error presenter answers it with BAD_REQUEST and its message.
type badRequestError struct{ msg string }

func (e badRequestError) Error() string { return e.msg }

// decodeError is a request body or URL parameter that is not the JSON it
// must be. Its message names the parameter, never echoes the input (it may
// hold a prompt or a token).
type decodeError struct {
	what string
	err  error
}

func (e *decodeError) Error() string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(e.err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("%s: %q must be %s, not %s", e.what, typeErr.Field, paramKind(typeErr.Field), typeErr.Value)
	}
	return e.what + " is not valid JSON: send {\"query\": \"…\", \"variables\": {…}}"
}

func (e *decodeError) Unwrap() error { return e.err }

func paramKind(field string) string {
	switch field {
	case "variables", "extensions":
		return "an object"
	default:
		return "a string"
	}
}

// paramsFromBody decodes a POST body: one JSON object, nothing after it,
// with a query. It returns the body it read. A body over the limit fails
// with the *http.MaxBytesError of withBodyLimit's reader.
func paramsFromBody(body io.Reader, p *requestParams) ([]byte, error) {
	b, err := io.ReadAll(body)
	if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
		return nil, err
	} else if err != nil {
		return nil, errBodyUnread
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errBodyEmpty
	}
	if err := decodeJSON(b, p); err != nil {
		return nil, &decodeError{what: "the request body", err: err}
	}
	return b, p.check()
}

// raw is p as gqlgen's executor takes it; p has passed check.
func (p *requestParams) raw(h http.Header) *graphql.RawParams {
	raw := &graphql.RawParams{Query: *p.Query, Variables: p.Variables, Extensions: p.Extensions, Headers: h}
	if p.OperationName != nil {
		raw.OperationName = *p.OperationName
	}
	return raw
}

// check reports a request without a query.
func (p *requestParams) check() error {
	if p.Query == nil || *p.Query == "" {
		return errNoQuery
	}
	return nil
}

// refuse answers a request that is not GraphQL over HTTP (err from
// paramsFromBody or paramsFromURL) with 400 BAD_REQUEST, or 413
// PAYLOAD_TOO_LARGE, through the error presenter.
func refuse(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, err error) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", mediaJSON+"; charset=utf-8")
	}
	status := http.StatusBadRequest
	if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	gqlErr := &gqlerror.Error{Message: err.Error(), Err: err}
	respond(w, status, exec.DispatchError(r.Context(), gqlerror.List{gqlErr}), false)
}

// paramsFromURL reads a GET request's parameters: query and operationName
// as they are, variables and extensions as JSON.
func paramsFromURL(rawQuery string, p *requestParams) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return &decodeError{what: "the URL's query string", err: err}
	}
	if q.Has("query") {
		s := q.Get("query")
		p.Query = &s
	}
	if q.Has("operationName") {
		s := q.Get("operationName")
		p.OperationName = &s
	}
	for name, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
		if v := q.Get(name); v != "" {
			if err := decodeJSON([]byte(v), dst); err != nil {
				return &decodeError{what: "the URL parameter " + name, err: err}
			}
		}
	}
	return p.check()
}

// decodeJSON decodes exactly one JSON value from b into v, keeping numbers
// as json.Number as gqlgen's transports do.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// unsupported answers every request to /graphql that no transport serves,
// with a GraphQL error and a code rather than gqlgen's bare "transport not
// supported".
type unsupported struct{}

var _ graphql.Transport = unsupported{}

func (unsupported) Supports(*http.Request) bool { return true }

func (unsupported) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	switch r.Method {
	case http.MethodPost:
		writeError(w, http.StatusUnsupportedMediaType, codeBadRequest,
			"send the request as Content-Type: application/json (or multipart/form-data for uploads)")
	default:
		w.Header().Set("Allow", "GET, POST, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, codeBadRequest, r.Method+" is not served here: send GraphQL requests with POST (or GET for queries)")
	}
}
