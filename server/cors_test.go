package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

func corsRequest(t *testing.T, method, url, origin string, hdr map[string]string) *http.Response {
	t.Helper()
	var body *strings.Reader
	if method == "POST" {
		body = strings.NewReader(`{"query":"{ jobs(first: 1) { edges { cursor } } }"}`)
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, url, body)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestCORS(t *testing.T) {
	t.Parallel()
	db := jobstest.SQLite(t)
	e := newEnvWith(t, db, server.Config{MaxBodyBytes: 64 << 10, CORSOrigins: []string{"https://app.example.com"}})
	gql := e.url + "/graphql"
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, apollo-require-preflight"}
	auth := map[string]string{"Authorization": "Bearer " + e.tokens["alice"], "Content-Type": "application/json"}

	t.Run("allowed preflight", func(t *testing.T) {
		res := corsRequest(t, "OPTIONS", gql, "https://app.example.com", preflight)
		h := res.Header
		if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			h.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" || h.Get("Access-Control-Max-Age") != "600" ||
			h.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Fatalf("preflight = %d %v, want 204 allowing the origin, GET/POST/OPTIONS, max age 600 (10 minutes), Vary: Origin, no credentials", res.StatusCode, h)
		}
		for _, want := range []string{"Authorization", "Content-Type", "X-API-Key", "Apollo-Require-Preflight"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("Access-Control-Allow-Headers = %q, want %s", h.Get("Access-Control-Allow-Headers"), want)
			}
		}
	})
	t.Run("allowed request", func(t *testing.T) {
		res := corsRequest(t, "POST", gql, "https://app.example.com", auth)
		if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Fatalf("POST = %d %v, want 200 with Access-Control-Allow-Origin", res.StatusCode, res.Header)
		}
		// Errors are readable by the page too.
		res = corsRequest(t, "POST", gql, "https://app.example.com", map[string]string{"Content-Type": "application/json"})
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("POST without token = %d %v, want 401 with Access-Control-Allow-Origin", res.StatusCode, res.Header)
		}
	})
	t.Run("disallowed origin", func(t *testing.T) {
		res := corsRequest(t, "OPTIONS", gql, "https://evil.example", preflight)
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Fatalf("preflight from a foreign origin = %d %v, want 403 with no CORS headers", res.StatusCode, res.Header)
		}
		res = corsRequest(t, "POST", gql, "https://evil.example", auth)
		if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Expose-Headers") != "" {
			t.Fatalf("POST from a foreign origin headers = %v, want no CORS headers", res.Header)
		}
		// Exact match only: a lookalike or another scheme is another origin.
		for _, o := range []string{"http://app.example.com", "https://app.example.com.evil.example"} {
			if res := corsRequest(t, "OPTIONS", gql, o, preflight); res.StatusCode != http.StatusForbidden {
				t.Errorf("preflight from %s = %d, want 403", o, res.StatusCode)
			}
		}
	})
	t.Run("no origin", func(t *testing.T) {
		res := corsRequest(t, "POST", gql, "", auth)
		if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "" || len(res.Header.Values("Vary")) != 0 {
			t.Fatalf("POST without Origin = %d %v, want 200 and no CORS headers", res.StatusCode, res.Header)
		}
	})
}

func TestCORSDefaultsAndWildcard(t *testing.T) {
	t.Parallel()
	preflight := map[string]string{"Access-Control-Request-Method": "POST"}
	// No list: no cross-origin access at all.
	closed := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10})
	if res := corsRequest(t, "OPTIONS", closed.url+"/graphql", "https://app.example.com", preflight); res.StatusCode != http.StatusForbidden {
		t.Errorf("preflight with no CORS list = %d, want 403", res.StatusCode)
	}
	// "*", written explicitly: any origin, still never with credentials.
	open := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, CORSOrigins: []string{"*"}})
	res := corsRequest(t, "OPTIONS", open.url+"/graphql", "https://anything.example", preflight)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://anything.example" || res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight with * = %d %v, want 204 echoing the origin without credentials", res.StatusCode, res.Header)
	}
}
