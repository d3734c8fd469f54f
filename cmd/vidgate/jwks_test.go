package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// `serve` runs with an identity provider's JWKS and no HS256 secret, reads
// the configured claims, and checks issuer and audience.
func TestServeWithJWKSOnly(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{
			{"kty": "EC", "crv": "P-256", "kid": "idp-1", "use": "sig", "x": enc(pub[1:33]), "y": enc(pub[33:])},
		}})
	}))
	t.Cleanup(idp.Close)

	dir := t.TempDir()
	k := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	t.Setenv("VIDGATE_DATABASE_URL", "sqlite:"+filepath.Join(dir, "jwks.db"))
	t.Setenv("VIDGATE_BUCKET_URL", "file://"+filepath.Join(dir, "bucket"))
	t.Setenv("VIDGATE_PROMPT_KEYS", "k1:"+k)
	t.Setenv("VIDGATE_PROMPT_HASH_KEY", k)
	t.Setenv("VIDGATE_URL_SIGNING_KEY", k)
	t.Setenv("VIDGATE_REDIS_URL", testRedisURL(t))
	t.Setenv("VIDGATE_REDIS_PREFIX", "vgtest-"+t.Name())
	t.Setenv("VIDGATE_SIM_WEBHOOK_SECRET", "whsec_"+k)
	t.Setenv("VIDGATE_ENABLE_SIM", "true")
	t.Setenv("VIDGATE_JWKS_URL", idp.URL+"/jwks.json")
	t.Setenv("VIDGATE_JWT_ISSUER", "https://idp.example.com/")
	t.Setenv("VIDGATE_JWT_AUDIENCE", "vidgate")
	t.Setenv("VIDGATE_JWT_SUBJECT_CLAIM", "uid")
	t.Setenv("VIDGATE_JWT_ROLE_CLAIM", "https://example.com/role")
	if err := run(context.Background(), []string{"migrate"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	base, _, _ := startVidgate(t, "serve", "--addr", "127.0.0.1:0")

	sign := func(aud string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"uid": "dana", "https://example.com/role": "reviewer", "iss": "https://idp.example.com/", "aud": aud,
			"exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "idp-1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if v := jsonString(graphql(t, base, sign("vidgate"), `{ viewer { id role } }`)); !strings.Contains(v, `"dana"`) || !strings.Contains(v, `"REVIEWER"`) {
		t.Errorf("viewer with an IdP token = %s, want dana REVIEWER", v)
	}
	if v := jsonString(graphql(t, base, sign("another-api"), `{ viewer { id } }`)); !strings.Contains(v, "UNAUTHENTICATED") || !strings.Contains(v, "wrong audience") {
		t.Errorf("viewer with a token for another audience = %s, want UNAUTHENTICATED, wrong audience", v)
	}
}

func TestServeNeedsJWKSOrSecret(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--jwks-url", "idp.example.com/keys"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--jwks-url") || strings.Contains(err.Error(), "--jwt-secret") {
		t.Errorf("serve --jwks-url <relative>: %v, want an error about --jwks-url only", err)
	}
}
