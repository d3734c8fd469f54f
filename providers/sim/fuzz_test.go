package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// FuzzVerifyWebhook feeds VerifyWebhook arbitrary bodies twice: once with
// arbitrary Standard Webhooks headers, and once signed for the body (with
// the fuzzed webhook-id) so that parsing runs past the signature check. It
// never panics; it fails only with CodeUnauthenticated (the arbitrary
// headers) or CodeInvalidInput (a body that is not a generation); and what
// it accepts has an EventID, a RequestID and a consistent Status. Seeds:
// the bodies below and testdata/fuzz/FuzzVerifyWebhook.
func FuzzVerifyWebhook(f *testing.F) {
	seeds := []string{
		`{"id":"gen_01","status":"queued","progress":0}`,
		`{"id":"gen_01","status":"processing","progress":250}`,
		`{"id":"gen_01","status":"succeeded","progress":100,"output":{"video_url":"http://127.0.0.1/sim/files/gen_01.mp4","content_type":"video/mp4","expires_at":"2026-03-02T15:00:00Z"}}`,
		`{"id":"gen_01","status":"succeeded","output":{"video_url":""}}`,
		`{"id":"gen_01","status":"succeeded","output":null}`,
		`{"id":"gen_01","status":"failed","error":{"code":"content_policy","message":"refused"}}`,
		`{"id":"gen_01","status":"failed","error":null}`,
		`{"id":"gen_01","status":"canceled","created_at":"not a time"}`,
		`{"id":"","status":"queued"}`,
		`{"id":"gen_01","status":"QUEUED"}`,
		`{"id":"gen_01","status":"queued","progress":1e400}`,
		`[]`, `null`, ``, `{"id":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "msg_2m1c4xDZqLZlmDBfxcLbJpLkY0d", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	}
	f.Add([]byte(`{"id":"gen_01","status":"queued"}`), "", "", "")

	d := NewDriver("http://127.0.0.1:1/sim", "", testSecret+" "+stdwebhooks.NewSecret(), nil)
	signer, err := stdwebhooks.NewSigner(testSecret)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string) {
		r, err := http.NewRequest(http.MethodPost, "http://vidgate.test/webhooks/sim", nil)
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
		signer.SetHeaders(r.Header, id, time.Now(), body)
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
// 0..100, a video with a URL when succeeded, an error when failed.
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
			if o.URL == "" {
				t.Errorf("%q: output %+v without a URL", body, o)
			}
			video = video || (o.Kind == providers.OutputVideo && o.URL != "")
		}
		if !video {
			t.Errorf("%q: succeeded with outputs %+v, want a video with a URL", body, st.Outputs)
		}
	case providers.StateFailed:
		if st.Error == nil || st.Error.Code == "" {
			t.Errorf("%q: failed without a classified Error: %+v", body, st.Error)
		}
	default:
		t.Errorf("%q: unknown State %q", body, st.State)
	}
}
