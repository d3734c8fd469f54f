package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
)

// signedFiles serves video under /live/, and answers as a CDN does for a
// dead signed URL elsewhere: /status/<code>/… answers <code>.
func signedFiles(t *testing.T, video []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/live/"):
			w.Header().Set("Content-Type", "video/mp4")
			w.Write(video)
		case strings.HasPrefix(r.URL.Path, "/status/401/"):
			http.Error(w, "signature expired", http.StatusUnauthorized)
		case strings.HasPrefix(r.URL.Path, "/status/403/"):
			http.Error(w, "Access Denied", http.StatusForbidden)
		case strings.HasPrefix(r.URL.Path, "/status/410/"):
			http.Error(w, "gone", http.StatusGone)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// renewing is a provider whose output URLs are short-lived and renewed by
// reading the request again, as Runway's are: Status answers with status
// (a fresh URL, typically) and counts the reads.
type renewing struct {
	steady
	status func(id string) (providers.Status, error)
	reads  *atomic.Int32
}

func (renewing) Name() string { return "renewing" }

func (r renewing) Status(_ context.Context, id string) (providers.Status, error) {
	r.reads.Add(1)
	return r.status(id)
}

func succeededAt(u string, expires time.Time) func(string) (providers.Status, error) {
	return func(id string) (providers.Status, error) {
		return providers.Status{RequestID: id, State: providers.StateSucceeded, Outputs: []providers.Output{
			{URL: u, Kind: providers.OutputVideo, ContentType: "video/mp4", ExpiresAt: expires},
		}}, nil
	}
}

// An output URL that has expired, or that the CDN refuses as dead (401,
// 403, 404, 410), is renewed: the worker reads the provider's status once
// more and copies from the URL it reports now, and the job completes.
// Before, the job failed with ARTIFACT_UNAVAILABLE although a fresh URL was
// one read away. Only when the renewal gives no live URL does the job fail,
// with that code.
func TestIngestRenewsDeadOutputURL(t *testing.T) {
	t.Parallel()
	srv := signedFiles(t, testVideo(t))
	live := srv.URL + "/live/out.mp4?sig=fresh"
	tests := []struct {
		name      string
		url       string
		expiresIn time.Duration // of the queued URL, from the fixture's now; 0: none given
		status    func(string) (providers.Status, error)
		want      jobs.Status
		reads     int32
	}{
		{"expired by its expiry", srv.URL + "/live/out.mp4?sig=old", -time.Hour, succeededAt(live, time.Time{}), jobs.StatusCompleted, 1},
		{"401", srv.URL + "/status/401/out.mp4?sig=old", 0, succeededAt(live, time.Time{}), jobs.StatusCompleted, 1},
		{"403", srv.URL + "/status/403/out.mp4?sig=old", time.Hour, succeededAt(live, time.Time{}), jobs.StatusCompleted, 1},
		{"404", srv.URL + "/status/404/out.mp4?sig=old", 0, succeededAt(live, time.Time{}), jobs.StatusCompleted, 1},
		{"410", srv.URL + "/status/410/out.mp4?sig=old", 0, succeededAt(live, time.Time{}), jobs.StatusCompleted, 1},
		{"live URL read no status", live, time.Hour, succeededAt(live, time.Time{}), jobs.StatusCompleted, 0},
		{"fresh URL dead too", srv.URL + "/status/410/out.mp4?sig=old", 0, succeededAt(srv.URL+"/status/403/out.mp4?sig=new", time.Time{}), jobs.StatusFailed, 1},
		{"fresh URL expired too", srv.URL + "/live/out.mp4?sig=old", -time.Hour, succeededAt(live, time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)), jobs.StatusFailed, 1},
		{"same URL again", srv.URL + "/status/404/out.mp4?sig=old", 0, succeededAt(srv.URL+"/status/404/out.mp4?sig=old", time.Time{}), jobs.StatusFailed, 1},
		{"request gone", srv.URL + "/status/403/out.mp4?sig=old", 0, func(string) (providers.Status, error) {
			return providers.Status{}, providers.Errorf(providers.CodeNotFound, "no such task")
		}, jobs.StatusFailed, 1},
		{"no longer succeeded", srv.URL + "/status/403/out.mp4?sig=old", 0, func(id string) (providers.Status, error) {
			return providers.Status{RequestID: id, State: providers.StateCanceled}, nil
		}, jobs.StatusFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := renewing{status: tt.status, reads: new(atomic.Int32)}
			f := newFixture(t, worker.Config{HTTPClient: srv.Client()}, d)
			job := f.submittedJob(t, "renewing", "task-1")
			task := ingestTask(job, tt.url)
			if tt.expiresIn != 0 {
				task.Data["expires_at"] = f.now.Add(tt.expiresIn).Format(time.RFC3339)
			}
			if err := f.w.Handle(context.Background(), task); err != nil {
				t.Fatalf("ingest: %v", err)
			}
			got := f.job(t, job.ID)
			if got.Status != tt.want {
				t.Fatalf("job after ingest: %s (%v), want %s", got.Status, deref(got.ErrorMessage), tt.want)
			}
			if tt.want == jobs.StatusFailed {
				if got.ErrorCode == nil || *got.ErrorCode != jobs.FailArtifactUnavailable {
					t.Errorf("job failed with %v, want %s", deref(got.ErrorCode), jobs.FailArtifactUnavailable)
				}
				if msg := deref(got.ErrorMessage); strings.Contains(msg, "sig=") {
					t.Errorf("job error %q quotes a signed URL", msg)
				}
			}
			if n := d.reads.Load(); n != tt.reads {
				t.Errorf("provider status read %d times, want %d", n, tt.reads)
			}
		})
	}
}

// A transient failure to read the provider's status for a fresh URL does
// not fail the job: the ingest task is delivered again.
func TestIngestRenewalTransientError(t *testing.T) {
	t.Parallel()
	srv := signedFiles(t, testVideo(t))
	d := renewing{reads: new(atomic.Int32), status: func(string) (providers.Status, error) {
		return providers.Status{}, providers.Errorf(providers.CodeUnavailable, "HTTP 503")
	}}
	f := newFixture(t, worker.Config{HTTPClient: srv.Client()}, d)
	job := f.submittedJob(t, "renewing", "task-1")
	err := f.w.Handle(context.Background(), queue.Task{Kind: queue.KindIngest, JobID: job.ID, Attempt: job.Attempt,
		Data: map[string]string{"url": srv.URL + "/status/410/out.mp4", "content_type": "video/mp4"}})
	if err == nil {
		t.Fatal("ingest with the provider unavailable succeeded, want an error (delivered again)")
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusSubmitted {
		t.Errorf("job after a transient renewal failure: %s, want SUBMITTED", got.Status)
	}
}
