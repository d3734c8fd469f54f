package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/router"
)

const vendorSecret = "AIza-very-secret-vendor-key-0123456789"

// testVideo is a small, valid MP4.
func testVideo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../providers/sim/video/faststart.mp4")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vendorFiles serves video at any path, to requests with key=vendorSecret
// only (403 otherwise), and hangs up on paths under /hangup/.
func vendorFiles(t *testing.T, video []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hangup/") {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if r.URL.Query().Get("key") != vendorSecret {
			http.Error(w, "missing key", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(video)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// keyed is a provider whose outputs need its key, which its Download adds
// as a query parameter at request time — and, carelessly, returns
// net/http's error as it is, URL and key included.
type keyed struct {
	steady
	client *http.Client
}

func (keyed) Name() string { return "keyed" }

func (k keyed) Download(ctx context.Context, raw string) (*http.Response, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, providers.Errorf(providers.CodeInvalidInput, "bad URL")
	}
	q := u.Query()
	q.Set("key", vendorSecret)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, providers.Errorf(providers.CodeInvalidInput, "bad URL")
	}
	return k.client.Do(req)
}

func ingestTask(job *jobs.Job, u string) queue.Task {
	return queue.Task{Kind: queue.KindIngest, JobID: job.ID, Attempt: job.Attempt, Data: map[string]string{"url": u, "content_type": "video/mp4"}}
}

// A driver that is a providers.Downloader fetches its outputs itself: the
// URL in the ingest task carries no key, the vendor refuses it without
// one, and the job completes all the same — through the router's wrapper.
func TestIngestThroughDownloader(t *testing.T) {
	t.Parallel()
	srv := vendorFiles(t, testVideo(t))
	rt, err := router.New(providers.NewRegistry(keyed{client: srv.Client()}), router.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := rt.Registry().Get("keyed")
	f := newFixture(t, worker.Config{}, d)
	job := f.submittedJob(t, "keyed", "gen-1")
	out := srv.URL + "/files/video.mp4?alt=media"
	if res, err := http.Get(out); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("plain GET of the output URL = %v, %v; want 403", res, err)
	}
	if err := f.w.Handle(context.Background(), ingestTask(job, out)); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusCompleted {
		t.Fatalf("job after ingest: %s (%v), want COMPLETED", got.Status, got.ErrorMessage)
	}
}

// A failed download's error — what the queue logs and, after too many
// deliveries, dead-letters — never quotes the key: neither one a
// Downloader put in the request, nor one in the task's URL itself (a
// signed URL, or a task queued by a version that put keys in URLs).
func TestIngestErrorsCarryNoKey(t *testing.T) {
	t.Parallel()
	srv := vendorFiles(t, testVideo(t))
	f := newFixture(t, worker.Config{HTTPClient: srv.Client()}, keyed{client: srv.Client()}, steady{})
	ctx := context.Background()
	for _, tc := range []struct {
		provider, url string
	}{
		{"keyed", srv.URL + "/hangup/video.mp4?alt=media"},
		{"steady", srv.URL + "/hangup/video.mp4?alt=media&key=" + vendorSecret},
	} {
		job := f.submittedJob(t, tc.provider, "gen-"+tc.provider)
		err := f.w.Handle(ctx, ingestTask(job, tc.url))
		if err == nil {
			t.Fatalf("%s: ingest from a server that hangs up succeeded", tc.provider)
		}
		if msg := err.Error(); strings.Contains(msg, vendorSecret) || !strings.Contains(msg, "[redacted]") {
			t.Errorf("%s: ingest error %q quotes the key (or was not redacted)", tc.provider, msg)
		}
		if got := f.job(t, job.ID); got.Status != jobs.StatusSubmitted {
			t.Errorf("%s: job after a transient download failure: %s, want SUBMITTED (retried)", tc.provider, got.Status)
		}
	}

	// A refused download fails the job; its message holds no key either.
	job := f.submittedJob(t, "steady", "gen-refused")
	if err := f.w.Handle(ctx, ingestTask(job, srv.URL+"/files/v.mp4?key=wrong-"+vendorSecret)); err != nil {
		t.Fatalf("ingest of a refused download: %v", err)
	}
	got := f.job(t, job.ID)
	if got.Status != jobs.StatusFailed || got.ErrorCode == nil || *got.ErrorCode != jobs.FailArtifactUnavailable {
		t.Fatalf("job after a 403: %s %v, want FAILED %s", got.Status, got.ErrorCode, jobs.FailArtifactUnavailable)
	}
	if got.ErrorMessage == nil || strings.Contains(*got.ErrorMessage, vendorSecret) {
		t.Errorf("job error message %v quotes the key", got.ErrorMessage)
	}
}
