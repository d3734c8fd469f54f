package veo

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// fuzzNow is the fixed clock of the fuzz target.
var fuzzNow = time.Date(2026, 10, 2, 9, 30, 0, 0, time.UTC)

const fuzzOpName = "models/veo-3.0-generate-001/operations/8r3kq1x0f5zt"

// fuzzStatuses are the HTTP statuses FuzzStatus answers with, picked by a
// fuzzed byte; mostly 200.
var fuzzStatuses = []int{200, 200, 200, 200, 200, 204, 400, 403, 404, 429, 500, 503}

// fuzzTransport answers every request in memory.
type fuzzTransport func(*http.Request) *http.Response

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// FuzzStatus drives Status against an in-memory Gemini API that answers
// the fuzzed body with a status picked by a fuzzed byte. Status never
// panics; its errors are classified *providers.Error (a malformed 200
// CodeUnavailable, else the status's class, or CodeUnauthenticated for an
// API_KEY_* reason) with a sane RetryAfter and without the API key; and
// what it returns is for the operation asked about, consistent, never
// succeeded without a video URL, and without the key anywhere — output
// URLs included, which Download authorizes instead. Seeds: the operation and error
// fixtures, the bodies below and testdata/fuzz/FuzzStatus.
func FuzzStatus(f *testing.F) {
	names, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range names {
		name := e.Name()
		if !strings.HasPrefix(name, "operation_") && !strings.HasPrefix(name, "error_") {
			continue
		}
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		pick := uint8(0)
		if strings.HasPrefix(name, "error_") {
			pick = uint8(6 + len(name)%6)
		}
		f.Add(b, pick)
	}
	for _, s := range []string{
		`{"done":true,"response":{"generateVideoResponse":{"generatedSamples":[{"video":{"uri":""}},{"video":{}}]}}}`,
		`{"done":true,"response":{"generateVideoResponse":{"generatedSamples":[{"video":{"uri":"http://generativelanguage.googleapis.com/x?key=1&key=2"}}]}}}`,
		`{"done":true,"response":{"generateVideoResponse":{"generatedSamples":[{"video":{"uri":"%zz"}}]}}}`,
		`{"done":true,"response":{"generateVideoResponse":{"raiMediaFilteredReasons":["` + fakeKey + `"]}}}`,
		`{"done":true,"error":{"code":1}}`,
		`{"done":true,"error":{"code":-2147483648,"message":"` + fakeKey + `"}}`,
		`{"done":true,"response":null}`,
		`{"done":"yes"}`,
		`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"9999999h"}]}}`,
		`{"error":{"message":"` + fakeKey + `","details":[null,1,{"@type":"google.rpc.ErrorInfo","reason":"API_KEY_EXPIRED"}]}}`,
		``,
	} {
		f.Add([]byte(s), uint8(len(s)%3*4)) // 200 or a 4xx
	}

	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		status := fuzzStatuses[int(pick)%len(fuzzStatuses)]
		client := &http.Client{Transport: fuzzTransport(func(r *http.Request) *http.Response {
			h := http.Header{"Content-Type": {"application/json"}}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		})}
		d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: "https://generativelanguage.googleapis.com", HTTPClient: client, Now: func() time.Time { return fuzzNow }}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Status(t.Context(), fuzzOpName)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Status(HTTP %d, %q) error = %v, want a *providers.Error", status, body, err)
			}
			switch code := pe.Code; {
			case status < 300 && code == providers.CodeUnavailable:
			case status >= 300 && (code == providers.CodeForHTTPStatus(status) || code == providers.CodeUnauthenticated):
			default:
				t.Fatalf("Status(HTTP %d, %q) error = %v (code %s), want a classified error", status, body, err, code)
			}
			if ra := providers.RetryAfter(err); ra < 0 || ra > 24*time.Hour {
				t.Fatalf("Status(HTTP %d, %q) RetryAfter = %s, want 0..24h", status, body, ra)
			}
			if strings.Contains(err.Error(), fakeKey) {
				t.Fatalf("Status(HTTP %d, %q) error = %v, carries the API key", status, body, err)
			}
			return
		}
		if status >= 300 {
			t.Fatalf("Status(HTTP %d, %q) = %+v, nil; want an error", status, body, st)
		}
		if st.RequestID != fuzzOpName {
			t.Fatalf("Status(%q) = %+v, want RequestID %q", fuzzOpName, st, fuzzOpName)
		}
		if st.Error != nil && strings.Contains(st.Error.Error(), fakeKey) {
			t.Fatalf("Status(%q).Error = %v, carries the API key", body, st.Error)
		}
		for _, o := range st.Outputs {
			if u, err := url.Parse(o.URL); strings.Contains(o.URL, fakeKey) || (err == nil && u.Query().Has("key")) {
				t.Fatalf("Status(%q) output URL %q carries a key", body, o.URL)
			}
		}
		fuzzCheckStatus(t, body, st)
	})
}

// fuzzCheckStatus fails t unless st is consistent: a known state, progress
// 0..100, a video with a URL when succeeded, an error when failed. Veo's
// driver does not check the sample URIs, so neither does this.
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
