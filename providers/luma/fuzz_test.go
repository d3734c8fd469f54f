package luma

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// fuzzNow is the fixed clock of the fuzz targets.
var fuzzNow = time.Date(2026, 10, 2, 9, 30, 0, 0, time.UTC)

const fuzzGenID = "d1c5b2e0-4c8f-4f47-9a8e-2b7c1f3e9a10"

// fuzzGenerations are the fixtures that seed both targets.
var fuzzGenerations = []string{
	"generation_queued.json", "generation_dreaming.json", "generation_completed.json", "callback_completed.json",
	"generation_failed_internal.json", "generation_failed_invalid.json", "generation_failed_moderate_image.json",
	"generation_failed_moderation.json", "generation_failed_unknown.json",
}

func fuzzFixture(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzVerifyWebhook feeds VerifyWebhook arbitrary bodies twice: once with
// an arbitrary query string (where the callback token goes), and once with
// the right token so that the body is parsed and the generation confirmed,
// by a GET to a loopback fake that always answers the same completed
// generation. It never panics; it fails only with CodeUnauthenticated or
// CodeInvalidInput; and what it accepts is the fake's answer for the id the
// body claims, never the body: EventID "<id>:completed", a RequestID, and
// the fake's video. Seeds: the generation fixtures, the bodies below and
// testdata/fuzz/FuzzVerifyWebhook.
func FuzzVerifyWebhook(f *testing.F) {
	for _, name := range fuzzGenerations {
		f.Add(fuzzFixture(f, name), "token="+fakeToken)
	}
	for _, s := range []string{
		`{"id":"../credits","state":"completed"}`,
		`{"id":"a/b"}`, `{"id":"%2e%2e"}`, `{"id":""}`, `{"id":null}`, `{"id":7}`,
		`{"id":"` + strings.Repeat("a", 64) + `"}`, `{"id":"` + strings.Repeat("a", 65) + `"}`,
		`{"id":"x","state":"failed","assets":{"video":"https://evil.test/v.mp4"}}`,
		`[]`, `null`, ``, `{"id":"x"}{"id":"y"}`,
	} {
		f.Add([]byte(s), "token="+fakeToken)
	}
	f.Add([]byte(`{"id":"x"}`), "")
	f.Add([]byte(`{"id":"x"}`), "token=%zz&token="+fakeToken)
	f.Add([]byte(`{"id":"x"}`), "token="+fakeToken+"&token=other")
	f.Add([]byte(`{"id":"x"}`), "token="+fakeToken[:len(fakeToken)-1])
	f.Add([]byte(`{"id":"x"}`), ";token="+fakeToken)

	generation := fuzzFixture(f, "generation_completed.json")
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.EscapedPath())
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+fakeKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(generation)
	}))
	f.Cleanup(srv.Close)
	d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: srv.URL + prefix, HTTPClient: srv.Client(), Timeout: 5 * time.Second, Now: func() time.Time { return fuzzNow }}, CallbackToken: fakeToken})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		mu.Lock()
		asked = nil
		mu.Unlock()
		r, err := http.NewRequest(http.MethodPost, "http://vidgate.test/webhooks/luma", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.RawQuery = rawQuery
		wh, err := d.VerifyWebhook(r, body)
		if err != nil && r.URL.Query().Get("token") != fakeToken && providers.ErrorCode(err) != providers.CodeUnauthenticated {
			t.Fatalf("VerifyWebhook(query %q) error = %v, want UNAUTHENTICATED", rawQuery, err)
		}
		if err == nil && r.URL.Query().Get("token") != fakeToken {
			t.Fatalf("VerifyWebhook(query %q) = %+v, nil; want UNAUTHENTICATED", rawQuery, wh)
		}
		fuzzCheckWebhook(t, body, wh, err)

		mu.Lock()
		asked = nil
		mu.Unlock()
		r.URL.RawQuery = url.Values{"token": {fakeToken}}.Encode()
		wh, err = d.VerifyWebhook(r, body)
		if code := providers.ErrorCode(err); code == providers.CodeUnauthenticated {
			t.Fatalf("VerifyWebhook(right token, %q) error = %v, want the token accepted", body, err)
		}
		fuzzCheckWebhook(t, body, wh, err)
		mu.Lock()
		got := asked
		mu.Unlock()
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("VerifyWebhook(%q) error = %v after calling Luma (%q), want a refusal before any call", body, err, got)
			}
			return
		}
		id, _, _ := strings.Cut(wh.EventID, ":")
		if wh.Status.RequestID != id || wh.EventID != id+":completed" {
			t.Fatalf("VerifyWebhook(%q) = %+v, want EventID <id>:completed and RequestID <id>", body, wh)
		}
		if want := "GET " + prefix + "/generations/" + id; len(got) != 1 || got[0] != want {
			t.Fatalf("VerifyWebhook(%q) asked Luma %q, want [%q]", body, got, want)
		}
		if wh.Status.State != providers.StateSucceeded || len(wh.Status.Outputs) == 0 ||
			!strings.HasPrefix(wh.Status.Outputs[0].URL, "https://storage.cdn-luma.com/") {
			t.Fatalf("VerifyWebhook(%q).Status = %+v, want the confirmed generation's", body, wh.Status)
		}
	})
}

// fuzzStatuses are the HTTP statuses FuzzStatus answers with, picked by a
// fuzzed byte; mostly 200.
var fuzzStatuses = []int{200, 200, 200, 200, 200, 204, 400, 401, 403, 404, 422, 429, 500, 503}

// fuzzTransport answers every request in memory.
type fuzzTransport func(*http.Request) *http.Response

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// FuzzStatus drives Status against an in-memory API that answers the fuzzed
// body with a status picked by a fuzzed byte. Status never panics; its
// errors are classified *providers.Error (a 200 it cannot read
// CodeUnavailable or CodeUnknown, else the status's class or
// CodeContentPolicy) with a sane RetryAfter; and what it returns is for
// the generation asked about, consistent, and never succeeded without a
// video URL. Seeds: the generation and error fixtures and
// testdata/fuzz/FuzzStatus.
func FuzzStatus(f *testing.F) {
	for _, name := range fuzzGenerations {
		f.Add(fuzzFixture(f, name), uint8(0))
	}
	for i, name := range []string{"error_400.json", "error_401.json", "error_403.json", "error_404.json",
		"error_422.json", "error_429.json", "error_500.json", "error_400_moderation.json"} {
		f.Add(fuzzFixture(f, name), uint8(6+i))
	}
	f.Add([]byte(`{"detail":[{"loc":["body",1,null,{"a":[]}],"msg":"NSFW content"}]}`), uint8(10))
	f.Add([]byte(`{"state":"completed","assets":{"video":""}}`), uint8(0))
	f.Add([]byte(`{"state":"completed","assets":null}`), uint8(0))
	f.Add([]byte(`{"state":"failed","failure_reason":"`+strings.Repeat("\xe2\x82", 200)+`"}`), uint8(0))
	f.Add([]byte(` `), uint8(0))

	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		status := fuzzStatuses[int(pick)%len(fuzzStatuses)]
		client := &http.Client{Transport: fuzzTransport(func(r *http.Request) *http.Response {
			h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"86401"}}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		})}
		d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: "http://luma.test" + prefix, HTTPClient: client, Now: func() time.Time { return fuzzNow }}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Status(t.Context(), fuzzGenID)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Status(HTTP %d, %q) error = %v, want a *providers.Error", status, body, err)
			}
			want := providers.CodeForHTTPStatus(status)
			switch code := pe.Code; {
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
		if st.RequestID != fuzzGenID {
			t.Fatalf("Status(%q) = %+v, want RequestID %q", fuzzGenID, st, fuzzGenID)
		}
		fuzzCheckStatus(t, body, st)
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
// 0..100, a video with a URL when succeeded, an error when failed. Luma
// does not check its asset URLs, so neither does this.
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
