package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vidgate/vidgate/jobs"
)

// idp is an identity provider's JWKS endpoint: it serves the keys set last
// with publish, counts the requests it gets, and fails them while down.
type idp struct {
	srv  *httptest.Server
	hits atomic.Int32
	down atomic.Bool

	mu   sync.Mutex
	keys []map[string]string
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	p := &idp{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		if p.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": p.keys})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// publish replaces the key set with keys, by kid.
func (p *idp) publish(t *testing.T, keys map[string]crypto.PublicKey) {
	t.Helper()
	var set []map[string]string
	for kid, pub := range keys {
		set = append(set, jwkJSON(t, kid, pub))
	}
	p.mu.Lock()
	p.keys = set
	p.mu.Unlock()
}

func jwkJSON(t *testing.T, kid string, pub crypto.PublicKey) map[string]string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])}
	}
	t.Fatalf("jwkJSON: unsupported key %T", pub)
	return nil
}

// Keys are generated once: RSA generation is slow under -race.
var (
	rsaKey1, rsaKey2 = mustRSA(), mustRSA()
	ecKey1           = mustEC()
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signKid signs claims with method and key, naming kid in the header.
func signKid(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksAuth returns an Authenticator that trusts p, with JWKSRefresh 10m and
// JWKSMinRefresh 20s on clk.
func jwksAuth(t *testing.T, p *idp, clk *clock, cfg Config) *Authenticator {
	t.Helper()
	cfg.JWKSURL = p.srv.URL + "/.well-known/jwks.json"
	cfg.JWKSRefresh, cfg.JWKSMinRefresh = 10*time.Minute, 20*time.Second
	cfg.Now = clk.now
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func claimsAt(now time.Time, sub, role string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "role": role, "iss": "https://idp.example.com/", "aud": "vidgate",
		"exp": now.Add(time.Hour).Unix()}
}

func wantActor(t *testing.T, a *Authenticator, token string, want jobs.Actor) {
	t.Helper()
	got, err := a.Authenticate(context.Background(), token)
	if err != nil || got != want {
		t.Errorf("Authenticate = %+v, %v, want %+v", got, err, want)
	}
}

func wantRefused(t *testing.T, a *Authenticator, token, reason string) *Error {
	t.Helper()
	_, err := a.Authenticate(context.Background(), token)
	var aerr *Error
	if !errors.As(err, &aerr) || !strings.Contains(aerr.Reason, reason) {
		t.Errorf("Authenticate error = %v, want an *Error with reason containing %q", err, reason)
		return nil
	}
	if strings.Contains(aerr.Error(), token) {
		t.Errorf("Authenticate error %q echoes the token", aerr.Error())
	}
	return aerr
}

func TestJWKSVerifiesRS256AndES256(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.publish(t, map[string]crypto.PublicKey{"rsa1": &rsaKey1.PublicKey, "ec1": &ecKey1.PublicKey})
	a := jwksAuth(t, p, clk, Config{Issuer: "https://idp.example.com/", Audience: "vidgate"})

	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claimsAt(clk.now(), "alice", "user")),
		jobs.Actor{Subject: "alice", Role: jobs.RoleUser})
	wantActor(t, a, signKid(t, jwt.SigningMethodES256, ecKey1, "ec1", claimsAt(clk.now(), "rita", "reviewer")),
		jobs.Actor{Subject: "rita", Role: jobs.RoleReviewer})
	if n := p.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for two tokens, want 1 (cached)", n)
	}
}

func TestJWKSRefuses(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.publish(t, map[string]crypto.PublicKey{"rsa1": &rsaKey1.PublicKey, "ec1": &ecKey1.PublicKey})
	// HS256 is accepted too, as in development: an HS256 token must still
	// not verify with the RSA public key as its secret.
	a := jwksAuth(t, p, clk, Config{Issuer: "https://idp.example.com/", Audience: "vidgate", HS256Secret: secret})
	jwksOnly := jwksAuth(t, p, clk, Config{Issuer: "https://idp.example.com/", Audience: "vidgate"})
	now := clk.now()
	good := claimsAt(now, "alice", "user")
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	der, err := x509.MarshalPKIXPublicKey(&rsaKey1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tests := []struct {
		name   string
		a      *Authenticator
		token  string
		reason string
	}{
		{"forged with the same kid", a, signKid(t, jwt.SigningMethodRS256, rsaKey2, "rsa1", good), "signature is invalid"},
		{"expired", a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"wrong audience", a, signKid(t, jwt.SigningMethodES256, ecKey1, "ec1", with("aud", "someone-else")), "wrong audience"},
		{"wrong issuer", a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", with("iss", "https://evil.example.com/")), "wrong issuer"},
		{"alg none", a, signKid(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa1", good), "algorithm is not accepted"},
		{"HS256 with the RSA key as secret", a, signKid(t, jwt.SigningMethodHS256, pemKey, "rsa1", good), "signature is invalid"},
		{"HS256 with the RSA key DER as secret", a, signKid(t, jwt.SigningMethodHS256, der, "rsa1", good), "signature is invalid"},
		{"HS256 without a secret configured", jwksOnly, signKid(t, jwt.SigningMethodHS256, pemKey, "rsa1", good), "algorithm is not accepted"},
		{"RS384", a, signKid(t, jwt.SigningMethodRS384, rsaKey1, "rsa1", good), "algorithm is not accepted"},
		{"ES256 naming an RSA key", a, signKid(t, jwt.SigningMethodES256, ecKey1, "rsa1", good), "does not match its key"},
		{"no kid", a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "", good), "no kid"},
		{"role claim not a role", a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", with("role", "root")), "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRefused(t, tt.a, tt.token, tt.reason)
		})
	}
}

func TestJWKSConfigurableClaims(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.publish(t, map[string]crypto.PublicKey{"rsa1": &rsaKey1.PublicKey})
	a := jwksAuth(t, p, clk, Config{SubjectClaim: "uid", RoleClaim: "https://example.com/role"})
	claims := jwt.MapClaims{"sub": "not-this", "uid": "u-42", "role": "user", "https://example.com/role": "admin",
		"exp": clk.now().Add(time.Hour).Unix()}
	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claims), jobs.Actor{Subject: "u-42", Role: jobs.RoleAdmin})

	// Compared exactly: "Admin" is not "admin".
	claims["https://example.com/role"] = "Admin"
	wantRefused(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claims), "role")
	claims["https://example.com/role"] = "admin"

	delete(claims, "uid")
	wantRefused(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claims), `"uid"`)
}

// A kid the cache does not know makes it fetch the key set again, so keys
// rotated at the IdP are picked up; a key the IdP stops publishing is
// refused once the cache refreshes.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.publish(t, map[string]crypto.PublicKey{"old": &rsaKey1.PublicKey})
	a := jwksAuth(t, p, clk, Config{})
	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "old", claimsAt(clk.now(), "alice", "user")),
		jobs.Actor{Subject: "alice", Role: jobs.RoleUser})

	p.publish(t, map[string]crypto.PublicKey{"new": &ecKey1.PublicKey})
	clk.advance(30 * time.Second) // past JWKSMinRefresh
	wantActor(t, a, signKid(t, jwt.SigningMethodES256, ecKey1, "new", claimsAt(clk.now(), "alice", "user")),
		jobs.Actor{Subject: "alice", Role: jobs.RoleUser})
	if n := p.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (one more for the unknown kid)", n)
	}

	// The replaced set no longer holds "old": refused, and it is not
	// fetched again within JWKSMinRefresh.
	wantRefused(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "old", claimsAt(clk.now(), "alice", "user")), "does not publish")
	if n := p.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want still 2 (rate limited)", n)
	}
}

// A flood of tokens naming made-up kids costs the IdP one fetch per
// JWKSMinRefresh, however many arrive, and concurrently.
func TestJWKSRefreshRateLimit(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.publish(t, map[string]crypto.PublicKey{"rsa1": &rsaKey1.PublicKey})
	a := jwksAuth(t, p, clk, Config{})
	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claimsAt(clk.now(), "alice", "user")),
		jobs.Actor{Subject: "alice", Role: jobs.RoleUser})

	forge := func(i int) string {
		return signKid(t, jwt.SigningMethodRS256, rsaKey2, fmt.Sprintf("forged-%d", i), claimsAt(clk.now(), "mallory", "admin"))
	}
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = forge(i)
	}
	clk.advance(21 * time.Second)
	var wg sync.WaitGroup
	var accepted atomic.Int32
	for _, tok := range tokens {
		wg.Go(func() {
			if _, err := a.Authenticate(context.Background(), tok); err == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d forged tokens accepted, want 0", n)
	}
	if n := p.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times for 50 unknown kids, want 2 (1 warm-up + 1 refresh)", n)
	}
	wantRefused(t, a, forge(99), "does not publish")
	if n := p.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 within JWKSMinRefresh", n)
	}
	clk.advance(21 * time.Second)
	wantRefused(t, a, forge(100), "does not publish")
	if n := p.hits.Load(); n != 3 {
		t.Errorf("JWKS fetched %d times after JWKSMinRefresh passed, want 3", n)
	}
}

// With the IdP down, keys already cached keep verifying, even past
// JWKSRefresh; tokens for other kids are refused.
func TestJWKSDownWithWarmCache(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.publish(t, map[string]crypto.PublicKey{"rsa1": &rsaKey1.PublicKey})
	a := jwksAuth(t, p, clk, Config{})
	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claimsAt(clk.now(), "alice", "user")),
		jobs.Actor{Subject: "alice", Role: jobs.RoleUser})

	p.down.Store(true)
	clk.advance(time.Hour) // the cached set is due for a refresh, which fails
	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claimsAt(clk.now(), "bob", "user")),
		jobs.Actor{Subject: "bob", Role: jobs.RoleUser})
	if n := p.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (the failed refresh was tried)", n)
	}
	wantRefused(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey2, "rsa2", claimsAt(clk.now(), "bob", "user")), "does not publish")
}

// With the IdP down and nothing cached, tokens are refused with a reason
// that does not blame the caller.
func TestJWKSDownCold(t *testing.T) {
	t.Parallel()
	p, clk := newIdP(t), newClock()
	p.down.Store(true)
	a := jwksAuth(t, p, clk, Config{})
	aerr := wantRefused(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claimsAt(clk.now(), "alice", "user")),
		"identity provider keys unavailable")
	if aerr != nil && !errors.Is(aerr, ErrKeysUnavailable) {
		t.Errorf("error %v does not wrap ErrKeysUnavailable", aerr)
	}

	// Once the IdP is back (and JWKSMinRefresh has passed), tokens verify.
	p.down.Store(false)
	p.publish(t, map[string]crypto.PublicKey{"rsa1": &rsaKey1.PublicKey})
	clk.advance(21 * time.Second)
	wantActor(t, a, signKid(t, jwt.SigningMethodRS256, rsaKey1, "rsa1", claimsAt(clk.now(), "alice", "user")),
		jobs.Actor{Subject: "alice", Role: jobs.RoleUser})
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New(no JWKS URL, no secret) succeeded, want an error")
	}
	if _, err := New(Config{JWKSURL: "idp.example.com/jwks"}); err == nil {
		t.Error("New(relative JWKS URL) succeeded, want an error")
	}
	a, err := New(Config{JWKSURL: "https://idp.example.com/.well-known/jwks.json"})
	if err != nil {
		t.Fatalf("New(JWKS only) = %v, want an Authenticator", err)
	}
	if _, err := a.Issue("alice", jobs.RoleUser, time.Hour); err == nil {
		t.Error("Issue without an HS256 secret succeeded, want an error")
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := jwkJSON(t, "good", &rsaKey1.PublicKey)
	enc := jwkJSON(t, "enc", &rsaKey1.PublicKey)
	enc["use"] = "enc"
	ps := jwkJSON(t, "ps", &rsaKey1.PublicKey)
	ps["alg"] = "PS256"
	noKid := jwkJSON(t, "", &rsaKey1.PublicKey)
	offCurve := jwkJSON(t, "offcurve", &ecKey1.PublicKey)
	offCurve["y"] = offCurve["x"]
	p384 := jwkJSON(t, "p384", &ecKey1.PublicKey)
	p384["crv"] = "P-384"
	oct := map[string]string{"kty": "oct", "kid": "oct", "k": "c2VjcmV0"}
	body, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		good, enc, ps, noKid, offCurve, p384, oct, jwkJSON(t, "weak", &weak.PublicKey),
	}})
	keys, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || len(keys["good"]) != 1 || keys["good"][0].alg != "RS256" {
		t.Errorf("parseJWKS kept %v, want only the RS256 key \"good\"", keys)
	}
	if _, err := parseJWKS([]byte(`{"not":"a key set"}`)); err == nil {
		t.Error(`parseJWKS({"not":"a key set"}) succeeded, want an error`)
	}
}

// FuzzParseJWKS: whatever an identity provider serves, parsing never panics
// and keeps only keys vidgate can verify with safely.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"b","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	enc := base64.RawURLEncoding.EncodeToString
	ecPoint, err := ecKey1.PublicKey.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r", "use": "sig", "n": enc(rsaKey1.N.Bytes()), "e": enc(big.NewInt(int64(rsaKey1.E)).Bytes())},
		{"kty": "EC", "kid": "e", "crv": "P-256", "x": enc(ecPoint[1:33]), "y": enc(ecPoint[33:])},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKS(body)
		if err != nil {
			return
		}
		for kid, ks := range keys {
			if kid == "" {
				t.Fatal("kept a key without kid")
			}
			for _, k := range ks {
				switch pub := k.pub.(type) {
				case *rsa.PublicKey:
					if k.alg != "RS256" || pub.N.BitLen() < 2048 {
						t.Fatalf("kept RSA key %q for %s with %d bits", kid, k.alg, pub.N.BitLen())
					}
				case *ecdsa.PublicKey:
					if k.alg != "ES256" || pub.Curve != elliptic.P256() {
						t.Fatalf("kept EC key %q for %s", kid, k.alg)
					}
				default:
					t.Fatalf("kept key %q of type %T", kid, k.pub)
				}
			}
		}
	})
}
