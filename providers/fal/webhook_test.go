package fal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

const webhookRID = "0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// webhookDriver returns a driver on clock c whose JWKS is the fake's.
func webhookDriver(t *testing.T, f *fakeFal, c *clock) *Driver {
	t.Helper()
	cfg := f.config()
	cfg.Now = c.Now
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// delivery builds a webhook delivery of fixture to target, signed with key
// at ts; edit may change it after signing.
func delivery(t *testing.T, target, fixture string, key ed25519.PrivateKey, ts time.Time) (*http.Request, []byte) {
	t.Helper()
	body := readFixture(t, fixture)
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	signWebhook(r.Header, key, webhookRID, fakeUser, ts, body)
	return r, body
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	const target = "http://vidgate.test/webhooks/fal?fal_app=fal-ai%2Fbytedance"
	_, stranger, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name      string
		target    string
		fixture   string
		stranger  bool          // sign with a key not in the JWKS
		skew      time.Duration // of the delivery's timestamp
		padded    bool          // JWKS "x" with padding
		edit      func(r *http.Request, body []byte) []byte
		wantCode  providers.Code
		wantState providers.State
		wantErr   providers.Code // of Status.Error
		wantID    string
	}{
		{name: "OK with a video", target: target, fixture: "webhook_ok.json", wantState: providers.StateSucceeded,
			wantID: "fal-ai/bytedance/requests/" + webhookRID + "#OK"},
		{name: "OK, JWKS key padded", target: target, fixture: "webhook_ok.json", padded: true, wantState: providers.StateSucceeded},
		{name: "OK, 299 s late", target: target, fixture: "webhook_ok.json", skew: -299 * time.Second, wantState: providers.StateSucceeded},
		{name: "OK, 299 s early", target: target, fixture: "webhook_ok.json", skew: 299 * time.Second, wantState: providers.StateSucceeded},
		{name: "OK, payload too large", target: target, fixture: "webhook_payload_error.json", wantState: providers.StateProcessing},
		{name: "ERROR, content policy", target: target, fixture: "webhook_error.json", wantState: providers.StateFailed,
			wantErr: providers.CodeContentPolicy, wantID: "fal-ai/bytedance/requests/" + webhookRID + "#ERROR"},
		{name: "no fal_app: the default app", target: "http://vidgate.test/webhooks/fal", fixture: "webhook_ok.json",
			wantState: providers.StateSucceeded, wantID: "fal-ai/bytedance/requests/" + webhookRID + "#OK"},
		{name: "another app", target: "http://vidgate.test/webhooks/fal?fal_app=fal-ai%2Fkling-video", fixture: "webhook_ok.json",
			wantState: providers.StateSucceeded, wantID: "fal-ai/kling-video/requests/" + webhookRID + "#OK"},
		{name: "unknown key", target: target, fixture: "webhook_ok.json", stranger: true, wantCode: providers.CodeUnauthenticated},
		{name: "tampered body", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(_ *http.Request, body []byte) []byte {
				return bytes.Replace(body, []byte("penguin"), []byte("pengu1n"), 1)
			}},
		{name: "other request id header", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(r *http.Request, body []byte) []byte {
				r.Header.Set(HeaderRequestID, "7b21d0c4-1e9a-4f3b-8c5d-6a7e8f9b0c1d")
				return body
			}},
		{name: "stale timestamp", target: target, fixture: "webhook_ok.json", skew: -301 * time.Second, wantCode: providers.CodeUnauthenticated},
		{name: "future timestamp", target: target, fixture: "webhook_ok.json", skew: 301 * time.Second, wantCode: providers.CodeUnauthenticated},
		{name: "timestamp not a number", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(r *http.Request, body []byte) []byte {
				r.Header.Set(HeaderTimestamp, "2026-03-02T14:00:00Z")
				return body
			}},
		{name: "signature not hex", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(r *http.Request, body []byte) []byte {
				r.Header.Set(HeaderSignature, "zz"+r.Header.Get(HeaderSignature)[2:])
				return body
			}},
		{name: "signature base64, not hex", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(r *http.Request, body []byte) []byte {
				r.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString([]byte(r.Header.Get(HeaderSignature)))[:86])
				return body
			}},
		{name: "signature cut short", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(r *http.Request, body []byte) []byte {
				r.Header.Set(HeaderSignature, r.Header.Get(HeaderSignature)[:64])
				return body
			}},
		{name: "no user id", target: target, fixture: "webhook_ok.json", wantCode: providers.CodeUnauthenticated,
			edit: func(r *http.Request, body []byte) []byte { r.Header.Del(HeaderUserID); return body }},
		{name: "invalid fal_app", target: "http://vidgate.test/webhooks/fal?fal_app=..%2Fadmin", fixture: "webhook_ok.json",
			wantCode: providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFal(t)
			f.jwksPadded = tt.padded
			c := newClock()
			d := webhookDriver(t, f, c)
			key := f.signer
			if tt.stranger {
				key = stranger
			}
			r, body := delivery(t, tt.target, tt.fixture, key, c.Now().Add(tt.skew))
			if tt.edit != nil {
				body = tt.edit(r, body)
			}
			wh, err := d.VerifyWebhook(r, body)
			if tt.wantCode != "" {
				if got := providers.ErrorCode(err); got != tt.wantCode {
					t.Errorf("VerifyWebhook(%s) = %+v, %v; want an error with code %s", tt.name, wh, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyWebhook(%s) error = %v", tt.name, err)
			}
			if wh.Status.State != tt.wantState {
				t.Errorf("VerifyWebhook(%s).Status.State = %s, want %s", tt.name, wh.Status.State, tt.wantState)
			}
			if tt.wantID != "" && (wh.EventID != tt.wantID || wh.Status.RequestID != strings.TrimSuffix(strings.TrimSuffix(tt.wantID, "#OK"), "#ERROR")) {
				t.Errorf("VerifyWebhook(%s) = event %q, request %q; want event %q", tt.name, wh.EventID, wh.Status.RequestID, tt.wantID)
			}
			if tt.wantErr != "" && (wh.Status.Error == nil || wh.Status.Error.Code != tt.wantErr) {
				t.Errorf("VerifyWebhook(%s).Status.Error = %v, want code %s", tt.name, wh.Status.Error, tt.wantErr)
			}
			if wh.Status.Error != nil && strings.Contains(wh.Status.Error.Message, testPrompt) {
				t.Errorf("VerifyWebhook(%s).Status.Error.Message = %q, want it free of the prompt", tt.name, wh.Status.Error.Message)
			}
			if tt.wantState == providers.StateProcessing && wh.Status.Progress != 100 {
				t.Errorf("VerifyWebhook(%s).Status.Progress = %d, want 100 (finished: poll for the result)", tt.name, wh.Status.Progress)
			}
		})
	}
}

func TestWebhookRetriesShareAnEventID(t *testing.T) {
	t.Parallel()
	f := newFakeFal(t)
	c := newClock()
	d := webhookDriver(t, f, c)
	const target = "http://vidgate.test/webhooks/fal?fal_app=fal-ai%2Fbytedance"
	r1, b1 := delivery(t, target, "webhook_ok.json", f.signer, c.Now())
	c.Advance(40 * time.Minute) // fal retries over 2 hours, re-signing each try
	r2, b2 := delivery(t, target, "webhook_ok.json", f.signer, c.Now())
	w2, err2 := d.VerifyWebhook(r2, b2)
	c.Advance(-40 * time.Minute)
	w1, err1 := d.VerifyWebhook(r1, b1)
	if err1 != nil || err2 != nil || w1.EventID != w2.EventID {
		t.Errorf("VerifyWebhook(first try, retry) = %q %v, %q %v; want one event id", w1.EventID, err1, w2.EventID, err2)
	}
}

func TestJWKSRotationAndCache(t *testing.T) {
	t.Parallel()
	f := newFakeFal(t)
	c := newClock()
	d := webhookDriver(t, f, c)
	const target = "http://vidgate.test/webhooks/fal?fal_app=fal-ai%2Fbytedance"
	verify := func(key ed25519.PrivateKey) error {
		r, body := delivery(t, target, "webhook_ok.json", key, c.Now())
		_, err := d.VerifyWebhook(r, body)
		return err
	}
	oldKey := f.signer
	steps := []struct {
		name        string
		advance     time.Duration
		key         func() ed25519.PrivateKey
		wantCode    providers.Code
		wantFetches int
	}{
		{"first delivery fetches the JWKS", 0, func() ed25519.PrivateKey { return oldKey }, "", 1},
		{"the next one uses the cache", 30 * time.Second, func() ed25519.PrivateKey { return oldKey }, "", 1},
		{"a new key, within a minute of the last fetch: no refetch", 0, func() ed25519.PrivateKey { return f.rotate() }, providers.CodeUnauthenticated, 1},
		{"a new key, a minute later: refetched and verified", 2 * time.Minute, func() ed25519.PrivateKey { return f.signer }, "", 2},
		{"the old key still verifies from the cache", time.Second, func() ed25519.PrivateKey { return oldKey }, "", 2},
		{"a forged delivery soon after: no refetch", 10 * time.Second, func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }, providers.CodeUnauthenticated, 2},
		{"a day later the cache has expired", 24 * time.Hour, func() ed25519.PrivateKey { return f.signer }, "", 3},
	}
	for _, s := range steps {
		c.Advance(s.advance)
		err := verify(s.key())
		if got := providers.ErrorCode(err); got != s.wantCode {
			t.Errorf("VerifyWebhook(%s) error = %v, want code %q", s.name, err, s.wantCode)
		}
		if got := f.fetches(); got != s.wantFetches {
			t.Errorf("after VerifyWebhook(%s): %d JWKS fetches, want %d", s.name, got, s.wantFetches)
		}
	}
}

func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	f := newFakeFal(t)
	var down atomic.Bool
	down.Store(true)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
			return
		}
		f.serveJWKS(w, r)
	}))
	t.Cleanup(jwks.Close)
	c := newClock()
	cfg := f.config()
	cfg.JWKSURL, cfg.Now = jwks.URL, c.Now
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verify := func() error {
		r, body := delivery(t, "http://vidgate.test/webhooks/fal", "webhook_ok.json", f.signer, c.Now())
		_, err := d.VerifyWebhook(r, body)
		return err
	}
	if got := providers.ErrorCode(verify()); got != providers.CodeUnavailable {
		t.Errorf("VerifyWebhook() with the JWKS down = %s, want %s", got, providers.CodeUnavailable)
	}
	down.Store(false)
	if got := providers.ErrorCode(verify()); got != providers.CodeUnavailable {
		t.Errorf("VerifyWebhook() within a minute of a failed fetch = %s, want %s (no refetch yet)", got, providers.CodeUnavailable)
	}
	c.Advance(time.Minute)
	if err := verify(); err != nil {
		t.Errorf("VerifyWebhook() once the JWKS is back = %v, want nil", err)
	}
}

func TestJWKSFetchedOnceUnderLoad(t *testing.T) {
	t.Parallel()
	f := newFakeFal(t)
	c := newClock()
	d := webhookDriver(t, f, c)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			r, body := delivery(t, "http://vidgate.test/webhooks/fal", "webhook_ok.json", f.signer, c.Now())
			_, errs[i] = d.VerifyWebhook(r, body)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("VerifyWebhook() #%d error = %v, want nil", i, err)
		}
	}
	if got := f.fetches(); got != 1 {
		t.Errorf("%d concurrent deliveries fetched the JWKS %d times, want 1", len(errs), got)
	}
}

func TestDecodeB64(t *testing.T) {
	t.Parallel()
	key := []byte{0xfb, 0xff, 0x3e, 0x01, 0x02, 0x03, 0x04, 0x05}
	tests := []string{
		base64.RawURLEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.StdEncoding.EncodeToString(key),
		" " + base64.URLEncoding.EncodeToString(key) + "\n",
	}
	for _, in := range tests {
		if got, err := decodeB64(in); err != nil || !bytes.Equal(got, key) {
			t.Errorf("decodeB64(%q) = %x, %v; want %x", in, got, err, key)
		}
	}
	if got, err := decodeB64("not*base64"); err == nil {
		t.Errorf("decodeB64(%q) = %x, nil; want an error", "not*base64", got)
	}
}

func TestWebhookTimestampIsSigned(t *testing.T) {
	t.Parallel()
	f := newFakeFal(t)
	c := newClock()
	d := webhookDriver(t, f, c)
	r, body := delivery(t, "http://vidgate.test/webhooks/fal", "webhook_ok.json", f.signer, c.Now())
	// A fresher timestamp on an old signature must not pass.
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(c.Now().Unix()+1, 10))
	if _, err := d.VerifyWebhook(r, body); providers.ErrorCode(err) != providers.CodeUnauthenticated {
		t.Errorf("VerifyWebhook(re-stamped delivery) error = %v, want code %s", err, providers.CodeUnauthenticated)
	}
}

// TestWebhookUserID checks that, with an account configured, a genuinely
// signed delivery for another fal account is refused.
func TestWebhookUserID(t *testing.T) {
	t.Parallel()
	const target = "http://vidgate.test/webhooks/fal?fal_app=fal-ai%2Fbytedance"
	const otherUser = "github|someone-else"
	tests := []struct {
		name       string
		configured string // Config.UserID
		signedFor  string // X-Fal-Webhook-User-Id, signed
		wantCode   providers.Code
	}{
		{"another account", fakeUser, otherUser, providers.CodeUnauthenticated},
		{"our account", fakeUser, fakeUser, ""},
		{"no account configured", "", otherUser, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFal(t)
			c := newClock()
			cfg := f.config()
			cfg.Now, cfg.UserID = c.Now, tt.configured
			d, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			body := readFixture(t, "webhook_ok.json")
			r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
			signWebhook(r.Header, f.signer, webhookRID, tt.signedFor, c.Now(), body)
			wh, err := d.VerifyWebhook(r, body)
			if got := providers.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("VerifyWebhook(signed for %q, configured %q) = %+v, %v; want code %q", tt.signedFor, tt.configured, wh, err, tt.wantCode)
			}
			if err == nil && wh.Status.State != providers.StateSucceeded {
				t.Errorf("VerifyWebhook(signed for %q).Status.State = %s, want %s", tt.signedFor, wh.Status.State, providers.StateSucceeded)
			}
			if err != nil && strings.Contains(err.Error(), otherUser) {
				t.Errorf("VerifyWebhook error %q quotes the other account's id", err)
			}
		})
	}
}

func TestNewRefusesMalformedUserID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"github| spaces", "tab\tid", strings.Repeat("x", 201), "caf\u00e9"} {
		if _, err := New(Config{Conn: providers.Conn{APIKey: fakeKey}, UserID: id}); err == nil {
			t.Errorf("New(UserID %q) error = nil, want an error", id)
		}
	}
}
