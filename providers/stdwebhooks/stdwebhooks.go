package stdwebhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way.
const DefaultTolerance = 5 * time.Minute

const secretPrefix = "whsec_"

// Errors returned by Verify; each is wrapped with detail.
var (
	ErrMissingHeaders   = errors.New("stdwebhooks: missing webhook headers")
	ErrInvalidTimestamp = errors.New("stdwebhooks: invalid timestamp")
	ErrTimestampTooOld  = errors.New("stdwebhooks: timestamp too old")
	ErrTimestampTooNew  = errors.New("stdwebhooks: timestamp too far in the future")
	ErrNoMatch          = errors.New("stdwebhooks: no matching signature")
)

// DecodeSecret returns the HMAC key of a secret: the standard base64 decoding
// of what follows "whsec_" (the prefix is optional).
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("stdwebhooks: decode secret: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("stdwebhooks: empty secret")
	}
	return key, nil
}

// NewSecret returns a fresh random secret, "whsec_" and the base64 of 32
// random bytes.
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// sign returns the base64 HMAC-SHA256 of "{id}.{ts}.{body}" under key.
func sign(key []byte, id string, ts int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Signer signs deliveries with one secret. It is safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for secret ("whsec_…").
func NewSigner(secret string) (*Signer, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature value, "v1,<base64>", for a delivery.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(sign(s.key, id, ts.Unix(), body))
}

// SetHeaders sets the three Standard Webhooks headers on h for a delivery.
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}

// Verifier checks deliveries against one or more secrets. It is safe for
// concurrent use.
type Verifier struct {
	keys      [][]byte
	now       func() time.Time
	tolerance time.Duration
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock makes the Verifier read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithTolerance replaces DefaultTolerance.
func WithTolerance(d time.Duration) Option { return func(v *Verifier) { v.tolerance = d } }

// NewVerifier returns a Verifier that accepts a delivery signed with any of
// secrets: during a rotation, pass the new secret and the old one.
func NewVerifier(secrets []string, opts ...Option) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("stdwebhooks: no secrets")
	}
	v := &Verifier{now: time.Now, tolerance: DefaultTolerance}
	for _, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
	}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// Verify checks the headers of a delivery against its body and returns its
// webhook-id. It returns an error wrapping ErrMissingHeaders,
// ErrInvalidTimestamp, ErrTimestampTooOld, ErrTimestampTooNew or ErrNoMatch.
// Signatures of versions other than v1 are ignored; signatures are compared in
// constant time.
func (v *Verifier) Verify(h http.Header, body []byte) (id string, err error) {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return "", ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrInvalidTimestamp, tsText)
	}
	now := v.now().Unix()
	tol := int64(v.tolerance / time.Second)
	switch {
	case ts < now-tol:
		return "", fmt.Errorf("%w: %d is %ds before now", ErrTimestampTooOld, ts, now-ts)
	case ts > now+tol:
		return "", fmt.Errorf("%w: %d is %ds after now", ErrTimestampTooNew, ts, ts-now)
	}
	want := make([][]byte, len(v.keys))
	for i, key := range v.keys {
		want[i] = sign(key, id, ts, body)
	}
	for sig := range strings.FieldsSeq(sigs) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return id, nil
			}
		}
	}
	return "", ErrNoMatch
}
