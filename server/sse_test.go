package server

import (
	"net/http"
	"testing"
)

func TestPrefersEventStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept string
		want   bool
	}{
		{"text/event-stream", true},
		{"text/event-stream, application/json", true},
		// urql's queries and mutations: JSON first.
		{"application/graphql-response+json, application/json, text/event-stream, multipart/mixed", false},
		{"application/json, text/event-stream", false},
		{"application/json;q=0.5, text/event-stream", true},
		{"text/event-stream;q=0.4, application/json;q=0.9", false},
		{"text/event-stream;q=0, application/json", false},
		{"*/*", false},
		{"", false},
		{"application/json", false},
		{"text/event-stream;q=0.9, */*;q=0.8", true},
		{"garbage;;;, text/event-stream", true},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("POST", "/graphql", nil)
		r.Header.Set("Accept", tt.accept)
		if got := prefersEventStream(r); got != tt.want {
			t.Errorf("prefersEventStream(Accept: %q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}
