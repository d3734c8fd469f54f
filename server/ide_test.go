package server_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
)

// refs finds what an HTML page or a style sheet makes a browser load:
// src, href and action attributes, and CSS url(…) and @import.
var refs = regexp.MustCompile(`(?i)(?:\b(?:src|href|action)\s*=\s*["']?([^"'\s>]+))|(?:url\(\s*["']?([^"')]+))|(?:@import\s+["']([^"']+))`)

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestIDEWorksOffline: the page at / and everything it references are
// served by vidgate itself; nothing names another host, so the IDE works
// on a machine without internet. The browser is told so as well (CSP).
func TestIDEWorksOffline(t *testing.T) {
	e := newEnv(t, jobstest.SQLite(t))
	base, _ := url.Parse(e.url + "/")
	res, page := get(t, base.String())
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s, want 200 text/html", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "http") {
		t.Errorf("GET / Content-Security-Policy = %q, want only 'self' sources", csp)
	}
	seen := map[string]bool{}
	queue := []struct{ from, body string }{{"/", page}}
	var loaded int
	for len(queue) > 0 {
		doc := queue[0]
		queue = queue[1:]
		if strings.Contains(doc.body, "://") {
			t.Errorf("%s names an absolute URL: %q", doc.from, around(doc.body, "://"))
		}
		for _, m := range refs.FindAllStringSubmatch(doc.body, -1) {
			ref := m[1] + m[2] + m[3]
			u, err := base.Parse(ref)
			if err != nil || u.Host != base.Host || strings.HasPrefix(ref, "//") {
				t.Errorf("%s references %q: not served by vidgate", doc.from, ref)
				continue
			}
			if seen[u.Path] {
				continue
			}
			seen[u.Path] = true
			res, body := get(t, u.String())
			if res.StatusCode != 200 {
				t.Errorf("GET %s (referenced by %s) = %d, want 200", u.Path, doc.from, res.StatusCode)
				continue
			}
			loaded++
			queue = append(queue, struct{ from, body string }{u.Path, body})
		}
	}
	if loaded < 2 {
		t.Errorf("the page loads %d files of its own (%v), want its script and style sheet", loaded, seen)
	}
	if _, js := get(t, e.url+"/ide/ide.js"); !strings.Contains(js, `fetch("/graphql"`) {
		t.Error("ide.js does not send operations to /graphql on its own origin")
	}
}

func around(s, sub string) string {
	i := strings.Index(s, sub)
	return s[max(0, i-40):min(len(s), i+40)]
}
