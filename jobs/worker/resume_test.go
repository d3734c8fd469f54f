package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidgate/vidgate/blob/mp4"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
)

// largeVideo is a valid MP4 of n bytes whose padding is random (seeded):
// two seeds give two files of one length that differ near their end.
func largeVideo(t *testing.T, n int64, seed uint64) []byte {
	t.Helper()
	src := testVideo(t)
	b, err := io.ReadAll(mp4.WithPadding(src, n))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := len(src) + 8; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// vendor serves one output file, as a CDN does: with ranges (and If-Range)
// through http.ServeContent, or, with noRanges, always whole with 200. It
// counts the bytes it sends and the requests that asked for a range. The
// file can be replaced (a new version, new ETag); with lyingIfRange the
// vendor answers a Range request with 206 even when If-Range no longer
// matches, so only the client's own check stands between it and a splice.
type vendor struct {
	noRanges     bool
	lyingIfRange bool

	mu     sync.Mutex
	file   []byte
	etag   string
	served atomic.Int64
	ranged atomic.Int32
}

func (v *vendor) set(file []byte, etag string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.file, v.etag = file, etag
}

func (v *vendor) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		file, etag := v.file, v.etag
		v.mu.Unlock()
		if r.Header.Get("Range") != "" {
			v.ranged.Add(1)
		}
		cw := &countingWriter{ResponseWriter: w, n: &v.served}
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("ETag", etag)
		switch {
		case v.noRanges:
			w.Header().Set("Content-Length", strconv.Itoa(len(file)))
			cw.Write(file)
		case v.lyingIfRange:
			r.Header.Del("If-Range")
			http.ServeContent(cw, r, "out.mp4", time.Time{}, bytes.NewReader(file))
		default:
			http.ServeContent(cw, r, "out.mp4", time.Time{}, bytes.NewReader(file))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// dyingClient is the HTTP client of a worker that dies after reading cut
// bytes of the output: its context is cancelled (kill) and the read fails
// there, so the worker stops exactly at cut, whatever the network buffered.
func dyingClient(base *http.Client, cut int64, kill context.CancelFunc) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := base.Transport.RoundTrip(r)
		if err == nil {
			res.Body = &dyingBody{ReadCloser: res.Body, left: cut, kill: kill}
		}
		return res, err
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type dyingBody struct {
	io.ReadCloser
	left int64
	kill context.CancelFunc
}

func (d *dyingBody) Read(p []byte) (int, error) {
	if d.left <= 0 {
		d.kill()
		return 0, context.Canceled
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.ReadCloser.Read(p)
	d.left -= int64(n)
	return n, err
}

// fetching is a provider that downloads its outputs itself (a
// providers.Downloader, as Veo is), with a plain GET through its client.
type fetching struct {
	steady
	client *http.Client
}

func (fetching) Name() string { return "steady" }

func (d fetching) Download(ctx context.Context, raw string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	return d.client.Do(req)
}

// resumeRun has a first worker copy cut bytes of the vendor's file and
// die, then a second worker (a process of its own, as after the queue's
// visibility timeout) take the ingest over, with between() run in the
// gap. With viaDownloader the provider downloads its outputs itself. It
// returns the job as the second worker left it, with its events.
func resumeRun(t *testing.T, v *vendor, srv *httptest.Server, cut int64, between func(), viaDownloader bool) (*fixture, *jobs.Job, []*jobs.Event) {
	t.Helper()
	const part = 1 << 20
	first, kill := context.WithCancel(context.Background())
	defer kill()
	var d1, d2 providers.Driver = steady{}, steady{}
	if viaDownloader {
		d1, d2 = fetching{client: dyingClient(srv.Client(), cut, kill)}, fetching{client: srv.Client()}
	}
	f := newFixture(t, worker.Config{HTTPClient: dyingClient(srv.Client(), cut, kill), IngestPartBytes: part}, d1)
	job := f.submittedJob(t, "steady", "gen-1")
	task := ingestTask(job, srv.URL+"/out.mp4")
	if err := f.w.Handle(first, task); !errors.Is(err, context.Canceled) {
		t.Fatalf("the first worker's ingest returned %v, want it killed (context canceled)", err)
	}
	if got := f.job(t, job.ID); got.Status != jobs.StatusSubmitted {
		t.Fatalf("job after the first worker died: %s, want SUBMITTED", got.Status)
	}
	if between != nil {
		between()
	}
	second := f.another(worker.Config{HTTPClient: srv.Client(), IngestPartBytes: part}, d2)
	if err := second.Handle(context.Background(), task); err != nil {
		t.Fatalf("the second worker's ingest: %v", err)
	}
	got := f.job(t, job.ID)
	evs, err := f.store.EventsOf(context.Background(), []int64{job.ID})
	if err != nil {
		t.Fatal(err)
	}
	return f, got, evs[job.ID]
}

// checkStored fails the test unless the job completed with one artifact
// whose bytes, in the bucket, and SHA-256 are want's; and no part of the
// copy is left in the bucket.
func checkStored(t *testing.T, f *fixture, job *jobs.Job, want []byte) {
	t.Helper()
	ctx := context.Background()
	if job.Status != jobs.StatusCompleted {
		t.Fatalf("job ended %s (%s), want COMPLETED", job.Status, deref(job.ErrorMessage))
	}
	arts, err := f.store.ArtifactsOf(ctx, []int64{job.ID})
	if err != nil || len(arts[job.ID]) != 1 {
		t.Fatalf("artifacts: %v, %v; want one", arts, err)
	}
	a := arts[job.ID][0]
	r, err := f.bucket.NewReader(ctx, a.StorageKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	wantSum := sha256.Sum256(want)
	if got := hex.EncodeToString(h.Sum(nil)); n != int64(len(want)) || got != hex.EncodeToString(wantSum[:]) || a.SHA256 != got || a.SizeBytes != n {
		t.Errorf("stored %d bytes with sha256 %.12s (artifact says %d, %.12s); the vendor's file has %d bytes, sha256 %.12x",
			n, got, a.SizeBytes, a.SHA256, len(want), wantSum)
	}
	if !strings.HasPrefix(a.StorageKey, "artifacts/"+job.PublicID+"/1/") || a.MimeType != "video/mp4" {
		t.Errorf("artifact key %q, type %q; want artifacts/<job>/1/…, video/mp4", a.StorageKey, a.MimeType)
	}
	if left, err := f.bucket.List(ctx, "ingest/"); err != nil || len(left) != 0 {
		t.Errorf("parts left in the bucket after the job completed: %v, %v", left, err)
	}
}

// eventOf returns the message of the job's event of type typ, "" if none.
func eventOf(evs []*jobs.Event, typ string) string {
	for _, e := range evs {
		if e.Type == typ {
			return deref(e.Message)
		}
	}
	return ""
}

// A worker that dies near the end of copying a large output leaves the
// parts it finished in the bucket; the worker that takes the ingest over
// asks the vendor for the rest only (Range), so the vendor sends about the
// file's size in all instead of the dead worker's share again on top, the
// stored video is the vendor's file byte for byte, and the job's log says
// where the copy resumed. Before, the takeover downloaded everything again.
func TestIngestResumesAfterWorkerDied(t *testing.T) {
	t.Parallel()
	const size, part = 4 << 20, 1 << 20
	file := largeVideo(t, size, 1)
	v := &vendor{}
	v.set(file, `"v1"`)
	srv := v.start(t)
	f, job, evs := resumeRun(t, v, srv, size-part/2, nil, false) // dies in the last part

	checkStored(t, f, job, file)
	if served := v.served.Load(); served > size+part {
		t.Errorf("the vendor sent %d bytes for a %d-byte file, want at most the file and the part the dead worker did not finish (%d)", served, size, size+part)
	}
	if msg := eventOf(evs, "ingest_resumed"); msg != "resumed the copy at 3.1 MB of 4.2 MB" {
		t.Errorf("ingest_resumed event %q, want \"resumed the copy at 3.1 MB of 4.2 MB\"", msg)
	}
	if v.ranged.Load() != 1 {
		t.Errorf("%d requests asked for a range, want 1 (the takeover's)", v.ranged.Load())
	}
}

// Where a copy cannot be resumed, the takeover copies from the start and
// the job's log says why; the stored video is whole and never spliced from
// two versions of the vendor's file.
func TestIngestCannotResume(t *testing.T) {
	t.Parallel()
	const size, part = 4 << 20, 1 << 20
	v1, v2 := largeVideo(t, size, 1), largeVideo(t, size, 2)
	tests := []struct {
		name         string
		noRanges     bool
		lyingIfRange bool
		replace      bool // the vendor's file changes while no worker copies it
		downloader   bool // the provider downloads its outputs itself
		why          string
	}{
		{name: "vendor ignores Range", noRanges: true, why: "the provider does not serve ranges"},
		{name: "provider downloads itself", downloader: true, why: "this provider's downloads cannot ask for a range"},
		{name: "file changed", replace: true, why: "the output changed at the provider since the copy began"},
		{name: "file changed, vendor ignores If-Range", replace: true, lyingIfRange: true, why: "the output changed at the provider since the copy began"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &vendor{noRanges: tt.noRanges, lyingIfRange: tt.lyingIfRange}
			v.set(v1, `"v1"`)
			srv := v.start(t)
			want := v1
			var between func()
			if tt.replace {
				want = v2
				between = func() { v.set(v2, `"v2"`) }
			}
			f, job, evs := resumeRun(t, v, srv, size-part/2, between, tt.downloader)

			checkStored(t, f, job, want)
			wantMsg := "could not resume the copy at 3.1 MB: " + tt.why + "; copying from the start"
			if msg := eventOf(evs, "ingest_restarted"); msg != wantMsg {
				t.Errorf("ingest_restarted event %q, want %q", msg, wantMsg)
			}
			if msg := eventOf(evs, "ingest_resumed"); msg != "" {
				t.Errorf("the log says %q although the copy restarted", msg)
			}
		})
	}
}

// An ingest that copied the whole output and then failed for a passing
// reason (here the malware scanner was unavailable) keeps the copy's
// parts: the next delivery stores the video from them without asking the
// vendor for a single byte more. Before, it downloaded the file again.
func TestIngestRetryAfterCopyDownloadsNothing(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 1234
	file := largeVideo(t, size, 3)
	v := &vendor{}
	v.set(file, `"v1"`)
	srv := v.start(t)
	scanner := &fakeScanner{answers: []scanAnswer{{err: errors.New("clamd: connection refused")}, {}}}
	f := newFixture(t, worker.Config{HTTPClient: srv.Client(), IngestPartBytes: 1 << 20, Scanner: scanner}, steady{})
	job := f.submittedJob(t, "steady", "gen-1")
	task := ingestTask(job, srv.URL+"/out.mp4")
	if err := f.w.Handle(context.Background(), task); err == nil {
		t.Fatal("ingest with the scanner down succeeded, want an error (delivered again)")
	}
	if err := f.w.Handle(context.Background(), task); err != nil {
		t.Fatalf("ingest delivered again: %v", err)
	}
	checkStored(t, f, f.job(t, job.ID), file)
	if served := v.served.Load(); served != size {
		t.Errorf("the vendor sent %d bytes for a %d-byte file, want it once", served, size)
	}
	if len(scanner.scanned) != 2 || !bytes.Equal(scanner.scanned[1], file) {
		t.Errorf("scanned %d times, the last one the stored file: %v; want 2, true", len(scanner.scanned), len(scanner.scanned) == 2 && bytes.Equal(scanner.scanned[1], file))
	}
}
