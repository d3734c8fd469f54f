package sim

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/mp4"
)

// corruptBody is what a CorruptOutput generation serves as "video/mp4": an
// error page from a misconfigured CDN, the classic way a URL that should
// hold a video yields something else.
const corruptBody = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>" +
	"<body><h1>502 Bad Gateway</h1><p>upstream error</p></body></html>\n"

// handleFile serves GET {prefix}/v1/files/{id}.mp4?expires=…&sig=…: the
// output of a succeeded generation, streamed in constant memory, or 410 Gone once it
// has expired.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".mp4")
	// Only the signed URL of an output serves it: a missing or forged
	// signature is told nothing more than an unknown file.
	if err := s.files.Verify(id, r.URL.Query(), s.now()); errors.Is(err, blob.ErrURLExpired) {
		writeError(w, http.StatusGone, CodeGone, "this output has expired")
		return
	} else if err != nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such file")
		return
	}
	s.mu.Lock()
	g := s.gens[id]
	var succeeded, expired bool
	var finished time.Time // Last-Modified
	if ok && g != nil {
		succeeded = g.status == statusSucceeded
		expired = succeeded && !s.now().Before(g.expiresAt)
		finished = g.updated
	}
	s.mu.Unlock()
	switch {
	case !succeeded:
		writeError(w, http.StatusNotFound, CodeNotFound, "no such file")
		return
	case expired:
		writeError(w, http.StatusGone, CodeGone, "this output has expired")
		return
	}

	var body *io.SectionReader
	if g.b.CorruptOutput {
		size := max(g.b.OutputSize, int64(len(corruptBody)))
		body = io.NewSectionReader(repeat(corruptBody), 0, size)
	} else {
		body = mp4.Padded(clipOf(g.req, g.b).encode(), g.b.OutputSize)
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	// A generation's output never changes: its id is a strong validator,
	// for If-Range on the Range requests of a resumed download.
	w.Header().Set("ETag", `"`+g.id+`"`)
	// ServeContent answers HEAD, Range (206, or 416 when unsatisfiable)
	// and If-Range; an error while writing is the client going away.
	http.ServeContent(w, r, "", finished, body)
}

// repeat is an endless repetition of a string, readable at any offset.
type repeat string

func (r repeat) ReadAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		c := copy(p[n:], r[off%int64(len(r)):])
		n += c
		off += int64(c)
	}
	return len(p), nil
}
