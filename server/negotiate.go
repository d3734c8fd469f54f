package server

import (
	"mime"
	"strconv"
	"strings"
)

// Media types of GraphQL answers over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaEventStream     = "text/event-stream"
)

// acceptRank is how much an Accept header wants a media type: its q-value
// (-1: not at all) and the position of the entry that gave it, for ties.
type acceptRank struct {
	q   float64
	pos int
}

// better reports whether a is preferred to b: a higher q-value, or the same
// q-value listed earlier (clients list their preference first).
func (a acceptRank) better(b acceptRank) bool {
	return a.q > b.q || (a.q == b.q && a.pos < b.pos)
}

// rankAccept ranks each of offers by the Accept header accept. A wildcard
// entry (*/*, type/*) counts for an offer it covers, and an exact entry
// decides over a wildcard whatever their order. Malformed entries are
// skipped.
func rankAccept(accept string, offers ...string) []acceptRank {
	ranks := make([]acceptRank, len(offers))
	exact := make([]bool, len(offers))
	for i := range ranks {
		ranks[i] = acceptRank{q: -1}
	}
	for pos, part := range strings.Split(accept, ",") {
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
		for i, offer := range offers {
			isExact := mt == offer
			wild := mt == "*/*" || (strings.HasSuffix(mt, "/*") && strings.HasPrefix(offer, strings.TrimSuffix(mt, "*")))
			switch {
			case isExact && !exact[i]:
				ranks[i], exact[i] = acceptRank{q: q, pos: pos}, true
			case isExact, wild && !exact[i]:
				if r := (acceptRank{q: q, pos: pos}); r.better(ranks[i]) {
					ranks[i] = r
				}
			}
		}
	}
	return ranks
}

// responseMediaType picks the JSON media type of a GraphQL answer from the
// request's Accept header, as the GraphQL-over-HTTP spec has it:
// application/graphql-response+json when the client prefers it to
// application/json, else application/json — also when Accept is missing,
// is a wildcard, or names neither (legacy clients).
func responseMediaType(accept string) string {
	r := rankAccept(accept, mediaGraphQLResponse, mediaJSON)
	gr, js := r[0], r[1]
	if gr.q > 0 && (gr.better(js) || js.q <= 0) {
		// A bare wildcard covers both; only an explicit preference picks
		// application/graphql-response+json.
		if !strings.Contains(accept, mediaGraphQLResponse) {
			return mediaJSON
		}
		return mediaGraphQLResponse
	}
	return mediaJSON
}
