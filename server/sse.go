package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/99designs/gqlgen/graphql"

	"github.com/vidgate/vidgate/jobs"
)

// eventStream serves an operation over Server-Sent Events — the
// graphql-sse protocol's distinct connections mode, one stream per
// operation — chosen only for a POST that prefers an event stream to a
// single JSON answer. Each result is a "next" event, the end a "complete"
// event; a request error is one "next" event with errors and no data
// entry. A request that is not GraphQL over HTTP is refused before the
// stream starts, as httpJSON refuses it (400 BAD_REQUEST in JSON). An idle
// stream gets a comment every ssePingInterval. A stream ends with its
// credential (see Do).
//
// gqlgen's SSE transport claims any POST whose Accept merely contains
// text/event-stream. Clients that can take either (urql sends
// "application/graphql-response+json, application/json, text/event-stream,
// multipart/mixed" with every query and mutation) then get a stream for a
// plain query, which they abort; and the stream counted against the
// identity's connection cap. The GraphQL-over-HTTP spec has the server pick
// by the client's preference, so vidgate does.
type eventStream struct {
	keys *keyWatch
}

func (eventStream) Supports(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mt == mediaJSON &&
		r.Header.Get("Upgrade") == "" && prefersEventStream(r)
}

func (s eventStream) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	var params requestParams
	if _, err := paramsFromBody(r.Body, &params); err != nil {
		refuse(w, r, exec, err)
		return
	}
	flusher := streamFlusher(w)
	if flusher == nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	opCtx, stop := context.WithCancel(ctx)
	defer stop()
	events := newEventQueue(cancel) // too far behind: end the stream
	results := runOperation(opCtx, exec, params.raw(r.Header))
	go func() {
		for result := range results {
			events.push(sseNext(result))
		}
		if opCtx.Err() == nil {
			events.push([]byte("event: complete\n\n"))
		}
		events.close()
	}()
	// The credential's end ends the stream: a last "next" event with an
	// UNAUTHENTICATED error, and no "complete". graphql-sse clients take a
	// stream that closes before "complete" for a network failure and
	// subscribe again, calling their headers option again.
	defer s.keys.untilCredentialEnds(r.Context(), func(why string) {
		events.end(sseNext(credentialEnded(why)))
		stop()
	})()
	startEventStream(w, flusher)
	events.pump(ctx, w, flusher)
}

// streamFlusher is w's Flusher; when w has none, it answers 500 and is
// nil.
func streamFlusher(w http.ResponseWriter) http.Flusher {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, string(jobs.CodeInternal), "streaming is not supported here")
		return nil
	}
	return flusher
}

// startEventStream writes the headers of an event stream and a first
// comment, which some browsers need before they report the stream open.
func startEventStream(w http.ResponseWriter, flusher http.Flusher) {
	w.Header().Set("Content-Type", mediaEventStream+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(":\n\n"))
	flusher.Flush()
}

// sseNext is a "next" event carrying data as JSON.
func sseNext(data any) []byte {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte(`{"errors":[{"message":"the result could not be encoded","extensions":{"code":"INTERNAL"}}]}`)
	}
	return []byte(fmt.Sprintf("event: next\ndata: %s\n\n", b))
}

// runOperation runs raw's operation and sends its results until it ends
// or ctx does: each *graphql.Response, or one requestErrors when the
// operation does not parse or validate. The channel closes at the end.
func runOperation(ctx context.Context, exec graphql.GraphExecutor, raw *graphql.RawParams) <-chan any {
	results := make(chan any)
	go func() {
		defer close(results)
		send := func(v any) bool {
			select {
			case results <- v:
				return true
			case <-ctx.Done():
				return false
			}
		}
		opCtx, reqErrs := exec.CreateOperationContext(ctx, raw)
		if reqErrs != nil {
			resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), reqErrs)
			send(requestErrors{resp.Errors, resp.Extensions})
			return
		}
		responses, ctx := exec.DispatchOperation(ctx, opCtx)
		for ctx.Err() == nil {
			resp := responses(ctx)
			if resp == nil {
				return
			}
			// gqlgen writes every result of a subscription into one buffer,
			// overwritten by the next call to responses: a result sent on
			// (and encoded later, on another goroutine) needs its own copy.
			resp.Data = bytes.Clone(resp.Data)
			if !send(resp) {
				return
			}
		}
	}()
	return results
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
