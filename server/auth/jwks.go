package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrKeysUnavailable is wrapped by the *Error returned when a token names a
// JWKS key but the identity provider's key set could not be fetched and no
// copy is cached: the caller is refused, but it is not their fault.
var ErrKeysUnavailable = errors.New("identity provider keys unavailable")

var (
	errUnknownKey  = errors.New("unknown signing key")
	errNoKeyID     = errors.New("token has no kid")
	errAlgMismatch = errors.New("algorithm does not match key")
)

// maxJWKSBytes bounds a key set response; real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// jwk is one usable verification key of a key set.
type jwk struct {
	alg string // "RS256" or "ES256": the only algorithm this key verifies
	pub any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// jwksCache holds an identity provider's signing keys, fetched from its
// JWKS URL. It fetches lazily, on the first token: a key set older than
// refresh is fetched again on next use, and so is one that lacks a token's
// kid (keys rotated at the IdP). Fetches are spaced at least minRefresh
// apart whatever their cause, so a flood of tokens with made-up kids costs
// the IdP one request per minRefresh. When a fetch fails the cached keys
// stay in use.
type jwksCache struct {
	url        string
	client     *http.Client
	refresh    time.Duration
	minRefresh time.Duration
	now        func() time.Time
	log        *slog.Logger

	// fetch is held for the length of a fetch, so concurrent callers wait
	// for one fetch instead of starting their own.
	fetch sync.Mutex

	mu          sync.Mutex
	keys        map[string][]jwk // by kid
	fetchedAt   time.Time        // last successful fetch
	attemptedAt time.Time        // last fetch, successful or not
	lastErr     error            // of the last fetch
}

// key returns the key with id kid that verifies alg.
func (c *jwksCache) key(ctx context.Context, kid, alg string) (jwk, error) {
	keys, stale := c.lookup(kid)
	switch {
	case keys != nil && !stale:
	case keys != nil:
		// Known but due for a refresh: refresh unless another caller is
		// already doing so, and keep using the cached key if that fails.
		if c.fetch.TryLock() {
			c.refreshLocked(ctx)
			c.fetch.Unlock()
			keys, _ = c.lookup(kid)
		}
	default:
		c.fetch.Lock()
		c.refreshLocked(ctx)
		c.fetch.Unlock()
		keys, _ = c.lookup(kid)
	}
	if keys == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.keys) == 0 && c.lastErr != nil {
			return jwk{}, ErrKeysUnavailable
		}
		return jwk{}, errUnknownKey
	}
	for _, k := range keys {
		if k.alg == alg {
			return k, nil
		}
	}
	return jwk{}, errAlgMismatch
}

// lookup returns the cached keys with id kid (nil if none) and whether the
// key set is due for a refresh.
func (c *jwksCache) lookup(kid string) (keys []jwk, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[kid], c.fetchedAt.IsZero() || c.now().Sub(c.fetchedAt) >= c.refresh
}

// refreshLocked fetches the key set unless the last fetch was less than
// minRefresh ago. The caller holds c.fetch.
func (c *jwksCache) refreshLocked(ctx context.Context) {
	c.mu.Lock()
	if !c.attemptedAt.IsZero() && c.now().Sub(c.attemptedAt) < c.minRefresh {
		c.mu.Unlock()
		return
	}
	c.attemptedAt = c.now()
	c.mu.Unlock()

	// A caller that gives up must not cut short the fetch other callers
	// then rely on; the client's timeout bounds it.
	keys, err := c.get(context.WithoutCancel(ctx))

	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err != nil {
		c.log.Warn("auth: fetching the identity provider's keys failed; using cached keys", "url", c.url, "cached_keys", len(c.keys), "err", err)
		return
	}
	c.keys, c.fetchedAt = keys, c.now()
}

// get fetches and parses the key set.
func (c *jwksCache) get(ctx context.Context) (map[string][]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: GET returned %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: read: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks: response larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// parseJWKS parses a JSON Web Key Set (RFC 7517) and keeps the keys vidgate
// can verify with: RSA keys of at least 2048 bits for RS256 and P-256 keys
// for ES256, each with a kid. Others (encryption keys, other algorithms,
// keys without kid) are skipped, since an IdP's set may hold them for
// other clients. Each key verifies only its own algorithm, so an RSA public
// key can never serve as an HS256 secret.
func parseJWKS(body []byte) (map[string][]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: not a JSON Web Key Set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`jwks: not a JSON Web Key Set: no "keys"`)
	}
	keys := map[string][]jwk{}
	for _, k := range set.Keys {
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		var key jwk
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			pub, err := rsaKey(k.N, k.E)
			if err != nil {
				continue
			}
			key = jwk{alg: "RS256", pub: pub}
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			pub, err := ecKey(k.X, k.Y)
			if err != nil {
				continue
			}
			key = jwk{alg: "ES256", pub: pub}
		default:
			continue
		}
		keys[k.Kid] = append(keys[k.Kid], key)
	}
	return keys, nil
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	n, err := b64url(n64)
	if err != nil {
		return nil, err
	}
	e, err := b64url(e64)
	if err != nil {
		return nil, err
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad RSA exponent")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if pub.N.BitLen() < 2048 || exp < 3 || exp%2 == 0 {
		return nil, errors.New("weak or malformed RSA key")
	}
	return pub, nil
}

func ecKey(x64, y64 string) (*ecdsa.PublicKey, error) {
	x, err := b64url(x64)
	if err != nil {
		return nil, err
	}
	y, err := b64url(y64)
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("bad P-256 coordinates")
	}
	// ParseUncompressedPublicKey checks that the point is on the curve.
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
}

// b64url decodes base64url, with or without padding (RFC 7515 omits it,
// some IdPs add it).
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
