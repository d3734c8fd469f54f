package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// The IDE at / is a small page embedded in the binary: paste a token, run
// an operation against /graphql, read the JSON. It loads nothing from
// another host (gqlgen's GraphiQL loads its scripts from a CDN, and is
// blank on a machine without internet), and its Content-Security-Policy
// says so to the browser too.

//go:embed ide
var ideFiles embed.FS

const ideCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ideHandler serves the page at / and its files under /ide/.
func ideHandler() (page, files http.Handler) {
	sub, err := fs.Sub(ideFiles, "ide")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	withCSP := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", ideCSP)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			h.ServeHTTP(w, r)
		})
	}
	page = withCSP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	}))
	return page, withCSP(http.StripPrefix("/ide/", http.FileServerFS(sub)))
}
