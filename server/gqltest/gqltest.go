// Package gqltest is a small GraphQL-over-HTTP client for tests that drive
// vidgate's real endpoint.
package gqltest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Client posts GraphQL requests to URL (…/graphql) with a bearer token.
type Client struct {
	URL   string
	Token string
}

// Error is one entry of a response's errors.
type Error struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Code is extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Field is extensions.field.
func (e Error) Field() string { s, _ := e.Extensions["field"].(string); return s }

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Data   map[string]any `json:"data"`
	Errors []Error        `json:"errors"`
}

// Do posts query with vars and decodes the response.
func (c Client) Do(t testing.TB, query string, vars map[string]any) Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", c.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
	}
	r.Status = res.StatusCode
	return r
}

// OK fails the test if the response has errors.
func (r Response) OK(t testing.TB) Response {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	return r
}

// WantError checks that the response has exactly one error with code (and
// field, when given) and returns it.
func (r Response) WantError(t testing.TB, code, field string) Error {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("errors = %+v, want one %s", r.Errors, code)
	}
	if got := r.Errors[0]; got.Code() != code || (field != "" && got.Field() != field) {
		t.Fatalf("error = %s (field %q): %q, want %s (field %q)", got.Code(), got.Field(), got.Message, code, field)
	}
	return r.Errors[0]
}

// Get walks a dotted path ("job.artifacts") through the data.
func (r Response) Get(path string) any {
	var v any = r.Data
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Str is Get for strings.
func (r Response) Str(path string) string { s, _ := r.Get(path).(string); return s }

// List is Get for lists of objects.
func (r Response) List(path string) []map[string]any {
	items, _ := r.Get(path).([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		m, _ := it.(map[string]any)
		out = append(out, m)
	}
	return out
}
