package server

import (
	"bytes"
	"io"
	"net/http"

	"github.com/99designs/gqlgen/graphql"

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

// Do reads the request first, so that one that is not GraphQL over HTTP is
// refused as httpJSON refuses it (400 BAD_REQUEST in JSON) rather than with
// gqlgen's uncoded message; the rest is gqlgen's.
func (t eventStream) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	var params requestParams
	body, err := paramsFromBody(r.Body, &params)
	if err != nil {
		w.Header().Set("Content-Type", mediaJSON+"; charset=utf-8")
		refuse(w, r, exec, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.SSE.Do(w, r, exec)
}

// prefersEventStream reports whether r's Accept header ranks
// text/event-stream above every JSON answer vidgate could give instead
// (application/graphql-response+json, application/json, and wildcards that
// cover them). Ranks are q-values; among equal q-values the type listed
// first wins, as clients list their preference first.
func prefersEventStream(r *http.Request) bool {
	ranks := rankAccept(r.Header.Get("Accept"), mediaEventStream, mediaGraphQLResponse, mediaJSON)
	sse, json := ranks[0], ranks[1]
	if ranks[2].better(json) {
		json = ranks[2]
	}
	return sse.q > 0 && sse.better(json)
}
