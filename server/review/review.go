// Package review serves the review dashboard at /review: a page reviewers
// open in a browser to work through the review queue (claim, watch,
// approve or reject). It is built from web/review into dist/ and embedded
// in the binary; it talks to vidgate only through the public GraphQL API
// and its WebSocket subscriptions, on the same origin, and loads nothing
// from another host.
package review

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// Prefix is where the dashboard is mounted.
const Prefix = "/review"

// assetsDir holds the build's content-hashed files: a new build names
// them anew, so they can be cached for good.
const assetsDir = "assets/"

// hostRE is what a Host header must look like to be named in the
// Content-Security-Policy (a name or address and an optional port);
// anything else gets 'self' alone.
var hostRE = regexp.MustCompile(`^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// csp allows the page's own scripts and styles, GraphQL over HTTP and
// WebSockets to this host, and signed media links: vidgate's own /files/
// links are same-origin, a cloud bucket's are https on the cloud's host.
func csp(host string) string {
	connect := "'self'"
	if hostRE.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; connect-src " + connect +
		"; img-src 'self' https:; media-src 'self' https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// Handler serves the dashboard: index.html at /review and /review/ (never
// cached: it names the current build's assets) and the build's assets
// under /review/assets/ (cached for a year). Mount it at "GET /review" and
// "GET /review/".
func Handler() http.Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic("review: the dashboard is not built (web/review: npm run build): " + err.Error())
	}
	sum := sha256.Sum256(index)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	assets := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp(r.Host))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
		switch {
		case ok && (rest == "" || rest == "/" || rest == "/index.html"):
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", etag)
			h.Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
		case ok && strings.HasPrefix(rest, "/"+assetsDir) && !strings.HasSuffix(rest, "/") && fileExists(files, rest[1:]):
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			r2 := r.Clone(r.Context())
			r2.URL.Path = rest
			assets.ServeHTTP(w, r2)
		default:
			h.Set("Cache-Control", "no-store")
			http.Error(w, "404 page not found: the review dashboard is at "+Prefix, http.StatusNotFound)
		}
	})
}

func fileExists(files fs.FS, name string) bool {
	info, err := fs.Stat(files, name)
	return err == nil && !info.IsDir()
}
