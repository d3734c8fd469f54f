package fal

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// Webhook headers.
const (
	HeaderRequestID = "X-Fal-Webhook-Request-Id"
	HeaderUserID    = "X-Fal-Webhook-User-Id"
	HeaderTimestamp = "X-Fal-Webhook-Timestamp"
	HeaderSignature = "X-Fal-Webhook-Signature"
)

// WebhookTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way.
const WebhookTolerance = 300 * time.Second

// Key cache timing; see the package doc.
const (
	keysMaxAge       = 24 * time.Hour
	keysRefetchEvery = time.Minute
	maxJWKSBytes     = 64 << 10
)

// Errors of webhook verification, wrapped in a *providers.Error.
var (
	ErrMissingHeaders = errors.New("fal: missing webhook headers")
	ErrTimestamp      = errors.New("fal: webhook timestamp invalid or out of tolerance")
	ErrNoMatch        = errors.New("fal: no key of the JWKS verifies the signature")
	ErrNoKeys         = errors.New("fal: no usable webhook keys")
	ErrOtherUser      = errors.New("fal: webhook user id is not the configured account")
)

// webhookBody is fal's webhook payload.
type webhookBody struct {
	RequestID        string          `json:"request_id"`
	GatewayRequestID string          `json:"gateway_request_id"`
	Status           string          `json:"status"`
	Payload          json.RawMessage `json:"payload"`
	Error            string          `json:"error"`
	PayloadError     string          `json:"payload_error"`
}

// statusCodeRE matches the status code in a webhook's error, "Invalid
// status code: 422".
var statusCodeRE = regexp.MustCompile(`status code:? (\d{3})`)

// VerifyWebhook verifies a delivery's Ed25519 signature and timestamp and
// parses the request's outcome it carries. See the package doc for the
// scheme, the key cache, EventID and the request id's app path.
func (d *Driver) VerifyWebhook(r *http.Request, body []byte) (providers.Webhook, error) {
	if err := d.verifySignature(r, body); err != nil {
		if errors.Is(err, ErrNoKeys) {
			return providers.Webhook{}, &providers.Error{Code: providers.CodeUnavailable,
				Message: "fal webhook: cannot load the webhook keys", Err: err}
		}
		return providers.Webhook{}, &providers.Error{Code: providers.CodeUnauthenticated,
			Message: "fal webhook: signature does not verify", Err: err}
	}
	// The signature covers the user id, so it is the account fal ran the
	// request under; fal signs every account's deliveries with the same
	// keys, and another account's request is not ours to act on.
	if d.userID != "" && r.Header.Get(HeaderUserID) != d.userID {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeUnauthenticated,
			Message: "fal webhook: delivery for another fal account", Err: ErrOtherUser}
	}
	var wb webhookBody
	if err := json.Unmarshal(body, &wb); err != nil {
		return providers.Webhook{}, &providers.Error{Code: providers.CodeInvalidInput,
			Message: "fal webhook: body is not a webhook payload", Err: err}
	}
	app := d.defaultApp
	if r.URL != nil {
		app = cmp.Or(r.URL.Query().Get(AppQueryParam), app)
	}
	if a, err := appOf(app); err != nil || a != app || !requestIDRE.MatchString(wb.RequestID) {
		return providers.Webhook{}, providers.Errorf(providers.CodeInvalidInput,
			"fal webhook: request %q of app %q is not a request id", providers.Clip(wb.RequestID, 60), providers.Clip(app, 60))
	}
	id := requestIDOf(app, wb.RequestID)
	var st providers.Status
	switch wb.Status {
	case "OK":
		if wb.PayloadError != "" || len(wb.Payload) == 0 || string(wb.Payload) == "null" {
			// Finished, but the result did not fit in the delivery:
			// Progress 100 makes the engine poll Status, which fetches it.
			st = providers.Status{RequestID: id, State: providers.StateProcessing, Progress: 100}
		} else {
			st = resultStatus(id, wb.Payload)
		}
	case "ERROR":
		code := 0
		if m := statusCodeRE.FindStringSubmatch(wb.Error); m != nil {
			code, _ = strconv.Atoi(m[1])
		}
		payload := []byte(wb.Payload)
		if len(wb.Payload) == 0 || string(wb.Payload) == "null" {
			payload = []byte(`{"detail":` + quote(wb.Error) + `}`)
		}
		st = classify(code, "", payload, d.api.Redactor().Redact).status(id)
	default:
		return providers.Webhook{}, providers.Errorf(providers.CodeInvalidInput,
			"fal webhook: unknown status %q", providers.Clip(wb.Status, 20))
	}
	return providers.Webhook{EventID: id + "#" + wb.Status, Status: st}, nil
}

// verifySignature checks the headers of a delivery against its body.
func (d *Driver) verifySignature(r *http.Request, body []byte) error {
	rid, uid := r.Header.Get(HeaderRequestID), r.Header.Get(HeaderUserID)
	tsText, sigHex := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature)
	if rid == "" || uid == "" || tsText == "" || sigHex == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrTimestamp, providers.Clip(tsText, 20))
	}
	if skew := d.api.Now().Sub(time.Unix(ts, 0)); skew > WebhookTolerance || skew < -WebhookTolerance {
		return fmt.Errorf("%w: %s off", ErrTimestamp, skew.Round(time.Second))
	}
	sig, err := hex.DecodeString(strings.TrimSpace(sigHex))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is not %d hex-encoded bytes", ErrNoMatch, ed25519.SignatureSize)
	}
	sum := sha256.Sum256(body)
	msg := []byte(rid + "\n" + uid + "\n" + tsText + "\n" + hex.EncodeToString(sum[:]))
	return d.keys.verify(r.Context(), msg, sig)
}

// keySet is fal's webhook keys, fetched from its JWKS and cached. It is
// safe for concurrent use.
type keySet struct {
	url     string
	client  *http.Client
	timeout time.Duration
	now     func() time.Time

	fetchMu sync.Mutex // held while fetching: one fetch at a time

	mu        sync.Mutex // guards the fields below
	keys      []ed25519.PublicKey
	fetchedAt time.Time // of keys
	triedAt   time.Time // of the last fetch, successful or not
}

// verify reports whether any key verifies sig over msg. It fetches the key
// set when the cache is empty or older than keysMaxAge, and again when no
// cached key verifies (fal may have added one), at most every
// keysRefetchEvery. It returns ErrNoKeys when it has no usable keys.
func (k *keySet) verify(ctx context.Context, msg, sig []byte) error {
	keys, fresh := k.cached()
	fetched := false
	if !fresh {
		var err error
		if keys, fetched, err = k.refresh(ctx); len(keys) == 0 {
			return fmt.Errorf("%w: %v", ErrNoKeys, err)
		}
	}
	if anyVerifies(keys, msg, sig) {
		return nil
	}
	if !fetched {
		// The keys may also come from a fetch another delivery made while
		// this one waited.
		if keys, _, _ = k.refresh(ctx); anyVerifies(keys, msg, sig) {
			return nil
		}
	}
	return ErrNoMatch
}

func anyVerifies(keys []ed25519.PublicKey, msg, sig []byte) bool {
	for _, key := range keys {
		if ed25519.Verify(key, msg, sig) {
			return true
		}
	}
	return false
}

// cached returns the cached keys and whether they are younger than
// keysMaxAge.
func (k *keySet) cached() ([]ed25519.PublicKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cachedLocked()
}

// refresh fetches the key set unless a fetch was tried within
// keysRefetchEvery, and returns the usable keys and whether it fetched
// them now. A failed fetch leaves the cache as it was.
func (k *keySet) refresh(ctx context.Context) ([]ed25519.PublicKey, bool, error) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.mu.Lock()
	recent := !k.triedAt.IsZero() && k.now().Sub(k.triedAt) < keysRefetchEvery
	k.mu.Unlock()
	if recent {
		// Another caller has just fetched (or failed to): use its keys.
		keys, _ := k.cached()
		return keys, false, errors.New("fetched less than a minute ago")
	}
	keys, err := k.fetch(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.triedAt = k.now()
	if err != nil {
		keys, _ := k.cachedLocked()
		return keys, false, err
	}
	k.keys, k.fetchedAt = keys, k.triedAt
	return keys, true, nil
}

func (k *keySet) cachedLocked() ([]ed25519.PublicKey, bool) {
	if len(k.keys) == 0 || k.now().Sub(k.fetchedAt) >= keysMaxAge {
		return nil, false
	}
	return k.keys, true
}

// jwk is the part of a JSON Web Key the driver reads.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Use string `json:"use"`
}

// fetch loads the JWKS and returns its Ed25519 keys; an error if it cannot,
// or if there are none.
func (k *keySet) fetch(ctx context.Context) ([]ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", providers.WithoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: HTTP %d", resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	var keys []ed25519.PublicKey
	for _, j := range set.Keys {
		if j.Kty != "OKP" || j.Crv != "Ed25519" || (j.Use != "" && j.Use != "sig") {
			continue
		}
		if x, err := decodeB64(j.X); err == nil && len(x) == ed25519.PublicKeySize {
			keys = append(keys, ed25519.PublicKey(x))
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("fetch JWKS: no Ed25519 keys")
	}
	return keys, nil
}

// decodeB64 decodes base64url leniently: with or without padding, and the
// standard alphabet too.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
