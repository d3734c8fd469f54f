package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted, err := ParseCIDRs("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"203.0.113.5:4000", "198.51.100.1", nil, "203.0.113.5"},                        // no trusted proxies: the header is ignored
		{"203.0.113.5:4000", "198.51.100.1", trusted, "203.0.113.5"},                    // peer is not a trusted proxy
		{"10.1.1.1:4000", "198.51.100.1", trusted, "198.51.100.1"},                      // one trusted hop
		{"10.1.1.1:4000", "198.51.100.1, 192.0.2.1, 10.2.2.2", trusted, "198.51.100.1"}, // a chain of trusted hops
		{"10.1.1.1:4000", "6.6.6.6, 198.51.100.1", trusted, "198.51.100.1"},             // a forged left entry is not believed
		{"10.1.1.1:4000", "junk, 198.51.100.1", trusted, "198.51.100.1"},
		{"10.1.1.1:4000", "", trusted, "10.1.1.1"},                          // a trusted peer without the header
		{"10.1.1.1:4000", "10.3.3.3", trusted, "10.3.3.3"},                  // every hop trusted: the leftmost
		{"[::ffff:10.1.1.1]:4000", "198.51.100.1", trusted, "198.51.100.1"}, // IPv4-mapped peer
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/graphql", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientIP(r, tt.trusted); got != tt.want {
			t.Errorf("clientIP(%s, XFF %q, trusted %v) = %s, want %s", tt.remote, tt.xff, tt.trusted, got, tt.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/99", "nonsense", "10.0.0.0/8,x"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) = nil error, want one", bad)
		}
	}
}
