package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

// Only a complete WebSocket handshake skips HTTP authentication. An
// Upgrade: websocket header on a request the SSE (or POST, GET) transport
// serves is authenticated like any request: 401, nothing executed.
func TestUpgradeHeaderDoesNotSkipAuth(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, CORSOrigins: []string{"https://app.example.com"}})
	introspect := `{"query":"{ __schema { types { name fields { name } } } }"}`
	upgrade := map[string]string{"Upgrade": "websocket"}
	cases := []struct {
		name, method, target, body string
		hdr                        map[string]string
	}{
		{"SSE POST", "POST", "/graphql", introspect, map[string]string{"Accept": "text/event-stream", "Content-Type": "application/json"}},
		{"SSE POST, Connection: upgrade and a key", "POST", "/graphql", introspect, map[string]string{"Accept": "text/event-stream", "Content-Type": "application/json",
			"Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}},
		{"plain POST", "POST", "/graphql", introspect, map[string]string{"Content-Type": "application/json"}},
		{"GET", "GET", "/graphql?query=" + url.QueryEscape("{ __schema { types { name } } }"), "", map[string]string{"Accept": "application/json"}},
		{"GET with Connection: upgrade, no key", "GET", "/graphql?query=" + url.QueryEscape("{ __schema { types { name } } }"), "", map[string]string{"Connection": "Upgrade"}},
		{"GET with a foreign origin", "GET", "/graphql?query=" + url.QueryEscape("{ __schema { types { name } } }"), "", map[string]string{"Origin": "https://evil.example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, e.url+c.target, strings.NewReader(c.body))
			for k, v := range upgrade {
				req.Header.Set(k, v)
			}
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"UNAUTHENTICATED"`) {
				t.Errorf("%s %s with Upgrade: websocket and no credentials = %d %.300s, want 401 UNAUTHENTICATED", c.method, c.target, res.StatusCode, body)
			}
			if strings.Contains(string(body), "__Schema") || strings.Contains(string(body), "VideoJob") {
				t.Errorf("the operation ran without an identity: %.300s", body)
			}
		})
	}

	// A preflight from a foreign origin is refused whatever it carries.
	pre := map[string]string{"Access-Control-Request-Method": "POST", "Upgrade": "websocket", "Connection": "Upgrade"}
	if res := corsRequest(t, "OPTIONS", e.url+"/graphql", "https://evil.example", pre); res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign preflight with Upgrade: websocket = %d, want 403", res.StatusCode)
	}
}
