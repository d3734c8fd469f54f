package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/mp4"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/internal/crashpoint"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// ingest copies a finished job's video from the provider into the bucket —
// streamed in parts that a later delivery continues from (see resume.go),
// then capped, hashed and sniffed as one file — checks that it is an MP4
// and reads its duration and size from the stored file, has the configured
// scanner check it (Config.Scanner), then records the artifact and
// completes the job in one transaction.
func (w *Worker) ingest(ctx context.Context, job *jobs.Job, t queue.Task) error {
	log := logger(ctx, w.log)
	prefix := partsPrefix(job, t.Attempt)
	if job.Attempt != t.Attempt || (job.Status != jobs.StatusSubmitted && job.Status != jobs.StatusProcessing) {
		w.clearParts(ctx, prefix) // of a copy no one will finish
		return nil                // done already, or the job moved on
	}
	// fail ends the job, and with it the copy: its parts go.
	fail := func(code, msg string) error {
		w.clearParts(ctx, prefix)
		return w.fail(ctx, job, code, msg)
	}
	url := t.Data["url"]
	if url == "" {
		return fail(jobs.FailArtifactUnavailable, "the provider gave no output URL")
	}
	prev, err := w.findPartial(ctx, prefix)
	if err != nil {
		return err
	}
	st, gone, err := w.openCopy(ctx, job, url, t.Data["expires_at"], prev)
	if err != nil {
		return err // transient: delivered again
	}
	if gone != "" {
		return fail(jobs.FailArtifactUnavailable, gone)
	}
	tooLarge := fmt.Sprintf("the output is larger than the %d-byte limit", w.cfg.MaxArtifactBytes)
	// Each copy gets its own key: two ingests of one job racing (a poll and
	// a webhook both saw the end) must never delete each other's file.
	key := fmt.Sprintf("artifacts/%s/%d/%s.mp4", job.PublicID, job.Attempt, newID()[:8])
	var put blob.PutResult
	if st.res != nil && st.from == 0 && st.src.total > 0 && st.src.total <= w.cfg.IngestPartBytes {
		// One part's worth or less: straight into its key, as parts would
		// only add a second write of the whole file. A takeover of a copy
		// this small starts it over.
		put, err = w.bucket.PutTyped(ctx, key, crashpoint.Reader("ingest.mid-copy", st.res.Body), w.cfg.MaxArtifactBytes, st.src.contentType)
		st.res.Body.Close()
		if err == nil && put.Size != st.src.total {
			w.discard(ctx, key)
			err = fmt.Errorf("the provider sent %d bytes of %d", put.Size, st.src.total)
		}
		err = providers.RedactURLError(err, st.url)
	} else {
		keys, size := st.keys, st.from
		if st.res != nil {
			keys, size, err = w.copyParts(ctx, prefix, st, w.cfg.MaxArtifactBytes)
			st.res.Body.Close()
			if errors.Is(err, blob.ErrTooLarge) {
				return fail(jobs.FailArtifactInvalid, tooLarge)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// The whole parts stay: the next delivery continues after them.
				return fmt.Errorf("store output: %w", providers.RedactURLError(err, st.url))
			}
		}
		parts := w.bucket.Concat(ctx, keys)
		put, err = w.bucket.PutTyped(ctx, key, parts, w.cfg.MaxArtifactBytes, st.src.contentType)
		parts.Close()
		if err == nil && put.Size != size {
			w.discard(ctx, key)
			err = fmt.Errorf("the parts hold %d bytes, %d were copied", put.Size, size) // one was replaced meanwhile
		}
	}
	if errors.Is(err, blob.ErrTooLarge) {
		return fail(jobs.FailArtifactInvalid, tooLarge)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("store output: %w", err)
	}
	info, err := w.readInfo(ctx, key, put)
	if errors.Is(err, mp4.ErrInvalid) {
		w.discard(ctx, key)
		return fail(jobs.FailArtifactInvalid, "the output is not a valid MP4 video: "+err.Error())
	}
	if err != nil {
		return err
	}
	if w.cfg.Scanner != nil {
		verdict, err := w.scan(ctx, key)
		if err != nil {
			// Never complete unscanned: the task is delivered again, and
			// stores the file from its parts and scans it afresh; this
			// copy is not kept meanwhile.
			w.discard(ctx, key)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.WarnContext(ctx, "output scan failed; the ingest will be retried", "err", err)
			return fmt.Errorf("scan output: %w", err)
		}
		if verdict.Infected {
			w.discard(ctx, key)
			log.WarnContext(ctx, "output quarantined by the scanner; file deleted", "signature", verdict.Signature, "sha256", put.SHA256)
			return fail(jobs.FailArtifactQuarantined,
				fmt.Sprintf("the output was flagged by the malware scan (%s) and deleted", clipSignature(verdict.Signature)))
		}
	}

	dur := info.Duration.Seconds()
	art := &jobs.Artifact{
		PublicID: newID(), JobID: job.ID, Kind: jobs.ArtifactVideo, StorageKey: key,
		MimeType: put.ContentType, SizeBytes: put.Size, SHA256: put.SHA256,
		DurationSeconds: &dur, Width: &info.Width, Height: &info.Height,
	}
	if w.cfg.ArtifactRetention > 0 {
		exp := w.store.Now().Add(w.cfg.ArtifactRetention)
		art.ExpiresAt = &exp
	}
	if err := w.complete(ctx, job, art, info, put); err != nil {
		if isGuard(err) {
			log.InfoContext(ctx, "job moved on during ingest; output discarded")
			w.discard(ctx, key)
			w.clearParts(ctx, prefix)
			return nil
		}
		return err
	}
	w.clearParts(ctx, prefix)
	w.cfg.OnArtifact(string(jobs.ArtifactVideo), put.Size)
	log.InfoContext(ctx, "job completed", "bytes", put.Size, "width", info.Width, "height", info.Height, "duration_s", dur)
	return nil
}

// openOutput opens a job's output for copying, from rawURL or, when that
// URL is dead, from a fresh one. Vendors hand out short-lived signed URLs
// and issue new ones when the request is read again (Runway's expire in
// 24–48 h), so a URL past the expiry the provider gave (expiresAt, RFC
// 3339, may be "") or one answering 401, 403, 404 or 410 is not the end:
// the provider's Status is read once more and, if the request still
// succeeded with an output, that output is opened instead. This holds for
// every driver; one whose URLs do not change simply gives the same answer.
//
// It returns the open response and the URL it came from; or a non-empty
// gone, the reason the output cannot be had (the job fails with
// FailArtifactUnavailable); or an error for a transient failure, after
// which the task is delivered again. No error or reason quotes a URL's
// query. A non-empty rng asks for the file from rng.from on (see openURL).
func (w *Worker) openOutput(ctx context.Context, job *jobs.Job, rawURL, expiresAt string, rng byteRange) (res *http.Response, used, gone string, err error) {
	exp, perr := time.Parse(time.RFC3339, expiresAt)
	expired := perr == nil && w.store.Now().After(exp)
	if expired {
		gone = "the provider's output expired at " + exp.Format(time.RFC3339) + " before it could be copied"
	} else if res, gone, err = w.openURL(ctx, job, rawURL, rng); err != nil || gone == "" {
		return res, rawURL, "", err
	}

	fresh, ok, err := w.renewOutput(ctx, job)
	if err != nil {
		return nil, "", "", err
	}
	switch {
	case !ok:
		return nil, "", gone + "; the provider no longer reports an output for the request", nil
	case fresh.URL == rawURL && !expired:
		// The same URL that just answered as gone: asking again would
		// only repeat that answer.
		return nil, "", gone, nil
	case !fresh.ExpiresAt.IsZero() && w.store.Now().After(fresh.ExpiresAt):
		return nil, "", gone + "; the provider's current output expired too", nil
	}
	logger(ctx, w.log).InfoContext(ctx, "output URL dead; copying from the one the provider reports now", "reason", gone)
	res, again, err := w.openURL(ctx, job, fresh.URL, rng)
	if err != nil || again != "" {
		if again != "" {
			gone += "; the URL the provider reports now failed too: " + again
		}
		return nil, "", gone, err
	}
	return res, fresh.URL, "", nil
}

// byteRange asks for an output from byte from on (from > 0), provided it
// is still the file ifRange (an ETag or Last-Modified) names, if set.
type byteRange struct {
	from    int64
	ifRange string
}

// openURL GETs one output URL (see download). A URL that cannot be
// requested, or that answers 401, 403, 404 or 410, is dead: gone says why.
// Another status than 200, or a failed request, is a transient error; with
// a range, 206 and 416 are answers too, for the caller to judge.
func (w *Worker) openURL(ctx context.Context, job *jobs.Job, rawURL string, rng byteRange) (res *http.Response, gone string, err error) {
	res, err = w.download(ctx, job, rawURL, rng)
	if providers.ErrorCode(err) == providers.CodeInvalidInput {
		return nil, "the provider's output URL is not valid", nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", err
	}
	switch res.StatusCode {
	case http.StatusOK:
		return res, "", nil
	case http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable:
		if rng.from > 0 {
			return res, "", nil
		}
		res.Body.Close()
		return nil, "", fmt.Errorf("download output: HTTP %d to a request without a range", res.StatusCode)
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		res.Body.Close()
		return nil, fmt.Sprintf("the provider's output is gone (HTTP %d)", res.StatusCode), nil
	default:
		res.Body.Close()
		return nil, "", fmt.Errorf("download output: HTTP %d", res.StatusCode)
	}
}

// renewOutput reads the job's provider request again and returns the video
// output it reports now; ok is false when the request no longer reports
// success with a video (or the job has no request id), which ends the
// ingest. A transient failure of the read is an error.
func (w *Worker) renewOutput(ctx context.Context, job *jobs.Job) (out providers.Output, ok bool, err error) {
	if job.ProviderRequestID == nil || *job.ProviderRequestID == "" {
		return providers.Output{}, false, nil
	}
	d, err := w.driver(job.Provider)
	if err != nil {
		return providers.Output{}, false, err
	}
	st, err := d.Status(ctx, *job.ProviderRequestID)
	if err != nil {
		if ctx.Err() != nil {
			return providers.Output{}, false, ctx.Err()
		}
		if providers.ErrorCode(err).Transient() {
			return providers.Output{}, false, fmt.Errorf("read provider status for a fresh output URL: %w", err)
		}
		return providers.Output{}, false, nil
	}
	if st.State != providers.StateSucceeded {
		return providers.Output{}, false, nil
	}
	out, ok = videoOutput(st)
	return out, ok, nil
}

// download GETs a job's output: through its driver when the driver is a
// providers.Downloader (the vendor wants credentials, which the driver adds
// to the request alone, so that the URL queued and stored carries none),
// else with a plain GET, which carries rng (a driver's Download cannot, and
// is never asked for a range). A URL that cannot be requested is an error with
// CodeInvalidInput. No error quotes the URL's query, where a signature or
// (from a task queued by an older version) a key may sit.
func (w *Worker) download(ctx context.Context, job *jobs.Job, rawURL string, rng byteRange) (*http.Response, error) {
	var res *http.Response
	d, err := w.driver(job.Provider)
	if err != nil {
		return nil, err // another worker may have it; the dead letter fails the job otherwise
	}
	if dl, ok := providers.DownloaderOf(d); ok {
		res, err = dl.Download(ctx, rawURL)
	} else {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if rerr != nil {
			return nil, providers.Errorf(providers.CodeInvalidInput, "the output URL is not valid")
		}
		if rng.from > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", rng.from))
			if rng.ifRange != "" {
				req.Header.Set("If-Range", rng.ifRange)
			}
		}
		res, err = w.cfg.HTTPClient.Do(req)
	}
	if err != nil {
		if providers.ErrorCode(err) == providers.CodeInvalidInput {
			return nil, err
		}
		return nil, fmt.Errorf("download output: %w", providers.RedactURLError(err, rawURL))
	}
	return res, nil
}

// readInfo checks that a stored output is an MP4 and reads its metadata
// with a few range reads.
func (w *Worker) readInfo(ctx context.Context, key string, put blob.PutResult) (mp4.Info, error) {
	if put.ContentType != "video/mp4" {
		return mp4.Info{}, fmt.Errorf("%w: the bytes are %s", mp4.ErrInvalid, put.ContentType)
	}
	ra, size, err := w.bucket.OpenReaderAt(ctx, key)
	if err != nil {
		return mp4.Info{}, err
	}
	defer ra.Close()
	return mp4.ReadInfo(ra, size)
}

// scan runs the configured scanner over a stored output.
func (w *Worker) scan(ctx context.Context, key string) (blob.Verdict, error) {
	r, err := w.bucket.NewReader(ctx, key)
	if err != nil {
		return blob.Verdict{}, err
	}
	defer r.Close()
	return w.cfg.Scanner.Scan(ctx, r)
}

// clipSignature keeps a scanner's signature name short and printable for
// the job's error message.
func clipSignature(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "") + "…"
	}
	if s == "" {
		s = "unnamed finding"
	}
	return s
}

func (w *Worker) discard(ctx context.Context, key string) {
	if err := w.bucket.Delete(context.WithoutCancel(ctx), key); err != nil {
		logger(ctx, w.log).WarnContext(ctx, "delete discarded output", "key", key, "err", err)
	}
}

// complete records the artifact and completes the job in one transaction.
// The job may move between SUBMITTED and PROCESSING while its output is
// copied (a late webhook); that is not a reason to give up, so the guard is
// retried with the job's current status while the attempt is active.
func (w *Worker) complete(ctx context.Context, job *jobs.Job, art *jobs.Artifact, info mp4.Info, put blob.PutResult) error {
	msg := fmt.Sprintf("video %dx%d, %.1fs, %d bytes, sha256 %s", info.Width, info.Height, info.Duration.Seconds(), put.Size, put.SHA256[:12])
	for try := 0; ; try++ {
		err := w.store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			stored, err := w.store.Transition(ctx, tx, jobs.Transition{
				JobID: job.ID, From: job.Status, To: job.Status, Type: "artifact_stored", ExpectAttempt: job.Attempt,
				Source: jobs.SourceWorker, Message: msg,
			})
			if err != nil {
				return err
			}
			if err := w.store.InsertArtifact(ctx, tx, art); err != nil {
				return err
			}
			_, err = w.store.Transition(ctx, tx, jobs.Transition{
				JobID: job.ID, From: stored.Status, To: jobs.StatusCompleted, ExpectAttempt: job.Attempt, Source: jobs.SourceWorker,
			})
			return err
		})
		if !isGuard(err) || try == 2 {
			return err
		}
		current, lerr := w.store.JobByID(ctx, job.ID)
		if lerr != nil {
			return lerr
		}
		if current.Attempt != job.Attempt || (current.Status != jobs.StatusSubmitted && current.Status != jobs.StatusProcessing) {
			return err
		}
		job = current
	}
}
