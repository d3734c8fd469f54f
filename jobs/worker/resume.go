package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/internal/crashpoint"
	"github.com/vidgate/vidgate/providers"
)

// An output is copied into the bucket in parts (Config.IngestPartBytes),
// each a temporary object stored as soon as it is whole, under
//
//	ingest/<job>/<attempt>/<source>/<offset, 12 digits>
//
// where <source> names the file the bytes came from (sourceInfo.id). A
// worker that takes over the ingest of one that died lists the parts,
// asks the vendor for the rest with a Range request, and so downloads
// only what the dead worker had not stored. When all parts are in, they
// are streamed in order into the artifact's key (a copy within the bucket,
// hashed and sniffed as a single download is), and deleted once the job
// has its outcome.
//
// Bytes are never spliced from two versions of a file: the vendor's answer
// to the Range request must carry the same validator (strong ETag, else
// Last-Modified, else the same URL) and the same total length as the parts,
// and parts from different sources live under different keys, so that
// even two workers racing on a file that changed cannot mix them.

// Event types of the job log for how an ingest continued another's copy.
const (
	eventIngestResumed   = "ingest_resumed"
	eventIngestRestarted = "ingest_restarted"
)

// sourceInfo identifies one version of a provider's output file.
type sourceInfo struct {
	etag         string // strong ETag; weak ones cannot vouch for bytes
	lastModified string
	urlSum       string // of the URL: the only identity a file without validators has
	total        int64  // the file's length; -1 unknown
	contentType  string // the vendor's Content-Type, a hint for sniffing
}

// sourceOf describes the file behind res, an answer from rawURL: a 200
// with its Content-Length, or a 206 with its Content-Range.
func sourceOf(res *http.Response, rawURL string) sourceInfo {
	s := sourceInfo{
		lastModified: asciiOnly(res.Header.Get("Last-Modified")),
		urlSum:       hashHex(rawURL),
		total:        res.ContentLength,
		contentType:  asciiOnly(res.Header.Get("Content-Type")),
	}
	if e := asciiOnly(res.Header.Get("ETag")); e != "" && !strings.HasPrefix(e, "W/") {
		s.etag = e
	}
	if res.StatusCode == http.StatusPartialContent {
		s.total = -1
		if _, total, ok := parseContentRange(res.Header.Get("Content-Range")); ok {
			s.total = total
		}
	}
	return s
}

// id names the file: two answers with the same id are the same bytes.
func (s sourceInfo) id() string {
	v := "url:" + s.urlSum
	switch {
	case s.etag != "":
		v = "etag:" + s.etag
	case s.lastModified != "":
		v = "modified:" + s.lastModified
	}
	return hashHex(v + "\n" + strconv.FormatInt(s.total, 10))[:16]
}

// ifRange is the validator for an If-Range header, "" if there is none.
func (s sourceInfo) ifRange() string {
	if s.etag != "" {
		return s.etag
	}
	return s.lastModified
}

// meta is what each part stores of its source; sourceFromMeta reads it
// back. Values are printable ASCII, as every bucket accepts.
func (s sourceInfo) meta() map[string]string {
	return map[string]string{
		"etag": s.etag, "last-modified": s.lastModified, "url-sha256": s.urlSum,
		"total": strconv.FormatInt(s.total, 10), "content-type": s.contentType,
	}
}

func sourceFromMeta(m map[string]string) sourceInfo {
	total, err := strconv.ParseInt(m["total"], 10, 64)
	if err != nil {
		total = -1
	}
	return sourceInfo{etag: m["etag"], lastModified: m["last-modified"], urlSum: m["url-sha256"], total: total, contentType: m["content-type"]}
}

// asciiOnly is s when it is printable ASCII, else "": a header value that
// a bucket could not store as metadata cannot identify a file across
// workers.
func asciiOnly(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ""
		}
	}
	return s
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// parseContentRange reads "bytes first-last/total" with a known total.
func parseContentRange(v string) (first, total int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	total, err3 := strconv.ParseInt(size, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || total <= last {
		return 0, 0, false
	}
	return first, total, true
}

// partsPrefix is where the parts of one job attempt's copy are stored.
func partsPrefix(job *jobs.Job, attempt int) string {
	return fmt.Sprintf("ingest/%s/%d/", job.PublicID, attempt)
}

func partKey(prefix string, src sourceInfo, off int64) string {
	return fmt.Sprintf("%s%s/%012d", prefix, src.id(), off)
}

// partial is what earlier deliveries of an ingest stored: the parts of one
// source, contiguous from the file's start.
type partial struct {
	src  sourceInfo
	keys []string // in file order
	end  int64    // bytes stored
}

// complete reports whether the parts hold the whole file.
func (p partial) complete() bool { return p.src.total > 0 && p.end == p.src.total }

// findPartial returns the longest run of parts stored under prefix. A part
// counts only when its key has the exact shape partKey gives (a backend's
// temporary files do not) and its metadata names the same source as its
// key.
func (w *Worker) findPartial(ctx context.Context, prefix string) (partial, error) {
	objs, err := w.bucket.List(ctx, prefix)
	if err != nil {
		return partial{}, fmt.Errorf("list copied parts: %w", err)
	}
	type part struct {
		key  string
		size int64
	}
	bySource := map[string]map[int64]part{}
	for _, o := range objs {
		id, off, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !ok || len(off) != 12 || o.Size <= 0 {
			continue
		}
		n, err := strconv.ParseInt(off, 10, 64)
		if err != nil || n < 0 {
			continue
		}
		if bySource[id] == nil {
			bySource[id] = map[int64]part{}
		}
		bySource[id][n] = part{o.Key, o.Size}
	}
	var best partial
	for id, parts := range bySource {
		var run partial
		for off := int64(0); ; {
			p, ok := parts[off]
			if !ok {
				break
			}
			m, err := w.bucket.Metadata(ctx, p.key)
			if errors.Is(err, blob.ErrNotFound) {
				break // deleted meanwhile: a racing ingest finished
			}
			if err != nil {
				return partial{}, fmt.Errorf("read copied part: %w", err)
			}
			src := sourceFromMeta(m)
			if src.id() != id {
				break
			}
			run.src = src
			run.keys = append(run.keys, p.key)
			off += p.size
			run.end = off
		}
		if run.end > best.end {
			best = run
		}
	}
	return best, nil
}

// clearParts deletes every object under prefix: the parts of a copy that
// is over.
func (w *Worker) clearParts(ctx context.Context, prefix string) { w.clearPartsExcept(ctx, prefix, "") }

// clearPartsExcept deletes the objects under prefix but those of source
// keep ("" for none).
func (w *Worker) clearPartsExcept(ctx context.Context, prefix, keep string) {
	ctx = context.WithoutCancel(ctx)
	objs, err := w.bucket.List(ctx, prefix)
	if err != nil {
		logger(ctx, w.log).WarnContext(ctx, "list copied parts for deletion", "prefix", prefix, "err", err)
		return
	}
	for _, o := range objs {
		if keep == "" || !strings.HasPrefix(o.Key, prefix+keep+"/") {
			w.discard(ctx, o.Key)
		}
	}
}

// copyStart is where a delivery's copy of the output begins.
type copyStart struct {
	res  *http.Response // nil when the parts hold the whole file already
	url  string
	src  sourceInfo
	from int64    // offset of res's first byte
	keys []string // parts before from
}

// openCopy opens the job's output for copying from where prev ends, or
// from the start when prev is empty or cannot be continued: the vendor
// answers a Range request with the whole file (200), the file changed, its
// length is unknown, or the provider's downloads cannot carry a Range
// header (providers.Downloader). Each way it records on the job's log
// whether the copy resumed, or why it could not.
//
// Like openOutput, it returns a non-empty gone when the output cannot be
// had, and an error for a transient failure.
func (w *Worker) openCopy(ctx context.Context, job *jobs.Job, rawURL, expiresAt string, prev partial) (copyStart, string, error) {
	if prev.end == 0 {
		res, used, gone, err := w.openOutput(ctx, job, rawURL, expiresAt, byteRange{})
		if err != nil || gone != "" {
			return copyStart{}, gone, err
		}
		return copyStart{res: res, url: used, src: sourceOf(res, used)}, "", nil
	}
	at := formatBytes(prev.end)
	if prev.complete() {
		w.note(ctx, job, eventIngestResumed, fmt.Sprintf("resumed the copy at %s of %s: all of it was copied already", at, formatBytes(prev.src.total)))
		return copyStart{src: prev.src, from: prev.end, keys: prev.keys}, "", nil
	}
	restart := func(why string, res *http.Response, used string) (copyStart, string, error) {
		w.note(ctx, job, eventIngestRestarted, fmt.Sprintf("could not resume the copy at %s: %s; copying from the start", at, why))
		if res == nil {
			var gone string
			var err error
			if res, used, gone, err = w.openOutput(ctx, job, rawURL, expiresAt, byteRange{}); err != nil || gone != "" {
				return copyStart{}, gone, err
			}
		}
		src := sourceOf(res, used)
		// Parts of another version would otherwise be the longest run
		// the next takeover finds, and be tried (and refused) again.
		w.clearPartsExcept(ctx, partsPrefix(job, job.Attempt), src.id())
		return copyStart{res: res, url: used, src: src}, "", nil
	}
	switch {
	case prev.src.total <= 0:
		return restart("the provider gave no length for the output", nil, "")
	case w.isDownloader(job):
		return restart("this provider's downloads cannot ask for a range", nil, "")
	}

	res, used, gone, err := w.openOutput(ctx, job, rawURL, expiresAt, byteRange{from: prev.end, ifRange: prev.src.ifRange()})
	if err != nil || gone != "" {
		return copyStart{}, gone, err
	}
	cur := sourceOf(res, used)
	switch res.StatusCode {
	case http.StatusPartialContent:
		first, _, ok := parseContentRange(res.Header.Get("Content-Range"))
		if ok && first == prev.end && cur.id() == prev.src.id() {
			w.note(ctx, job, eventIngestResumed, fmt.Sprintf("resumed the copy at %s of %s", at, formatBytes(cur.total)))
			return copyStart{res: res, url: used, src: cur, from: prev.end, keys: prev.keys}, "", nil
		}
		res.Body.Close()
		return restart("the output changed at the provider since the copy began", nil, "")
	case http.StatusOK:
		if cur.id() != prev.src.id() {
			return restart("the output changed at the provider since the copy began", res, used)
		}
		return restart("the provider does not serve ranges", res, used)
	default: // 416: the file is shorter than the parts
		res.Body.Close()
		return restart("the output changed at the provider since the copy began", nil, "")
	}
}

func (w *Worker) isDownloader(job *jobs.Job) bool {
	d, err := w.driver(job.Provider)
	if err != nil {
		return false
	}
	_, ok := providers.DownloaderOf(d)
	return ok
}

// copyParts stores the rest of st's response under prefix in parts, and
// returns the keys of all the file's parts and its length. More than
// maxBytes is an error matching blob.ErrTooLarge, found after at most
// maxBytes+1 bytes.
func (w *Worker) copyParts(ctx context.Context, prefix string, st copyStart, maxBytes int64) ([]string, int64, error) {
	if st.src.total > maxBytes {
		return nil, 0, fmt.Errorf("the provider reports %d bytes: %w", st.src.total, blob.ErrTooLarge)
	}
	keys, off := st.keys, st.from
	body := crashpoint.Reader("ingest.mid-copy", st.res.Body)
	for {
		limit := min(w.cfg.IngestPartBytes, maxBytes+1-off)
		n, err := w.bucket.PutPart(ctx, partKey(prefix, st.src, off), io.LimitReader(body, limit), st.src.meta())
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			break
		}
		keys = append(keys, partKey(prefix, st.src, off))
		off += n
		if off > maxBytes {
			return nil, 0, fmt.Errorf("more than %d bytes: %w", maxBytes, blob.ErrTooLarge)
		}
		crashpoint.At("ingest.after-part")
		if n < limit {
			break // the body ended inside this part
		}
	}
	if st.src.total > 0 && off != st.src.total {
		return nil, 0, fmt.Errorf("the provider sent %d of the output's %d bytes", off, st.src.total)
	}
	return keys, off, nil
}

// note records on the job's log how its ingest went (events of type
// eventIngestResumed and eventIngestRestarted), retrying once when a late
// webhook moved the job between SUBMITTED and PROCESSING meanwhile. A
// failure to record is logged, not fatal: the copy goes on.
func (w *Worker) note(ctx context.Context, job *jobs.Job, typ, msg string) {
	log := logger(ctx, w.log)
	log.InfoContext(ctx, msg)
	for try := 0; ; try++ {
		_, err := w.store.TransitionTx(ctx, jobs.Transition{
			JobID: job.ID, From: job.Status, To: job.Status, Type: typ, ExpectAttempt: job.Attempt,
			Source: jobs.SourceWorker, Message: msg,
		})
		if err == nil {
			return
		}
		if isGuard(err) && try == 0 {
			if cur, lerr := w.store.JobByID(ctx, job.ID); lerr == nil && cur.Attempt == job.Attempt {
				job.Status = cur.Status
				continue
			}
		}
		log.WarnContext(ctx, "record the ingest's progress on the job", "err", err)
		return
	}
}

// formatBytes writes n in decimal units, as "1.2 GB".
func formatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}
