package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vidgate/vidgate/jobs"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func newAuth(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	if cfg.HS256Secret == nil {
		cfg.HS256Secret = secret
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssueAndAuthenticate(t *testing.T) {
	t.Parallel()
	a := newAuth(t, Config{Issuer: "vidgate", Audience: "api"})
	tok, err := a.Issue("alice", jobs.RoleReviewer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Authenticate(context.Background(), tok)
	if err != nil || got != (jobs.Actor{Subject: "alice", Role: jobs.RoleReviewer}) {
		t.Errorf("Authenticate(issued) = %+v, %v, want alice reviewer", got, err)
	}
}

func TestAuthenticateRefuses(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a := newAuth(t, Config{Issuer: "vidgate", Audience: "api"})
	good := jwt.MapClaims{"sub": "alice", "role": "user", "iss": "vidgate", "aud": "api", "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name, token, want string
	}{
		{"forged", sign(t, jwt.SigningMethodHS256, []byte("another secret, 32 bytes long!!!"), good), "signature is invalid"},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"no expiry", sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), "no expiry"},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secret, with("iss", "evil")), "wrong issuer"},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secret, with("aud", "other")), "wrong audience"},
		{"unknown role", sign(t, jwt.SigningMethodHS256, secret, with("role", "root")), "role"},
		{"no subject", sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)), "sub"},
		// Roles are compared exactly: "Admin" is not a role an IdP was
		// configured to grant.
		{"role in capitals", sign(t, jwt.SigningMethodHS256, secret, with("role", "Admin")), "role"},
		{"role with spaces", sign(t, jwt.SigningMethodHS256, secret, with("role", "admin ")), "role"},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, with("iat", now.Add(5*time.Minute).Unix())), "issued in the future"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), "algorithm is not accepted"},
		{"garbage", "not-a-jwt", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := a.Authenticate(context.Background(), tt.token)
			var aerr *Error
			if !errors.As(err, &aerr) || !strings.Contains(aerr.Reason, tt.want) {
				t.Errorf("Authenticate(%s) error = %v, want reason containing %q", tt.name, err, tt.want)
			}
		})
	}
}

// A clock a few seconds ahead of ours is not a token from the future.
func TestIssuedAtLeeway(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a := newAuth(t, Config{})
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "role": "user",
		"iat": now.Add(10 * time.Second).Unix(), "exp": now.Add(time.Hour).Unix()})
	if got, err := a.Authenticate(context.Background(), tok); err != nil || got.Subject != "alice" {
		t.Errorf("Authenticate(iat 10s ahead) = %+v, %v, want alice", got, err)
	}
}

func TestFromRequest(t *testing.T) {
	t.Parallel()
	a := newAuth(t, Config{})
	tok, _ := a.Issue("bob", jobs.RoleUser, time.Hour)
	tests := []struct {
		header  string
		wantErr bool
	}{
		{"Bearer " + tok, false},
		{"bearer " + tok, false},
		{"", true},
		{"Basic Ym9iOnB3", true},
		{"Bearer ", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/graphql", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		got, err := a.FromRequest(r)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got.Subject != "bob") {
			t.Errorf("FromRequest(%q) = %+v, %v, want error %v", tt.header, got, err, tt.wantErr)
		}
	}
}

func TestNewRefusesShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{HS256Secret: []byte("short")}); err == nil {
		t.Error("New(short secret) succeeded, want an error")
	}
}
