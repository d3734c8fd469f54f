package fal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// fuzzNow is the fixed clock of the fuzz targets.
var fuzzNow = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

const (
	fuzzRID  = "0f6c1a3e-7d52-4c8e-9b0a-2f1d3c4b5a69"
	fuzzUser = "usr_fuzz"
	fuzzApp  = "fal-ai/bytedance"
)

// FuzzVerifyWebhook feeds VerifyWebhook arbitrary bodies and fal_app query
// values twice: once with arbitrary fal webhook headers, and once signed
// for the body with a key of the JWKS (served by a loopback server with a
// key made here) so that parsing runs past the signature check. It never
// panics; it fails only with CodeUnauthenticated or CodeInvalidInput; and
// what it accepts has an EventID, a RequestID of the app and a consistent
// Status. The JWKS is fetched once: the clock does not move. Seeds: the
// webhook fixtures, the bodies below and testdata/fuzz/FuzzVerifyWebhook.
func FuzzVerifyWebhook(f *testing.F) {
	const ts, sig = "1772460000", "zz"
	for _, name := range []string{"webhook_ok.json", "webhook_error.json", "webhook_payload_error.json"} {
		f.Add(readFixture(f, name), fuzzApp, fuzzRID, fuzzUser, ts, sig)
	}
	for _, s := range []string{
		`{"request_id":"r1","status":"OK","payload":{"videos":[{"url":"https://v3.fal.media/a.mp4"},{"url":"ftp://x"}],"thumbnail":{"url":"http://x/t.png"}}}`,
		`{"request_id":"r1","status":"OK","payload":{"video":{"url":"javascript:alert(1)"}}}`,
		`{"request_id":"r1","status":"OK","payload":{"video":null,"image":{"url":"https://x/i.png"}}}`,
		`{"request_id":"r1","status":"OK","payload":[1,2]}`,
		`{"request_id":"r1","status":"OK","payload":"null"}`,
		`{"request_id":"r1","status":"ERROR","error":"Invalid status code: 499","payload":null}`,
		`{"request_id":"r1","status":"ERROR","error":"status code 500","payload":{"detail":"Request cancelled","error_type":"cancelled"}}`,
		`{"request_id":"r1","status":"ERROR","payload":{"detail":[{"loc":["body",1,null,{"a":1}],"msg":"bad","type":"value_error"}]}}`,
		`{"request_id":"r1","status":"ERROR","payload":{"detail":{"nested":true}}}`,
		`{"request_id":"../r1","status":"OK"}`,
		`{"request_id":"r1","status":"PENDING"}`,
		`{"request_id":1}`, `null`, ``,
	} {
		f.Add([]byte(s), fuzzApp, fuzzRID, fuzzUser, ts, sig)
	}
	f.Add(readFixture(f, "webhook_ok.json"), "workflows/fal-ai/x", "", "", "", "")
	f.Add(readFixture(f, "webhook_ok.json"), "fal-ai/../x", fuzzRID, fuzzUser, "-9223372036854775808", strings.Repeat("0", 128))
	f.Add(readFixture(f, "webhook_ok.json"), "", fuzzRID, fuzzUser, "1772460000", " "+strings.Repeat("ab", 64)+" ")

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	var fetches atomic.Int64
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{
			{"kty": "RSA", "n": "AQAB", "e": "AQAB"},
			{"kty": "OKP", "crv": "Ed25519", "use": "sig", "x": base64.RawURLEncoding.EncodeToString(pub)},
		}})
	}))
	f.Cleanup(jwks.Close)
	d, err := New(Config{Conn: providers.Conn{APIKey: "key_id:key_secret", BaseURL: "http://127.0.0.1:1", HTTPClient: jwks.Client(), Timeout: 5 * time.Second, Now: func() time.Time { return fuzzNow }}, JWKSURL: jwks.URL})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, app, rid, uid, ts, sig string) {
		r, err := http.NewRequest(http.MethodPost, "http://vidgate.test/webhooks/fal", nil)
		if err != nil {
			t.Fatal(err)
		}
		if app != "" {
			r.URL.RawQuery = url.Values{AppQueryParam: {app}}.Encode()
		}
		r.Header.Set(HeaderRequestID, rid)
		r.Header.Set(HeaderUserID, uid)
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderSignature, sig)
		wh, err := d.VerifyWebhook(r, body)
		fuzzCheckWebhook(t, body, app, wh, err)

		if rid == "" {
			rid = fuzzRID
		}
		if uid == "" {
			uid = fuzzUser
		}
		fuzzSign(r.Header, priv, rid, uid, fuzzNow.Add(-time.Minute), body)
		wh, err = d.VerifyWebhook(r, body)
		if code := providers.ErrorCode(err); code == providers.CodeUnauthenticated {
			t.Fatalf("VerifyWebhook(signed body %q) error = %v, want the signature to verify", body, err)
		}
		fuzzCheckWebhook(t, body, app, wh, err)
		if n := fetches.Load(); n > 1 {
			t.Fatalf("JWKS fetched %d times with a stopped clock, want once", n)
		}
	})
}

// fuzzSign sets fal's webhook headers for body, signed with key.
func fuzzSign(h http.Header, key ed25519.PrivateKey, rid, uid string, ts time.Time, body []byte) {
	tsText := strconv.FormatInt(ts.Unix(), 10)
	sum := sha256.Sum256(body)
	msg := rid + "\n" + uid + "\n" + tsText + "\n" + hex.EncodeToString(sum[:])
	h.Set(HeaderRequestID, rid)
	h.Set(HeaderUserID, uid)
	h.Set(HeaderTimestamp, tsText)
	h.Set(HeaderSignature, hex.EncodeToString(ed25519.Sign(key, []byte(msg))))
}

// fuzzCheckWebhook fails t unless VerifyWebhook's answer keeps the
// WebhookVerifier contract, and its request id names the webhook's app.
func fuzzCheckWebhook(t *testing.T, body []byte, app string, wh providers.Webhook, err error) {
	t.Helper()
	if err != nil {
		if code := providers.ErrorCode(err); code != providers.CodeUnauthenticated && code != providers.CodeInvalidInput {
			t.Fatalf("VerifyWebhook(%q) error = %v (code %s), want UNAUTHENTICATED or INVALID_INPUT", body, err, code)
		}
		return
	}
	if wh.EventID == "" || wh.Status.RequestID == "" {
		t.Fatalf("VerifyWebhook(%q) = %+v, want an EventID and a RequestID", body, wh)
	}
	if app == "" {
		app = fuzzApp
	}
	if !strings.HasPrefix(wh.Status.RequestID, app+"/requests/") {
		t.Fatalf("VerifyWebhook(%q, app %q).RequestID = %q, want one of the app", body, app, wh.Status.RequestID)
	}
	fuzzCheckStatus(t, body, wh.Status)
}

// fuzzCheckStatus fails t unless st is consistent: a known state, progress
// 0..100, a video with an http(s) URL when succeeded, an error when failed,
// never canceled.
func fuzzCheckStatus(t *testing.T, body []byte, st providers.Status) {
	t.Helper()
	if st.Progress < 0 || st.Progress > 100 {
		t.Errorf("%q: Progress = %d, want 0..100", body, st.Progress)
	}
	switch st.State {
	case providers.StateQueued, providers.StateProcessing:
	case providers.StateCanceled:
		// fal documents no canceled state: the driver must not invent one.
		t.Errorf("%q: State %q, want none: fal documents no canceled state", body, st.State)
	case providers.StateSucceeded:
		video := false
		for _, o := range st.Outputs {
			// fal's own check (httpURL): the scheme, not the host.
			if !strings.HasPrefix(o.URL, "https://") && !strings.HasPrefix(o.URL, "http://") {
				t.Errorf("%q: output %+v, want an http(s) URL", body, o)
			}
			video = video || o.Kind == providers.OutputVideo
		}
		if !video {
			t.Errorf("%q: succeeded with outputs %+v, want a video", body, st.Outputs)
		}
	case providers.StateFailed:
		if st.Error == nil || st.Error.Code == "" {
			t.Errorf("%q: failed without a classified Error: %+v", body, st.Error)
		}
	default:
		t.Errorf("%q: unknown State %q", body, st.State)
	}
}

// fuzzStatuses are the HTTP statuses FuzzStatus answers with, picked by a
// fuzzed byte; mostly 200.
var fuzzStatuses = []int{200, 200, 200, 200, 200, 202, 400, 401, 404, 422, 429, 499, 500, 502, 503, 504}

// fuzzTransport answers every request in memory.
type fuzzTransport func(*http.Request) *http.Response

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// FuzzStatus drives Status against an in-memory queue API: the status call
// answers statusBody, the result call resultBody, each with a status
// picked by a fuzzed byte and resultType as X-Fal-Error-Type. Status never
// panics; its errors are *providers.Error with a sane RetryAfter; and what
// it returns is for the request asked about, consistent, and never
// succeeded without a video URL. Seeds: the status, result and error
// fixtures and testdata/fuzz/FuzzStatus.
func FuzzStatus(f *testing.F) {
	completed, result := readFixture(f, "status_completed.json"), readFixture(f, "result_video.json")
	f.Add(completed, result, uint8(0), uint8(0), "")
	f.Add(readFixture(f, "status_in_queue.json"), result, uint8(0), uint8(0), "")
	f.Add(readFixture(f, "status_in_progress.json"), result, uint8(0), uint8(0), "")
	for i, name := range []string{"error_validation.json", "error_content_policy.json", "error_file_download.json",
		"error_request_timeout.json", "error_404.json", "error_429.json", "error_502.html"} {
		f.Add(completed, readFixture(f, name), uint8(0), uint8(6+i), "")
	}
	f.Add(completed, readFixture(f, "error_content_policy.json"), uint8(0), uint8(6), "content_policy_violation")
	f.Add([]byte(`{"status":"COMPLETED","error":"boom","error_type":"runner_disconnected"}`), result, uint8(0), uint8(0), "")
	f.Add([]byte(`{"status":"completed","response_url":"http://fal.test/elsewhere"}`), []byte(`{"videos":[{"url":"http://"}]}`), uint8(0), uint8(0), "")
	f.Add([]byte(`{"status":"CANCELED"}`), result, uint8(0), uint8(0), "")
	f.Add([]byte(`{"status":"SOMETHING"}`), result, uint8(0), uint8(0), "")
	f.Add([]byte(`{"detail":"Unauthorized"}`), result, uint8(7), uint8(0), "")

	const id = fuzzApp + "/requests/" + fuzzRID
	f.Fuzz(func(t *testing.T, statusBody, resultBody []byte, statusPick, resultPick uint8, resultType string) {
		client := &http.Client{Transport: fuzzTransport(func(r *http.Request) *http.Response {
			status, body := fuzzStatuses[int(statusPick)%len(fuzzStatuses)], statusBody
			h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"7"}}
			if !strings.HasSuffix(r.URL.Path, "/status") {
				status, body = fuzzStatuses[int(resultPick)%len(fuzzStatuses)], resultBody
				h.Set("X-Fal-Error-Type", resultType)
			}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		})}
		d, err := New(Config{Conn: providers.Conn{APIKey: "key_id:key_secret", BaseURL: "http://fal.test", HTTPClient: client, Now: func() time.Time { return fuzzNow }}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Status(t.Context(), id)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Code == "" {
				t.Fatalf("Status(%q, %q) error = %v, want a classified *providers.Error", statusBody, resultBody, err)
			}
			if ra := providers.RetryAfter(err); ra < 0 || ra > 24*time.Hour {
				t.Fatalf("Status(%q, %q) RetryAfter = %s, want 0..24h", statusBody, resultBody, ra)
			}
			return
		}
		if st.RequestID != id {
			t.Fatalf("Status(%q) = %+v, want RequestID %q", id, st, id)
		}
		fuzzCheckStatus(t, append(append(statusBody[:len(statusBody):len(statusBody)], '|'), resultBody...), st)
	})
}
