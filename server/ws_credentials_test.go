package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// TestJWKSWebSocket: a token from the identity provider, RS256 or ES256 and
// verified through its JWKS, authenticates a WebSocket's connection_init
// like an HTTP request, and its subscription receives data; a token signed
// by a key the JWKS does not hold is closed with 4401, and so is one that
// names a published kid but was signed by another key.
func TestJWKSWebSocket(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	ecPoint, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	jwks := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": enc(rsaKey.N.Bytes()), "e": enc(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": enc(ecPoint[1:33]), "y": enc(ecPoint[33:])},
	}}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(idp.Close)

	const issuer, audience = "https://idp.example.com/", "vidgate"
	sign := func(method jwt.SigningMethod, key any, kid, sub string) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": sub, "role": "user", "iss": issuer, "aud": audience,
			"exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		// JWKS only: no HS256 secret, so only the provider's keys verify.
		authn, err := auth.New(auth.Config{JWKSURL: idp.URL + "/.well-known/jwks.json", Issuer: issuer, Audience: audience})
		if err != nil {
			t.Fatal(err)
		}
		b := liveBroker(t)
		e := newEnvAuth(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: b, MaxConnectionsPerIdentity: -1}, authn)
		e.store.OnCommit(jobs.PublishChanges(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
		e.tokens["alice-rs256"] = sign(jwt.SigningMethodRS256, rsaKey, "rsa-1", "alice")
		e.tokens["alice-es256"] = sign(jwt.SigningMethodES256, ecKey, "ec-1", "alice")
		e.tokens["unknown-kid"] = sign(jwt.SigningMethodRS256, strangerKey, "rsa-2", "alice")
		e.tokens["wrong-key"] = sign(jwt.SigningMethodRS256, strangerKey, "rsa-1", "alice")

		id := e.createID(t, "alice-rs256", "a job made with a JWKS token")

		// RS256: the subscription hears the job's state, then a change made
		// over HTTP with the ES256 token.
		canceled := make(chan struct{})
		go func() {
			defer close(canceled)
			time.Sleep(300 * time.Millisecond)
			post(e.url, e.tokens["alice-es256"], `mutation($id: ID!) { cancelVideoJob(id: $id) { id } }`, map[string]any{"id": id})
		}()
		var seen []string
		o := e.subscribeFirst(t, "alice-rs256", `subscription($id: ID!) { jobStatus(id: $id) { id status } }`, map[string]any{"id": id}, 5*time.Second,
			func(d map[string]any) bool {
				s, _ := d["jobStatus"].(map[string]any)["status"].(string)
				seen = append(seen, s)
				return s == "CANCELED"
			})
		<-canceled
		if o.code != "" || o.get("jobStatus.id") != id || len(seen) < 2 || seen[0] != "QUEUED" || seen[len(seen)-1] != "CANCELED" {
			t.Errorf("jobStatus over a WebSocket with an RS256 JWKS token = %q %v, heard %v; want QUEUED then CANCELED", o.code, o.data, seen)
		}
		// ES256: the subscription's first message is the job's state.
		o = e.subscribeFirst(t, "alice-es256", `subscription($id: ID!) { jobStatus(id: $id) { id status } }`, map[string]any{"id": id}, 5*time.Second, nil)
		if o.code != "" || o.get("jobStatus.status") != "CANCELED" {
			t.Errorf("jobStatus over a WebSocket with an ES256 JWKS token = %q %v, want CANCELED", o.code, o.data)
		}

		// Keys the provider did not publish: closed with 4401, saying why
		// without echoing the token.
		for _, who := range []string{"unknown-kid", "wrong-key"} {
			_, typ, err := e.wsInit(t, who)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4401 || !strings.HasPrefix(ce.Text, "Unauthorized") {
				t.Errorf("connection_init with a %s token = %q, %v; want close 4401 Unauthorized", who, typ, err)
			} else if strings.Contains(ce.Text, e.tokens[who]) {
				t.Errorf("close reason %q echoes the token", ce.Text)
			}
			// The same token over HTTP is 401 UNAUTHENTICATED.
			if r := e.do(t, who, `{ jobs(first: 1) { edges { node { id } } } }`, nil); r.status != http.StatusUnauthorized || len(r.Errors) == 0 || r.Errors[0].code() != "UNAUTHENTICATED" {
				t.Errorf("HTTP with a %s token = %d %+v, want 401 UNAUTHENTICATED", who, r.status, r.Errors)
			}
		}
	})
}

// TestAPIKeyWebSocket: a partner app's API key is the same credential in a
// WebSocket's connection_init as over HTTP: it subscribes while valid, and
// once revoked, or when unknown, the connection is closed with 4401.
func TestAPIKeyWebSocket(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		keys := jobs.NewStore(db, nil)
		authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32), Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		b := liveBroker(t)
		e := newEnvAuth(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: b, MaxConnectionsPerIdentity: -1}, authn)
		e.store.OnCommit(jobs.PublishChanges(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
		key, k, err := keys.CreateAPIKey(ctx, "partner-7", jobs.RoleUser, "shop")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens["partner"] = key
		e.tokens["unknown"] = "vg_nope_" + strings.Repeat("x", 32)

		id := e.createID(t, "partner", "a job made with an API key")
		o := e.subscribeFirst(t, "partner", `subscription($id: ID!) { jobStatus(id: $id) { id status } }`, map[string]any{"id": id}, 5*time.Second, nil)
		if o.code != "" || o.get("jobStatus.id") != id || o.get("jobStatus.status") != "QUEUED" {
			t.Errorf("jobStatus over a WebSocket with an API key = %q %v, want the QUEUED job", o.code, o.data)
		}

		if err := keys.RevokeAPIKey(ctx, k.Prefix); err != nil {
			t.Fatal(err)
		}
		for _, who := range []string{"partner", "unknown"} {
			_, typ, err := e.wsInit(t, who)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4401 {
				t.Errorf("connection_init with a revoked or unknown API key (%s) = %q, %v; want close 4401", who, typ, err)
			} else if strings.Contains(ce.Text, e.tokens[who]) {
				t.Errorf("close reason %q echoes the key", ce.Text)
			}
		}
	})
}
