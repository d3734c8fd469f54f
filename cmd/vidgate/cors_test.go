package main

import (
	"slices"
	"testing"
)

// --cors-origins defaults to the --allowed-origins list, so one setting
// admits an app's WebSockets and its HTTP calls; set, it wins.
func TestCORSOriginsDefault(t *testing.T) {
	tests := []struct {
		allowed, cors string
		want          []string
	}{
		{"", "", nil},
		{"https://app.example.com, https://admin.example.com", "", []string{"https://app.example.com", "https://admin.example.com"}},
		{"https://app.example.com", "https://other.example.com", []string{"https://other.example.com"}},
		{"https://app.example.com", "*", []string{"*"}},
	}
	for _, tt := range tests {
		c := config{AllowedOrigins: tt.allowed, CORSOrigins: tt.cors}
		if got := c.corsOrigins(); !slices.Equal(got, tt.want) {
			t.Errorf("--allowed-origins %q --cors-origins %q: CORS origins %q, want %q", tt.allowed, tt.cors, got, tt.want)
		}
	}
}
