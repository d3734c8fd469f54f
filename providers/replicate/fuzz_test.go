package replicate

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// fuzzNow is the fixed clock of the fuzz targets.
var fuzzNow = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

// fuzzPredictions are the fixtures that seed both targets.
var fuzzPredictions = []string{
	"prediction_starting.json", "prediction_processing.json", "prediction_succeeded.json",
	"prediction_failed_input.json", "prediction_failed_nsfw.json", "prediction_canceled.json",
}

// FuzzVerifyWebhook feeds VerifyWebhook arbitrary bodies twice: once with
// arbitrary Standard Webhooks headers, and once signed for the body (with
// the fuzzed webhook-id) so that parsing runs past the signature check. It
// never panics; it fails only with CodeUnauthenticated (the arbitrary
// headers) or CodeInvalidInput (a body that is not a prediction); and what
// it accepts has an EventID, a RequestID and a consistent Status. Seeds:
// the prediction fixtures, the bodies below and
// testdata/fuzz/FuzzVerifyWebhook.
func FuzzVerifyWebhook(f *testing.F) {
	const id, ts, sig = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	for _, name := range fuzzPredictions {
		f.Add(readFixture(f, name), id, ts, sig)
	}
	for _, s := range []string{
		`{"id":"p1","status":"succeeded","output":["https://replicate.delivery/a.jpg","https://replicate.delivery/b.mp4"]}`,
		`{"id":"p1","status":"succeeded","output":{"video":"https://replicate.delivery/v.webm","poster":"https://replicate.delivery/p.png"}}`,
		`{"id":"p1","status":"succeeded","output":"data:video/mp4;base64,AAAA"}`,
		`{"id":"p1","status":"succeeded","output":"https:///no-host.mp4"}`,
		`{"id":"p1","status":"succeeded","output":[1,null,{"url":"https://x.test/a.mp4"}]}`,
		`{"id":"p1","status":"processing","logs":"999%| 5%|"}`,
		`{"id":"p1","status":"failed","error":{"detail":"CUDA out of memory"}}`,
		`{"id":"p1","status":"aborted","input":"not an object"}`,
		`{"id":"p1","status":"starting","input":{"prompt":7,"image":{"url":"x"}}}`,
		`{"id":"p1","status":"succeeded","completed_at":"yesterday"}`,
		`{"id":"","status":"starting"}`,
		`{"id":"p1","status":"queued"}`,
		`null`, `"x"`, ``,
	} {
		f.Add([]byte(s), id, ts, sig)
	}

	d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: "http://127.0.0.1:1", Now: func() time.Time { return fuzzNow }}, WebhookSecrets: []string{testSecret}})
	if err != nil {
		f.Fatal(err)
	}
	signer, err := stdwebhooks.NewSigner(testSecret)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string) {
		r, err := http.NewRequest(http.MethodPost, "http://vidgate.test/webhooks/replicate", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set(stdwebhooks.HeaderID, id)
		r.Header.Set(stdwebhooks.HeaderTimestamp, ts)
		r.Header.Set(stdwebhooks.HeaderSignature, sig)
		wh, err := d.VerifyWebhook(r, body)
		fuzzCheckWebhook(t, body, wh, err)

		if id == "" {
			id = "msg_fuzz"
		}
		signer.SetHeaders(r.Header, id, fuzzNow, body)
		wh, err = d.VerifyWebhook(r, body)
		if code := providers.ErrorCode(err); code == providers.CodeUnauthenticated {
			t.Fatalf("VerifyWebhook(signed body %q) error = %v, want the signature to verify", body, err)
		}
		fuzzCheckWebhook(t, body, wh, err)
		if err == nil && wh.EventID != id {
			t.Fatalf("VerifyWebhook(signed body %q).EventID = %q, want the webhook-id %q", body, wh.EventID, id)
		}
	})
}

// fuzzStatuses are the HTTP statuses FuzzStatus answers with, picked by a
// fuzzed byte; mostly 200.
var fuzzStatuses = []int{200, 200, 200, 200, 200, 201, 400, 401, 404, 409, 422, 429, 500, 503}

// FuzzStatus drives Status against an in-memory API that answers the fuzzed
// body (and, for a few picks, a non-2xx status and a Retry-After). Status
// never panics; its errors are classified (a malformed 200 is
// CodeUnavailable, a prediction it cannot read CodeUnknown, anything else
// the status's class or CodeContentPolicy) with a sane RetryAfter; and what
// it returns is consistent, never succeeded without an http(s) video URL.
// Seeds: the prediction and error fixtures and testdata/fuzz/FuzzStatus.
func FuzzStatus(f *testing.F) {
	for _, name := range fuzzPredictions {
		f.Add(readFixture(f, name), uint8(0), "")
	}
	for i, name := range []string{"error_401.json", "error_404.json", "error_422.json", "error_429.json", "error_503.html"} {
		f.Add(readFixture(f, name), uint8(7+i), "3")
	}
	f.Add([]byte(`{"detail":"Request was throttled. Expected available in 12 seconds."}`), uint8(11), "")
	f.Add([]byte(`{"title":"Input validation failed","detail":"prompt flagged as NSFW (E005)","invalid_fields":[{"type":"nsfw"}]}`), uint8(10), "Wed, 21 Oct 2099 07:28:00 GMT")
	f.Add([]byte(`{"id":"rrpm3xg0q5rma0cqx8ra6ts1mc","status":"succeeded","output":"ftp://x.test/a.mp4"}`), uint8(0), "")
	f.Add([]byte(`{"id":"rrpm3xg0q5rma0cqx8ra6ts1mc","status":"failed","error":"`+strings.Repeat("é", 400)+fakeKey+`"}`), uint8(0), "")

	f.Fuzz(func(t *testing.T, body []byte, pick uint8, retryAfter string) {
		status := fuzzStatuses[int(pick)%len(fuzzStatuses)]
		client := &http.Client{Transport: fuzzTransport(func(r *http.Request) *http.Response {
			h := http.Header{"Content-Type": {"application/json"}}
			h.Set("Retry-After", retryAfter)
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		})}
		d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: "http://replicate.test/v1", HTTPClient: client, Now: func() time.Time { return fuzzNow }}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Status(t.Context(), "rrpm3xg0q5rma0cqx8ra6ts1mc")
		if err != nil {
			code := providers.ErrorCode(err)
			want := providers.CodeForHTTPStatus(status)
			switch {
			case status < 300 && (code == providers.CodeUnavailable || code == providers.CodeUnknown):
			case status >= 300 && (code == want || (code == providers.CodeContentPolicy && want == providers.CodeInvalidInput)):
			default:
				t.Fatalf("Status(HTTP %d, %q) error = %v (code %s), want a classified error", status, body, err, code)
			}
			if ra := providers.RetryAfter(err); ra < 0 || ra > 24*time.Hour {
				t.Fatalf("Status(HTTP %d, %q) RetryAfter = %s, want 0..24h", status, body, ra)
			}
			return
		}
		if status >= 300 {
			t.Fatalf("Status(HTTP %d, %q) = %+v, nil; want an error", status, body, st)
		}
		if st.RequestID == "" {
			t.Fatalf("Status(%q) = %+v, want a RequestID", body, st)
		}
		fuzzCheckStatus(t, body, st)
	})
}

// fuzzTransport answers every request in memory.
type fuzzTransport func(*http.Request) *http.Response

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// fuzzCheckWebhook fails t unless VerifyWebhook's answer keeps the
// WebhookVerifier contract.
func fuzzCheckWebhook(t *testing.T, body []byte, wh providers.Webhook, err error) {
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
	fuzzCheckStatus(t, body, wh.Status)
}

// fuzzCheckStatus fails t unless st is consistent: a known state, progress
// 0..100, a video with an http(s) URL when succeeded, an error when failed.
func fuzzCheckStatus(t *testing.T, body []byte, st providers.Status) {
	t.Helper()
	if st.Progress < 0 || st.Progress > 100 {
		t.Errorf("%q: Progress = %d, want 0..100", body, st.Progress)
	}
	switch st.State {
	case providers.StateQueued, providers.StateProcessing, providers.StateCanceled:
	case providers.StateSucceeded:
		video := false
		for _, o := range st.Outputs {
			u, err := url.Parse(o.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Errorf("%q: output %+v, want an absolute http(s) URL", body, o)
			}
			video = video || o.Kind == providers.OutputVideo
		}
		// Succeeded with no outputs only when they were deleted, and with
		// an Error that says so.
		if gone := st.Error != nil && st.Error.VendorCode == "data_removed"; !video && !gone || gone && len(st.Outputs) > 0 {
			t.Errorf("%q: succeeded with outputs %+v and error %v, want a video, or none and data_removed", body, st.Outputs, st.Error)
		}
	case providers.StateFailed:
		if st.Error == nil || st.Error.Code == "" {
			t.Errorf("%q: failed without a classified Error: %+v", body, st.Error)
		}
	default:
		t.Errorf("%q: unknown State %q", body, st.State)
	}
}
