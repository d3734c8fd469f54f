package worker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/worker"
)

// fakeScanner answers each scan with the next of its answers (the last one
// repeats), and keeps the bytes it was given.
type fakeScanner struct {
	mu      sync.Mutex
	answers []scanAnswer
	scanned [][]byte
}

type scanAnswer struct {
	v   blob.Verdict
	err error
}

func (s *fakeScanner) Scan(ctx context.Context, r io.Reader) (blob.Verdict, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return blob.Verdict{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scanned = append(s.scanned, b)
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return a.v, a.err
}

// videoServer serves video at any path.
func videoServer(t *testing.T, video []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(video)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// storedVideos lists the MP4 files a file:// bucket at dir holds.
func storedVideos(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".mp4") {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// scanFixture is a worker on a file:// bucket in a temporary directory
// (so a test can see which files exist) with scanner s.
func scanFixture(t *testing.T, s blob.Scanner) (*fixture, string) {
	t.Helper()
	dir := t.TempDir()
	return newFixtureOn(t, "file://"+filepath.ToSlash(dir), worker.Config{Scanner: s}, steady{}), dir
}

// A scanner's positive verdict fails the job with ARTIFACT_QUARANTINED and
// a next step, records no artifact, and deletes the file: nothing of it
// can be downloaded.
func TestIngestQuarantinesInfectedOutput(t *testing.T) {
	t.Parallel()
	video := testVideo(t)
	srv := videoServer(t, video)
	s := &fakeScanner{answers: []scanAnswer{{v: blob.Verdict{Infected: true, Signature: "Eicar-Test-Signature"}}}}
	f, dir := scanFixture(t, s)
	ctx := context.Background()
	job := f.submittedJob(t, "steady", "gen-1")
	if err := f.w.Handle(ctx, ingestTask(job, srv.URL+"/out.mp4")); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	got := f.job(t, job.ID)
	if got.Status != jobs.StatusFailed || got.ErrorCode == nil || *got.ErrorCode != jobs.FailArtifactQuarantined {
		t.Fatalf("job after a FOUND verdict: %s %v, want FAILED %s", got.Status, got.ErrorCode, jobs.FailArtifactQuarantined)
	}
	if got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "Eicar-Test-Signature") {
		t.Errorf("error message %v, want the signature named", got.ErrorMessage)
	}
	if step := jobs.NextStep(*got.ErrorCode); !strings.Contains(step, "security scan") {
		t.Errorf("NextStep(%s) = %q, want the quarantine's own copy", *got.ErrorCode, step)
	}
	arts, err := f.store.ArtifactsOf(ctx, []int64{job.ID})
	if err != nil || len(arts[job.ID]) != 0 {
		t.Errorf("artifacts of a quarantined job: %v, %v; want none", arts[job.ID], err)
	}
	if files := storedVideos(t, dir); len(files) != 0 {
		t.Errorf("the bucket still holds %v; want the quarantined file deleted", files)
	}
	if len(s.scanned) != 1 || !bytes.Equal(s.scanned[0], video) {
		t.Errorf("the scanner saw %d scans; want one of the stored video's bytes", len(s.scanned))
	}
}

// A scanner error is transient: the ingest fails (the queue delivers it
// again), the job stays unfinished with no artifact and no file; the next
// delivery, scanned clean, completes the job.
func TestIngestRetriesWhenScannerFails(t *testing.T) {
	t.Parallel()
	video := testVideo(t)
	srv := videoServer(t, video)
	s := &fakeScanner{answers: []scanAnswer{{err: errors.New("clamd 127.0.0.1:3310: connect: connection refused")}, {}}}
	f, dir := scanFixture(t, s)
	ctx := context.Background()
	job := f.submittedJob(t, "steady", "gen-1")
	task := ingestTask(job, srv.URL+"/out.mp4")
	err := f.w.Handle(ctx, task)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("ingest with the scanner down = %v, want its error (to be delivered again)", err)
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusSubmitted {
		t.Fatalf("job after a scanner error: %s, want SUBMITTED (not completed unscanned)", got.Status)
	}
	if arts, _ := f.store.ArtifactsOf(ctx, []int64{job.ID}); len(arts[job.ID]) != 0 {
		t.Errorf("artifacts after a scanner error: %v, want none", arts[job.ID])
	}
	if files := storedVideos(t, dir); len(files) != 0 {
		t.Errorf("the bucket holds %v after a scanner error; want the unscanned copy gone", files)
	}

	task.Deliveries = 2
	if err := f.w.Handle(ctx, task); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusCompleted {
		t.Fatalf("job after a clean scan: %s, want COMPLETED", got.Status)
	}
	if files := storedVideos(t, dir); len(files) != 1 {
		t.Errorf("the bucket holds %v; want the one clean copy", files)
	}
	if len(s.scanned) != 2 {
		t.Errorf("%d scans, want 2", len(s.scanned))
	}
}
