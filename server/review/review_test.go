package review_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/server/review"
)

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h := review.Handler()
	mux.Handle("GET /review", h)
	mux.Handle("GET /review/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var assetRef = regexp.MustCompile(`(?:src|href)="(/review/assets/[^"]+)"`)

// The page is the same at /review and /review/, revalidated on every load
// (it names the current build's assets), and its hashed assets are cached
// for good; nothing it loads comes from another host.
func TestDashboardIsServed(t *testing.T) {
	srv := serve(t)
	var index string
	var etag string
	for _, p := range []string{"/review", "/review/"} {
		res, body := get(t, srv.URL+p)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s = %d %s, want 200 text/html", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q, want no-cache", p, cc)
		}
		if index != "" && body != index {
			t.Errorf("GET %s differs from GET /review", p)
		}
		index, etag = body, res.Header.Get("ETag")
	}
	if res, _ := get(t, srv.URL+"/review/", "If-None-Match", etag); etag == "" || res.StatusCode != http.StatusNotModified {
		t.Errorf("GET /review/ with If-None-Match %q = %d, want 304", etag, res.StatusCode)
	}
	if strings.Contains(index, "://") {
		t.Errorf("index.html names an absolute URL")
	}
	refs := assetRef.FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets, want the script and the style sheet:\n%s", len(refs), index)
	}
	for _, m := range refs {
		res, body := get(t, srv.URL+m[1])
		if res.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s = %d, want 200", m[1], res.StatusCode)
			continue
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control = %q, want a year, immutable", m[1], cc)
		}
		if strings.HasSuffix(m[1], ".js") && !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
			t.Errorf("GET %s Content-Type = %q", m[1], res.Header.Get("Content-Type"))
		}
	}
	for _, p := range []string{"/review/assets/", "/review/assets/nope.js", "/review/other", "/review/../graphql", "/reviewer"} {
		res, _ := get(t, srv.URL+p)
		if res.StatusCode == 200 {
			t.Errorf("GET %s = 200, want a 404 (no listings, no other files)", p)
		}
	}
}

// The Content-Security-Policy allows this origin's scripts, styles and
// API (HTTP and WebSocket) and no other host; a Host header that is not a
// plain host[:port] is left out of it.
func TestDashboardCSP(t *testing.T) {
	srv := serve(t)
	res, _ := get(t, srv.URL+"/review")
	csp := res.Header.Get("Content-Security-Policy")
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self' ws://" + host + " wss://" + host + ";", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP = %q, want %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http://") || strings.Contains(csp, "*") {
		t.Errorf("CSP = %q: allows inline code or another host", csp)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/review", nil)
	req.Host = "evil.example; script-src *"
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if csp := r2.Header.Get("Content-Security-Policy"); strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("with a crafted Host, CSP = %q, want connect-src 'self' alone", csp)
	}
}
