package server_test

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
)

// httpAnswer is a raw answer from /graphql.
type httpAnswer struct {
	status int
	header http.Header
	body   []byte
	doc    map[string]json.RawMessage
	errs   []gqlError
}

// call sends a request to /graphql as alice, with headers given as
// name/value pairs, and decodes the JSON answer when there is one.
func (e *env) call(t *testing.T, method, query, body string, headers ...string) httpAnswer {
	t.Helper()
	u := e.url + "/graphql"
	if query != "" {
		u += "?" + query
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := httpAnswer{status: res.StatusCode, header: res.Header}
	a.body, _ = io.ReadAll(res.Body)
	if json.Unmarshal(a.body, &a.doc) == nil {
		json.Unmarshal(a.doc["errors"], &a.errs)
	}
	return a
}

func (a httpAnswer) code() string {
	if len(a.errs) == 0 {
		return ""
	}
	return a.errs[0].code()
}

// The GraphQL-over-HTTP spec: a request error (the document does not parse
// or validate, a variable does not fit) is 200 under application/json, so
// that clients such as Apollo Client read it as GraphQL errors, and 400
// under application/graphql-response+json; either way with errors and no
// data entry, and a Content-Type that matches.
func TestRequestErrorsFollowAccept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jobstest.SQLite(t))
	page := `jobs(first: 100) { edges { node { id status events { type version source } artifacts { id sizeBytes width height } reviews { note } } } }`
	requests := []struct {
		name, body, code string
	}{
		{"parse", `{"query": "{"}`, "GRAPHQL_PARSE_FAILED"},
		{"validation", `{"query": "{ nosuchfield }"}`, "GRAPHQL_VALIDATION_FAILED"},
		{"unknown operation", `{"query": "query A { viewer { id } }", "operationName": "B"}`, "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion", `{"query": "query($id: ID!) { job(id: $id) { id } }", "variables": {"id": null}}`, "BAD_USER_INPUT"},
		{"variable enum", `{"query": "query($s: [JobStatus!]) { jobs(status: $s) { edges { node { id } } } }", "variables": {"s": ["NOPE"]}}`, "BAD_USER_INPUT"},
		{"complexity", mustJSON(map[string]any{"query": "{ a: " + page + " b: " + page + " c: " + page + " d: " + page + " }"}), "COMPLEXITY_LIMIT_EXCEEDED"},
	}
	accepts := []struct {
		accept, mediaType string
		status            int
	}{
		{"", "application/json", 200},
		{"application/json", "application/json", 200},
		{"*/*", "application/json", 200},
		{"application/json, application/graphql-response+json", "application/json", 200},
		{"application/graphql-response+json;q=0.5, application/json", "application/json", 200},
		{"text/html", "application/json", 200},
		{"application/graphql-response+json", "application/graphql-response+json", 400},
		{"application/graphql-response+json, application/json;q=0.9", "application/graphql-response+json", 400},
	}
	for _, rq := range requests {
		for _, ac := range accepts {
			headers := []string{"Content-Type", "application/json"}
			if ac.accept != "" {
				headers = append(headers, "Accept", ac.accept)
			}
			a := e.call(t, "POST", "", rq.body, headers...)
			if a.status != ac.status || a.code() != rq.code {
				t.Errorf("%s, Accept %q: %d %s %s, want %d %s", rq.name, ac.accept, a.status, a.code(), a.body, ac.status, rq.code)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, ac.mediaType) {
				t.Errorf("%s, Accept %q: Content-Type %q, want %s", rq.name, ac.accept, ct, ac.mediaType)
			}
			if _, ok := a.doc["data"]; ok || len(a.errs) != 1 {
				t.Errorf("%s, Accept %q: body %s, want one error and no data entry", rq.name, ac.accept, a.body)
			}
		}
	}

	// An operation that ran is 200 under either media type, with its data.
	for _, accept := range []string{"application/json", "application/graphql-response+json"} {
		a := e.call(t, "POST", "", `{"query": "{ viewer { id } }"}`, "Content-Type", "application/json", "Accept", accept)
		if a.status != 200 || len(a.errs) != 0 || !strings.Contains(string(a.doc["data"]), "alice") || !strings.HasPrefix(a.header.Get("Content-Type"), accept) {
			t.Errorf("Accept %s: %d %s %s", accept, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
	// A GET query too; its request errors follow the same rules.
	a := e.call(t, "GET", url.Values{"query": {"{ viewer { id } }"}}.Encode(), "")
	if a.status != 200 || !strings.Contains(string(a.doc["data"]), "alice") {
		t.Errorf("GET query: %d %s", a.status, a.body)
	}
	a = e.call(t, "GET", url.Values{"query": {"{ nosuchfield }"}}.Encode(), "", "Accept", "application/graphql-response+json")
	if _, ok := a.doc["data"]; a.status != 400 || a.code() != "GRAPHQL_VALIDATION_FAILED" || ok {
		t.Errorf("GET invalid query under graphql-response+json: %d %s", a.status, a.body)
	}
}

// A request that is not GraphQL over HTTP at all — no body, a body that is
// not JSON, a parameter of the wrong type, no query, the wrong method or
// Content-Type — is a 4xx with a JSON error coded BAD_REQUEST, under any
// Accept; it never echoes the body.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jobstest.SQLite(t))
	tests := []struct {
		name, method, query, body, contentType string
		status                                 int
	}{
		{"no body", "POST", "", "", "application/json", 400},
		{"not JSON", "POST", "", `{ "not a JSON secret-prompt`, "application/json", 400},
		{"trailing data", "POST", "", `{"query": "{ viewer { id } }"} secret-prompt`, "application/json", 400},
		{"no query", "POST", "", `{"qeury": "{ viewer { id } }"}`, "application/json", 400},
		{"query object", "POST", "", `{"query": {"obj": "secret-prompt"}}`, "application/json", 400},
		{"query number", "POST", "", `{"query": 0}`, "application/json", 400},
		{"operationName array", "POST", "", `{"query": "{ viewer { id } }", "operationName": ["a"]}`, "application/json", 400},
		{"variables string", "POST", "", `{"query": "{ viewer { id } }", "variables": "secret-prompt"}`, "application/json", 400},
		{"extensions number", "POST", "", `{"query": "{ viewer { id } }", "extensions": 1}`, "application/json", 400},
		{"GET without query", "GET", "", "", "", 400},
		{"GET variables not JSON", "GET", url.Values{"query": {"{ viewer { id } }"}, "variables": {"{secret-prompt"}}.Encode(), "", "", 400},
		{"GET mutation", "GET", url.Values{"query": {`mutation { cancelVideoJob(id: "x") { id } }`}}.Encode(), "", "", 405},
		{"no Content-Type", "POST", "", `{"query": "{ viewer { id } }"}`, "", 415},
		{"text/plain", "POST", "", `{"query": "{ viewer { id } }"}`, "text/plain", 415},
		{"PATCH", "PATCH", "", `{"query": "{ viewer { id } }"}`, "application/json", 405},
	}
	for _, tt := range tests {
		for _, accept := range []string{"application/json", "application/graphql-response+json"} {
			headers := []string{"Accept", accept}
			if tt.contentType != "" {
				headers = append(headers, "Content-Type", tt.contentType)
			}
			a := e.call(t, tt.method, tt.query, tt.body, headers...)
			if a.status != tt.status || a.code() != "BAD_REQUEST" || len(a.errs) != 1 {
				t.Errorf("%s (Accept %s): %d %s, want %d BAD_REQUEST", tt.name, accept, a.status, a.body, tt.status)
			}
			if ct := a.header.Get("Content-Type"); !strings.Contains(ct, "json") {
				t.Errorf("%s: Content-Type %q, want JSON", tt.name, ct)
			}
			if _, ok := a.doc["data"]; ok || strings.Contains(string(a.body), "secret-prompt") {
				t.Errorf("%s: %s has a data entry or echoes the body", tt.name, a.body)
			}
		}
	}
}

// vidgate serves no incremental delivery, so it does not offer @defer:
// validation refuses it with a clear error rather than answering the
// deferred fields with null and hasNext, and introspection does not list
// it.
func TestDeferIsNotOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jobstest.SQLite(t))
	r := e.do(t, "alice", `{ viewer { id ... @defer { role } } }`, nil)
	if got := r.wantError(t, "GRAPHQL_VALIDATION_FAILED", ""); !strings.Contains(got.Message, "defer") || r.Data != nil {
		t.Errorf("@defer: %q with data %v, want a validation error naming it", got.Message, r.Data)
	}
	r = e.do(t, "alice", `{ __schema { directives { name } } }`, nil).ok(t)
	names := []string{}
	for _, d := range r.get("__schema.directives").([]any) {
		names = append(names, d.(map[string]any)["name"].(string))
	}
	if got := strings.Join(names, " "); strings.Contains(got, "defer") || !strings.Contains(got, "include") {
		t.Errorf("introspection lists directives %s, want include and skip but not defer", got)
	}
}

// Uploads (multipart requests) follow the same rules: a request error is
// 200 under application/json and 400 under
// application/graphql-response+json, with no data entry; a multipart
// request that is malformed is 400 BAD_REQUEST.
func TestUploadRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jobstest.SQLite(t))
	png := encodePNG(t, 64, 64)
	invalid, ct := multipartBody(t, `mutation($file: Upload!) { uploadSourceAsset(file: $file) { nosuchfield } }`, "a.png", "image/png", png)
	for accept, status := range map[string]int{"application/json": 200, "application/graphql-response+json": 400} {
		a := e.call(t, "POST", "", string(invalid), "Content-Type", ct, "Accept", accept)
		if _, ok := a.doc["data"]; a.status != status || a.code() != "GRAPHQL_VALIDATION_FAILED" || ok || !strings.HasPrefix(a.header.Get("Content-Type"), accept) {
			t.Errorf("invalid upload operation, Accept %s: %d %s, want %d GRAPHQL_VALIDATION_FAILED and no data", accept, a.status, a.body, status)
		}
	}
	var b strings.Builder
	mw := multipart.NewWriter(&b)
	mw.WriteField("map", `{}`) // operations must come first
	mw.Close()
	a := e.call(t, "POST", "", b.String(), "Content-Type", mw.FormDataContentType())
	if a.status != 400 || a.code() != "BAD_REQUEST" {
		t.Errorf("malformed multipart request: %d %s, want 400 BAD_REQUEST", a.status, a.body)
	}
}
