package runway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// fuzzNow is the fixed clock of the fuzz target.
var fuzzNow = time.Date(2026, 10, 2, 9, 30, 0, 0, time.UTC)

const fuzzTaskID = "6b3cd1a2-9f0e-4d7a-8a55-1e2f3c4d5e6f"

// fuzzStatuses are the HTTP statuses FuzzStatus answers with, picked by a
// fuzzed byte; mostly 200.
var fuzzStatuses = []int{200, 200, 200, 200, 200, 204, 400, 401, 404, 429, 500, 503}

// fuzzTransport answers every request in memory.
type fuzzTransport func(*http.Request) *http.Response

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// FuzzStatus drives Status against an in-memory API that answers the fuzzed
// body with a status picked by a fuzzed byte. Status never panics; its
// errors are classified *providers.Error (a 200 it cannot read
// CodeUnavailable or CodeUnknown, else the status's class) with a sane
// RetryAfter; and what it returns is for the task asked about, consistent
// (progress below 100 while running), and never succeeded without a video
// URL. Seeds: the task and error fixtures, the bodies below and
// testdata/fuzz/FuzzStatus.
func FuzzStatus(f *testing.F) {
	names, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range names {
		name := e.Name()
		if !strings.HasPrefix(name, "task_") && !strings.HasPrefix(name, "error_") {
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
		`{"status":"RUNNING","progress":1e308}`,
		`{"status":"RUNNING","progress":-1e308}`,
		`{"status":"RUNNING","progress":0.995}`,
		`{"status":"RUNNING","progress":null}`,
		`{"status":"SUCCEEDED","output":["",""]}`,
		`{"status":"SUCCEEDED","output":null,"createdAt":"0001-01-01T00:00:00Z"}`,
		`{"status":"SUCCEEDED","output":["x"],"createdAt":"9999-12-31T23:59:59Z"}`,
		`{"status":"FAILED","failureCode":"SAFETY.INPUT.TEXT","failure":"` + strings.Repeat("\xff", 400) + `"}`,
		`{"status":"FAILED","failureCode":"INPUT_PREPROCESSING.SAFETY"}`,
		`{"status":"cancelled"}`,
		`{"status":"SUCCEEDED","output":"https://x.test/a.mp4"}`,
		``,
	} {
		f.Add([]byte(s), uint8(0))
	}

	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		status := fuzzStatuses[int(pick)%len(fuzzStatuses)]
		client := &http.Client{Transport: fuzzTransport(func(r *http.Request) *http.Response {
			h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"Wed, 21 Oct 2099 07:28:00 GMT"}}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		})}
		d, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: "http://runway.test", HTTPClient: client, Now: func() time.Time { return fuzzNow }}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Status(t.Context(), fuzzTaskID)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Status(HTTP %d, %q) error = %v, want a *providers.Error", status, body, err)
			}
			switch code := pe.Code; {
			case status < 300 && (code == providers.CodeUnavailable || code == providers.CodeUnknown):
			case status >= 300 && code == providers.CodeForHTTPStatus(status):
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
		if st.RequestID != fuzzTaskID {
			t.Fatalf("Status(%q) = %+v, want RequestID %q", fuzzTaskID, st, fuzzTaskID)
		}
		if st.State == providers.StateProcessing && st.Progress > 99 {
			t.Errorf("%q: Progress = %d while running, want at most 99", body, st.Progress)
		}
		fuzzCheckStatus(t, body, st)
	})
}

// fuzzCheckStatus fails t unless st is consistent: a known state, progress
// 0..100, a video with a URL when succeeded, an error when failed. Runway
// does not check its output URLs, so neither does this.
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
