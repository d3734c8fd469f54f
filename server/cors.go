package server

import (
	"net/http"
	"strings"

	"github.com/vidgate/vidgate/jobs"
)

// CORS for browser SPAs calling /graphql over HTTP from another origin.
//
// Credentials ride in the Authorization (or X-API-Key) header, never in
// cookies, so no response ever says Access-Control-Allow-Credentials: a
// page on an allowed origin can only call the API with a token it already
// holds. That is why "*" (any origin) is accepted, but only when an operator
// writes it explicitly; the default is no cross-origin access at all.
// Allowed origins are echoed back (with Vary: Origin) rather than answered
// with a literal "*", so caches keep responses per origin.

const (
	corsAllowMethods = "GET, POST, OPTIONS"
	// Apollo-Require-Preflight and X-Apollo-Operation-Name are what Apollo
	// clients send for multipart uploads (CSRF protection); X-Request-Id
	// lets an SPA correlate its calls with our logs.
	corsAllowHeaders  = "Authorization, Content-Type, X-API-Key, Apollo-Require-Preflight, X-Apollo-Operation-Name, X-Request-Id"
	corsExposeHeaders = "X-Request-Id, Retry-After, WWW-Authenticate"
	corsMaxAge        = "600" // seconds a browser may cache a preflight answer
)

type corsPolicy struct {
	any     bool
	allowed map[string]bool // lower-cased exact origins
}

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{allowed: map[string]bool{}}
	for _, o := range origins {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		switch o {
		case "":
		case "*":
			p.any = true
		default:
			p.allowed[o] = true
		}
	}
	return p
}

func (p corsPolicy) allows(origin string) bool {
	return p.any || p.allowed[strings.ToLower(origin)]
}

// withCORS answers preflights and adds CORS headers for allowed origins.
// A request without an Origin header (not from a browser: partner apps,
// curl) passes untouched. A disallowed origin gets
// no CORS headers, so the browser keeps the response from the page; its
// preflight is refused with 403. WebSocket handshakes (complete ones: see
// isWebSocketHandshake) are left to the WebSocket origin check.
func withCORS(p corsPolicy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || isWebSocketHandshake(r) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !p.allows(origin) {
			if preflight {
				writeError(w, http.StatusForbidden, string(jobs.CodeForbidden), "origin "+origin+" may not call this API: ask the operator to add it to --cors-origins")
				return
			}
			// Served (same-origin pages send Origin on POST too), but
			// without CORS headers a browser hides it from a foreign page.
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}
