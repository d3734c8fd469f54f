package blob

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is safe to read from server goroutines while a test moves it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// serve opens a bucket whose BaseURL is a live server mounting Handler at
// "/files/", the way vidgate's server does.
func serve(t *testing.T, open func(*testing.T, Options) *Bucket, clock *fakeClock) (*Bucket, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := open(t, Options{BaseURL: srv.URL + "/", Now: clock.Now})
	mux.Handle("/files/", b.Handler())
	return b, srv
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, u string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return response{res.StatusCode, res.Header, body}
}

func errorCode(t *testing.T, r response) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error response Content-Type = %q, want application/json", ct)
	}
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if e.Error.Message == "" {
		t.Errorf("error body %s has no message", r.body)
	}
	return e.Error.Code
}

func TestHandlerServesSignedURL(t *testing.T) {
	t.Parallel()
	const size = 300_000
	video := patterned(mp4Head, size)
	image := patterned(pngHead, 2000)
	tests := []struct {
		name      string
		method    string
		key       string
		header    map[string]string
		wantCode  int
		wantType  string
		wantBody  []byte
		wantRange string
	}{
		{"video", http.MethodGet, "artifacts/3f2a/video.mp4", nil, 200, "video/mp4", video, ""},
		{"image", http.MethodGet, "artifacts/3f2a/thumb.png", nil, 200, "image/png", image, ""},
		{"escaped key", http.MethodGet, "artifacts/a b?c#d%e+f/vidéo.mp4", nil, 200, "video/mp4", video, ""},
		{"range", http.MethodGet, "artifacts/3f2a/video.mp4", map[string]string{"Range": "bytes=1000-1999"}, 206, "video/mp4", video[1000:2000], fmt.Sprintf("bytes 1000-1999/%d", size)},
		{"open range", http.MethodGet, "artifacts/3f2a/video.mp4", map[string]string{"Range": fmt.Sprintf("bytes=%d-", size-10)}, 206, "video/mp4", video[size-10:], fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{"suffix range", http.MethodGet, "artifacts/3f2a/video.mp4", map[string]string{"Range": "bytes=-5"}, 206, "video/mp4", video[size-5:], fmt.Sprintf("bytes %d-%d/%d", size-5, size-1, size)},
		{"head", http.MethodHead, "artifacts/3f2a/video.mp4", nil, 200, "video/mp4", nil, ""},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b, _ := serve(t, be.open, newFakeClock())
			for _, tt := range tests {
				data := video
				if strings.HasSuffix(tt.key, ".png") {
					data = image
				}
				if _, err := b.Put(t.Context(), tt.key, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Fatalf("Put(%q) error = %v", tt.key, err)
				}
				u, err := b.SignedURL(t.Context(), tt.key, time.Hour)
				if err != nil {
					t.Fatalf("SignedURL(%q) error = %v", tt.key, err)
				}
				r := do(t, tt.method, u, tt.header)
				if r.status != tt.wantCode {
					t.Errorf("%s: %s %s status = %d, want %d (body %.200q)", tt.name, tt.method, u, r.status, tt.wantCode, r.body)
					continue
				}
				if ct := r.header.Get("Content-Type"); ct != tt.wantType {
					t.Errorf("%s: Content-Type = %q, want %q", tt.name, ct, tt.wantType)
				}
				wantLen := len(tt.wantBody)
				if tt.method == http.MethodHead {
					wantLen = len(data)
				}
				if cl := r.header.Get("Content-Length"); cl != fmt.Sprint(wantLen) {
					t.Errorf("%s: Content-Length = %q, want %d", tt.name, cl, wantLen)
				}
				if !bytes.Equal(r.body, tt.wantBody) {
					t.Errorf("%s: body is %d bytes, want the %d expected bytes", tt.name, len(r.body), len(tt.wantBody))
				}
				if cr := r.header.Get("Content-Range"); cr != tt.wantRange {
					t.Errorf("%s: Content-Range = %q, want %q", tt.name, cr, tt.wantRange)
				}
				if ar := r.header.Get("Accept-Ranges"); tt.wantCode == 200 && ar != "bytes" {
					t.Errorf("%s: Accept-Ranges = %q, want bytes", tt.name, ar)
				}
			}
		})
	}
}

func TestSignedURLShape(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := openMem(t, Options{BaseURL: "https://vidgate.example/app/", Now: clock.Now})
	got, err := b.SignedURL(t.Context(), "artifacts/a b/v.mp4", 90*time.Second)
	if err != nil {
		t.Fatalf("SignedURL error = %v", err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("SignedURL = %q, not a URL: %v", got, err)
	}
	if want := "https://vidgate.example/app/files/artifacts/a%20b/v.mp4"; !strings.HasPrefix(got, want+"?") {
		t.Errorf("SignedURL = %q, want prefix %q", got, want+"?")
	}
	if exp, want := u.Query().Get("expires"), fmt.Sprint(clock.Now().Add(90*time.Second).Unix()); exp != want {
		t.Errorf("SignedURL expires = %s, want %s", exp, want)
	}
	if u.Query().Get("sig") == "" {
		t.Errorf("SignedURL = %q, want a sig parameter", got)
	}

	// Without BaseURL the URL is root-relative.
	rel := openMem(t, Options{})
	if got, _ := rel.SignedURL(t.Context(), "k", time.Minute); !strings.HasPrefix(got, "/files/k?") {
		t.Errorf("SignedURL without BaseURL = %q, want prefix /files/k?", got)
	}
	if _, err := rel.SignedURL(t.Context(), "k", 0); err == nil {
		t.Errorf("SignedURL(ttl 0) error = nil, want an error")
	}
}

func TestHandlerRefuses(t *testing.T) {
	t.Parallel()
	const key = "artifacts/3f2a/video.mp4"
	const other = "artifacts/3f2a/other.mp4"
	tests := []struct {
		name       string
		method     string
		rewrite    func(u *url.URL) // applied to a valid signed URL for key
		wantStatus int
		wantCode   string
	}{
		{"tampered sig", http.MethodGet, func(u *url.URL) {
			q := u.Query()
			sig := []byte(q.Get("sig"))
			sig[3] ^= 1
			q.Set("sig", string(sig))
			u.RawQuery = q.Encode()
		}, http.StatusForbidden, "FORBIDDEN"},
		{"tampered key", http.MethodGet, func(u *url.URL) {
			u.Path = strings.Replace(u.Path, "video.mp4", "other.mp4", 1)
		}, http.StatusForbidden, "FORBIDDEN"},
		{"extended expiry", http.MethodGet, func(u *url.URL) {
			q := u.Query()
			q.Set("expires", q.Get("expires")+"0")
			u.RawQuery = q.Encode()
		}, http.StatusForbidden, "FORBIDDEN"},
		{"missing sig", http.MethodGet, func(u *url.URL) { u.RawQuery = "" }, http.StatusForbidden, "FORBIDDEN"},
		{"wrong method", http.MethodPost, func(*url.URL) {}, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"delete method", http.MethodDelete, func(*url.URL) {}, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b, _ := serve(t, be.open, newFakeClock())
			for _, k := range []string{key, other} {
				if _, err := b.Put(t.Context(), k, bytes.NewReader(mp4Head), 100); err != nil {
					t.Fatal(err)
				}
			}
			signed, err := b.SignedURL(t.Context(), key, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				u, _ := url.Parse(signed)
				tt.rewrite(u)
				r := do(t, tt.method, u.String(), nil)
				if r.status != tt.wantStatus {
					t.Errorf("%s: %s %s status = %d, want %d", tt.name, tt.method, u, r.status, tt.wantStatus)
					continue
				}
				if code := errorCode(t, r); code != tt.wantCode {
					t.Errorf("%s: error code = %q, want %q", tt.name, code, tt.wantCode)
				}
				if tt.wantStatus == http.StatusMethodNotAllowed && r.header.Get("Allow") != "GET, HEAD" {
					t.Errorf("%s: Allow = %q, want %q", tt.name, r.header.Get("Allow"), "GET, HEAD")
				}
			}
		})
	}
}

func TestHandlerExpired(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			b, _ := serve(t, be.open, clock)
			const key = "a/v.mp4"
			if _, err := b.Put(t.Context(), key, bytes.NewReader(mp4Head), 100); err != nil {
				t.Fatal(err)
			}
			u, err := b.SignedURL(t.Context(), key, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(59 * time.Second)
			if r := do(t, http.MethodGet, u, nil); r.status != http.StatusOK {
				t.Fatalf("GET before expiry status = %d, want 200 (body %s)", r.status, r.body)
			}
			clock.Advance(time.Second)
			r := do(t, http.MethodGet, u, nil)
			if r.status != http.StatusForbidden {
				t.Fatalf("GET after expiry status = %d, want 403", r.status)
			}
			if code := errorCode(t, r); code != "URL_EXPIRED" {
				t.Errorf("GET after expiry error code = %q, want URL_EXPIRED", code)
			}
			if !strings.Contains(string(r.body), "expired") {
				t.Errorf("GET after expiry body = %s, want a message saying it expired", r.body)
			}
		})
	}
}

func TestHandlerNotFound(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b, srv := serve(t, be.open, newFakeClock())
			u, err := b.SignedURL(t.Context(), "artifacts/none/video.mp4", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			r := do(t, http.MethodGet, u, nil)
			if r.status != http.StatusNotFound {
				t.Fatalf("GET %s status = %d, want 404", u, r.status)
			}
			if code := errorCode(t, r); code != "NOT_FOUND" {
				t.Errorf("GET %s error code = %q, want NOT_FOUND", u, code)
			}
			if r := do(t, http.MethodGet, srv.URL+"/files/", nil); r.status != http.StatusNotFound {
				t.Errorf("GET /files/ status = %d, want 404", r.status)
			}
		})
	}
}

func TestHandlerUnsatisfiableRange(t *testing.T) {
	t.Parallel()
	b, _ := serve(t, openMem, newFakeClock())
	if _, err := b.Put(t.Context(), "k", bytes.NewReader(mp4Head), 100); err != nil {
		t.Fatal(err)
	}
	u, _ := b.SignedURL(t.Context(), "k", time.Hour)
	r := do(t, http.MethodGet, u, map[string]string{"Range": "bytes=1000-2000"})
	if r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("GET Range past the end status = %d, want 416", r.status)
	}
	if cr, want := r.header.Get("Content-Range"), fmt.Sprintf("bytes */%d", len(mp4Head)); cr != want {
		t.Errorf("GET Range past the end Content-Range = %q, want %q", cr, want)
	}
}

func TestHandlerPatternMount(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b := openMem(t, Options{BaseURL: srv.URL})
	mux.Handle("GET /files/{key...}", b.Handler())
	if _, err := b.Put(t.Context(), "a/b/c.png", bytes.NewReader(pngHead), 100); err != nil {
		t.Fatal(err)
	}
	u, _ := b.SignedURL(t.Context(), "a/b/c.png", time.Hour)
	if r := do(t, http.MethodGet, u, nil); r.status != 200 || !bytes.Equal(r.body, pngHead) {
		t.Errorf("GET %s under a {key...} pattern = %d, %d bytes, want 200 and the %d bytes put", u, r.status, len(r.body), len(pngHead))
	}
}

func TestHandlerCloudBucketServesNothing(t *testing.T) {
	t.Parallel()
	b := &Bucket{now: time.Now} // no signer: what Open builds for s3/gs/azblob
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/files/a/b.mp4?expires=1&sig=x", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("cloud bucket Handler status = %d, want 404", rec.Code)
	}
}
