package providers

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCallbackToken(t *testing.T) {
	t.Parallel()
	if _, err := NewCallbackToken("acme", "short"); err == nil || !strings.HasPrefix(err.Error(), "acme:") {
		t.Errorf(`NewCallbackToken("short") = %v, want an error naming the vendor`, err)
	}
	off, err := NewCallbackToken("acme", "")
	if err != nil || off.On() {
		t.Fatalf(`NewCallbackToken("") = %v, %v; want off`, off.On(), err)
	}
	secret := "0123456789abcdef-secret"
	tok, err := NewCallbackToken("acme", secret)
	if err != nil || !tok.On() {
		t.Fatalf("NewCallbackToken = %v, %v", tok.On(), err)
	}

	u, err := tok.URL("acme", "https://vg.example/webhooks/acme?job=j1&attempt=2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "job=j1") || !strings.Contains(u, "attempt=2") || !strings.Contains(u, "token="+secret) {
		t.Errorf("URL = %s, want the webhook URL's query kept and the token added", u)
	}
	for _, bad := range []string{"", "/relative", "ftp://host/x", "http://", "::"} {
		if _, err := tok.URL("acme", bad); ErrorCode(err) != CodeInvalidInput {
			t.Errorf("URL(%q) error = %v, want INVALID_INPUT", bad, err)
		}
	}

	tests := []struct {
		name   string
		tok    CallbackToken
		target string
		ok     bool
	}{
		{"genuine", tok, u, true},
		{"no token", tok, "https://vg.example/webhooks/acme?job=j1", false},
		{"wrong token", tok, "https://vg.example/webhooks/acme?token=0123456789abcdef-secreT", false},
		{"prefix of the token", tok, "https://vg.example/webhooks/acme?token=0123456789abcdef", false},
		{"callbacks off", off, u, false},
	}
	for _, tt := range tests {
		err := tt.tok.Verify("acme", httptest.NewRequest("POST", tt.target, nil))
		if (err == nil) != tt.ok {
			t.Errorf("%s: Verify = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil {
			if ErrorCode(err) != CodeUnauthenticated {
				t.Errorf("%s: Verify code = %s, want UNAUTHENTICATED", tt.name, ErrorCode(err))
			}
			if strings.Contains(err.Error(), secret[:8]) {
				t.Errorf("%s: Verify error %q quotes the token", tt.name, err)
			}
		}
	}
}
