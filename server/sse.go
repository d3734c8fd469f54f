package server

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// eventStream is gqlgen's Server-Sent Events transport, chosen only for a
// request that prefers an event stream to a single JSON answer.
//
// gqlgen's SSE transport claims any POST whose Accept merely contains
// text/event-stream. Clients that can take either (urql sends
// "application/graphql-response+json, application/json, text/event-stream,
// multipart/mixed" with every query and mutation) then get a stream for a
// plain query, which they abort; and the stream counted against the
// identity's connection cap. The GraphQL-over-HTTP spec has the server pick
// by the client's preference, so vidgate does.
type eventStream struct {
	transport.SSE
}

func (t eventStream) Supports(r *http.Request) bool {
	return prefersEventStream(r) && t.SSE.Supports(r)
}

// prefersEventStream reports whether r's Accept header ranks
// text/event-stream above every JSON answer vidgate could give instead
// (application/graphql-response+json, application/json, and wildcards that
// cover them). Ranks are q-values; among equal q-values the type listed
// first wins, as clients list their preference first.
func prefersEventStream(r *http.Request) bool {
	type rank struct {
		q   float64
		pos int
	}
	sse, json := rank{q: -1}, rank{q: -1} // q -1: not acceptable
	for pos, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
		best := &json
		switch mt {
		case "text/event-stream":
			best = &sse
		case "application/graphql-response+json", "application/json", "application/*", "*/*":
		default:
			continue
		}
		if q > best.q {
			*best = rank{q: q, pos: pos}
		}
	}
	if sse.q <= 0 {
		return false
	}
	return sse.q > json.q || (sse.q == json.q && sse.pos < json.pos)
}
