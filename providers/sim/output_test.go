package sim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/vidgate/vidgate/blob/mp4"
	"github.com/vidgate/vidgate/providers"
)

// outputURL submits req, finishes it at once and returns its output URL.
func outputURL(t *testing.T, srv *Server, d *Driver, req providers.Request) string {
	t.Helper()
	id, err := d.Submit(t.Context(), req)
	if err != nil {
		t.Fatalf("Submit(%+v) error = %v", req, err)
	}
	if err := srv.Succeed(id); err != nil {
		t.Fatalf("Succeed(%s) error = %v", id, err)
	}
	return waitState(t, d, id, providers.StateSucceeded).Outputs[0].URL
}

// TestOutputHonoursOptions reads the duration and size of each output back
// from the file, as vidgate does after storing it.
func TestOutputHonoursOptions(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	tests := []struct {
		seconds            int
		aspect, resolution string
		model              string
		prompt             string
		wantW, wantH       int
	}{
		{seconds: 5, aspect: "16:9", wantW: 1280, wantH: 720},
		{seconds: 8, aspect: "9:16", wantW: 720, wantH: 1280},
		{seconds: 1, aspect: "1:1", wantW: 720, wantH: 720},
		{seconds: 3, aspect: "4:3", wantW: 960, wantH: 720, prompt: "[sim moov_at_end]"},
		{seconds: 20, aspect: "3:4", resolution: "1080p", wantW: 1080, wantH: 1440},
		{seconds: 2, aspect: "21:9", resolution: "1080p", model: "sim-1-turbo", wantW: 2520, wantH: 1080},
		{seconds: 10, aspect: "16:9", resolution: "4k", wantW: 3840, wantH: 2160},
		{seconds: 4, aspect: "9:16", resolution: "4k", model: "sim-1", wantW: 2160, wantH: 3840, prompt: "[sim output_size=2MB]"},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%ds %s %s %s", tt.seconds, tt.aspect, tt.resolution, tt.prompt)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := textRequest("a lighthouse at dusk " + tt.prompt)
			req.DurationSeconds, req.AspectRatio, req.Resolution, req.Model = tt.seconds, tt.aspect, tt.resolution, tt.model
			_, body := getOutput(t, outputURL(t, srv, d, req), "")
			got, err := mp4.ReadInfo(bytes.NewReader(body), int64(len(body)))
			want := mp4.Info{Duration: time.Duration(tt.seconds) * time.Second, Width: tt.wantW, Height: tt.wantH, Brand: "isom"}
			if err != nil || got != want {
				t.Errorf("mp4.ReadInfo(output) = %+v, %v; want %+v", got, err, want)
			}
			if len(body) > 2<<20 {
				t.Errorf("output is %d bytes, want at most 2 MiB", len(body))
			}
		})
	}
}

// getOutput GETs url, with a Range header unless rng is "", and returns the
// response (its body read and closed) and the body.
func getOutput(t *testing.T, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s error = %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	if rng == "" && res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", url, res.StatusCode)
	}
	return res, body
}

// TestOutputSeed: the same request and seed make the same bytes, another
// seed other bytes; without a seed, every output of a request is the same.
func TestOutputSeed(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	output := func(prompt string, seed *int64) []byte {
		req := textRequest(prompt)
		req.DurationSeconds, req.AspectRatio, req.Seed = 3, "9:16", seed
		_, body := getOutput(t, outputURL(t, srv, d, req), "")
		return body
	}
	seed := func(v int64) *int64 { return &v }
	sum := func(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

	a, again := output("a heron takes off", seed(7)), output("a heron takes off", seed(7))
	if !bytes.Equal(a, again) {
		t.Errorf("two outputs of one prompt and seed differ: sha256 %s and %s", sum(a), sum(again))
	}
	for _, other := range []struct {
		name string
		body []byte
	}{
		{"another seed", output("a heron takes off", seed(8))},
		{"a negative seed", output("a heron takes off", seed(-7))},
		{"another prompt", output("a heron lands", seed(7))},
		{"no seed", output("a heron takes off", nil)},
	} {
		if bytes.Equal(a, other.body) {
			t.Errorf("the output of %s is the same bytes as seed 7's (sha256 %s)", other.name, sum(a))
		}
		if info, err := mp4.ReadInfo(bytes.NewReader(other.body), int64(len(other.body))); err != nil || info.Duration != 3*time.Second || info.Width != 720 {
			t.Errorf("mp4.ReadInfo(output of %s) = %+v, %v; want 3s, 720x1280", other.name, info, err)
		}
	}
	if x, y := output("a heron takes off", nil), output("a heron takes off", nil); !bytes.Equal(x, y) {
		t.Errorf("two outputs of one request without a seed differ: sha256 %s and %s", sum(x), sum(y))
	}
}

// TestOutputRange: the output URL serves byte ranges, as the worker's
// resumed downloads ask for.
func TestOutputRange(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	for _, prompt := range []string{"x", "x [sim output_size=1MB]", "x [sim corrupt_output output_size=5000]"} {
		t.Run(prompt, func(t *testing.T) {
			t.Parallel()
			url := outputURL(t, srv, d, textRequest(prompt))
			full, whole := getOutput(t, url, "")
			size := int64(len(whole))
			if full.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("Accept-Ranges = %q, want bytes", full.Header.Get("Accept-Ranges"))
			}
			for _, tt := range []struct {
				rng         string
				first, last int64
			}{
				{"bytes=0-99", 0, 99},
				{"bytes=100-", 100, size - 1},
				{fmt.Sprintf("bytes=%d-", size-10), size - 10, size - 1},
				{"bytes=-16", size - 16, size - 1},
				{fmt.Sprintf("bytes=%d-%d", size-5, size+100), size - 5, size - 1},
			} {
				res, body := getOutput(t, url, tt.rng)
				wantCR := fmt.Sprintf("bytes %d-%d/%d", tt.first, tt.last, size)
				if res.StatusCode != http.StatusPartialContent || res.Header.Get("Content-Range") != wantCR {
					t.Errorf("GET Range %s = %d, Content-Range %q; want 206, %q", tt.rng, res.StatusCode, res.Header.Get("Content-Range"), wantCR)
				}
				if !bytes.Equal(body, whole[tt.first:tt.last+1]) || res.Header.Get("Content-Length") != strconv.FormatInt(tt.last-tt.first+1, 10) {
					t.Errorf("GET Range %s = %d bytes (Content-Length %s), want bytes %d-%d of the whole output", tt.rng, len(body), res.Header.Get("Content-Length"), tt.first, tt.last)
				}
			}
			res, _ := getOutput(t, url, fmt.Sprintf("bytes=%d-", size))
			if want := fmt.Sprintf("bytes */%d", size); res.StatusCode != http.StatusRequestedRangeNotSatisfiable || res.Header.Get("Content-Range") != want {
				t.Errorf("GET Range bytes=%d- = %d, Content-Range %q; want 416, %q", size, res.StatusCode, res.Header.Get("Content-Range"), want)
			}
		})
	}
}

// TestOutputIfRange: a Range request resumes only the same file, named by
// the ETag of an earlier answer.
func TestOutputIfRange(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	url := outputURL(t, srv, d, textRequest("x"))
	full, whole := getOutput(t, url, "")
	etag := full.Header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' {
		t.Fatalf("ETag = %q, want a strong ETag", etag)
	}
	for _, tt := range []struct {
		ifRange string
		want    int
	}{{etag, http.StatusPartialContent}, {`"something-else"`, http.StatusOK}} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		req.Header.Set("Range", "bytes=10-")
		req.Header.Set("If-Range", tt.ifRange)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		wantBody := whole
		if tt.want == http.StatusPartialContent {
			wantBody = whole[10:]
		}
		if res.StatusCode != tt.want || !bytes.Equal(body, wantBody) {
			t.Errorf("GET Range bytes=10- If-Range %s = %d with %d bytes, want %d with %d", tt.ifRange, res.StatusCode, len(body), tt.want, len(wantBody))
		}
	}
}
