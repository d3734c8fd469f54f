package server_test

import (
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
)

// The review dashboard is served by vidgate at /review, without a
// credential (it asks for one itself), with its own CSP.
func TestReviewDashboardMounted(t *testing.T) {
	e := newEnv(t, jobstest.SQLite(t))
	for _, p := range []string{"/review", "/review/"} {
		res, page := get(t, e.url+p)
		if res.StatusCode != 200 || !strings.Contains(page, `<div id="app">`) {
			t.Errorf("GET %s = %d, want the dashboard's page", p, res.StatusCode)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws://") {
			t.Errorf("GET %s CSP = %q, want the dashboard's", p, csp)
		}
	}
}
