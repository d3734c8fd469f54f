package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
)

// TestMetricsAuthorization is the GET /metrics column of README's
// authorization matrix (server.TestAuthorizationMatrix covers the rest):
// admins and the metrics token may scrape, users and reviewers may not.
func TestMetricsAuthorization(t *testing.T) {
	t.Parallel()
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	h := metricsAuth(authn, "scrape-token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("vidgate_up 1\n"))
	}))
	token := func(role jobs.Role) string {
		tok, err := authn.Issue("someone", role, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name   string
		bearer string
		want   int
	}{
		{"user", token(jobs.RoleUser), http.StatusUnauthorized},
		{"reviewer", token(jobs.RoleReviewer), http.StatusUnauthorized},
		{"admin", token(jobs.RoleAdmin), http.StatusOK},
		{"metrics token", "scrape-token", http.StatusOK},
		{"nothing", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tt.bearer)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET /metrics as %s = %d, want %d", tt.name, rec.Code, tt.want)
		}
	}
}
