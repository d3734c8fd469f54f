package blob

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Handler serves GET and HEAD /files/{key...} for URLs made by SignedURL on
// file:// and mem:// buckets. It works mounted at "/files/" (key taken from
// the request path) or under a "/files/{key...}" pattern.
//
// Refusals are JSON, {"error":{"code":...,"message":...}}: 403 FORBIDDEN for a
// missing or tampered signature (including a URL rewritten to another key),
// 403 URL_EXPIRED once the URL's expiry has passed, 404 NOT_FOUND when the
// object does not exist, 405 METHOD_NOT_ALLOWED for other methods.
//
// Objects stream with their stored Content-Type and Content-Length. A Range
// request gets 206 with Content-Range, served by range reads, so video
// players can seek without the object being buffered; conditional requests
// work through the stored ETag and modification time.
//
// Cloud buckets are downloaded from the provider, so for them every request
// is 404.
func (b *Bucket) Handler() http.Handler {
	return http.HandlerFunc(b.serveFile)
}

func (b *Bucket) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "only GET and HEAD are allowed")
		return
	}
	key := r.PathValue("key")
	if key == "" {
		key, _ = strings.CutPrefix(r.URL.Path, filesPrefix)
	}
	if b.signer == nil || key == "" {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such file")
		return
	}
	now := b.now()
	switch err := b.signer.verify(key, r.URL.Query(), now); {
	case errors.Is(err, errExpired):
		writeError(w, http.StatusForbidden, "URL_EXPIRED", "this download link has expired; request a new one")
		return
	case err != nil:
		writeError(w, http.StatusForbidden, "FORBIDDEN", "missing or invalid download link signature")
		return
	}
	// SignedURL never signs an invalid key, but storage should not see one
	// even if the signing key leaked.
	if checkKey("serve", key) != nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such file")
		return
	}

	ctx := r.Context()
	attrs, err := b.bkt.Attributes(ctx, key)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			writeError(w, http.StatusNotFound, "NOT_FOUND", "no such file")
			return
		}
		slog.ErrorContext(ctx, "serve file: read attributes", "key", key, "err", err)
		writeError(w, http.StatusInternalServerError, "INTERNAL", "storage error")
		return
	}

	h := w.Header()
	ct := attrs.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct) // set, so ServeContent does not sniff
	if attrs.ETag != "" {
		h.Set("ETag", attrs.ETag)
	}
	// Only the URL's holder may cache, and not past the URL's expiry.
	expires, _ := strconv.ParseInt(r.URL.Query().Get("expires"), 10, 64)
	maxAge := max(0, int64(time.Unix(expires, 0).Sub(now)/time.Second))
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(maxAge, 10))
	// Stored bytes may come from providers or users: never let a browser run
	// them as a page on vidgate's origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")

	content := &objectSeeker{ctx: ctx, bkt: b.bkt, key: key, size: attrs.Size}
	defer content.Close()
	// ServeContent handles Range (206/416), HEAD, Content-Length and
	// conditional requests; content turns its seeks into range reads.
	http.ServeContent(w, r, "", attrs.ModTime, content)
	if content.err != nil && !errors.Is(content.err, context.Canceled) {
		slog.ErrorContext(ctx, "serve file: read", "key", key, "err", content.err)
	}
}

// objectSeeker adapts range reads to the io.ReadSeeker http.ServeContent
// wants. Seek only records the offset; the next Read opens a range reader
// from there to the end of the object, which is streamed, not buffered.
type objectSeeker struct {
	ctx  context.Context // the request's; lives only as long as serveFile
	bkt  *gcblob.Bucket
	key  string
	size int64

	off int64
	r   *gcblob.Reader // open at off, or nil
	err error          // first storage error, for logging
}

func (s *objectSeeker) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if s.r == nil {
		r, err := s.bkt.NewRangeReader(s.ctx, s.key, s.off, s.size-s.off, nil)
		if err != nil {
			s.err = err
			return 0, err
		}
		s.r = r
	}
	n, err := s.r.Read(p)
	s.off += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

func (s *objectSeeker) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.off + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	if abs != s.off {
		s.Close()
		s.off = abs
	}
	return abs, nil
}

func (s *objectSeeker) Close() error {
	if s.r == nil {
		return nil
	}
	err := s.r.Close()
	s.r = nil
	return err
}

// writeError sends the small JSON error body vidgate's HTTP API uses.
func writeError(w http.ResponseWriter, status int, code, message string) {
	type body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	var v body
	v.Error.Code = code
	v.Error.Message = message
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
