package sim

import (
	_ "embed"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/mp4"
)

// The sample videos are copies of blob/mp4's test fixtures (see
// blob/mp4/testdata/README.md for how they were made): small, real,
// playable H.264 MP4s.
var (
	//go:embed video/faststart.mp4
	landscapeMP4 []byte // 2 s, 320x180, moov before mdat
	//go:embed video/moov_at_end.mp4
	moovAtEndMP4 []byte // 2 s, 320x180, moov after mdat
	//go:embed video/portrait.mp4
	portraitMP4 []byte // 1 s, 180x320, audio track first
)

// sampleVideo returns the video g's output is made from.
func (g *generation) sampleVideo() []byte {
	switch {
	case g.b.MoovAtEnd:
		return moovAtEndMP4
	case g.req.AspectRatio == "9:16" || g.req.AspectRatio == "3:4":
		return portraitMP4
	default:
		return landscapeMP4
	}
}

// paddedSize is the length of mp4.WithPadding(src, n), from its contract:
// max(n, len(src)), except that a gap of 1..7 bytes pads a whole 8-byte box
// header.
func paddedSize(srcLen, n int64) int64 {
	switch pad := n - srcLen; {
	case pad <= 0:
		return srcLen
	case pad < 8:
		return srcLen + 8
	default:
		return n
	}
}

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
	if ok && g != nil {
		succeeded = g.status == statusSucceeded
		expired = succeeded && !s.now().Before(g.expiresAt)
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

	var body io.Reader
	var size int64
	if g.b.CorruptOutput {
		size = max(g.b.OutputSize, int64(len(corruptBody)))
		body = io.LimitReader(&repeat{s: corruptBody}, size)
	} else {
		src := g.sampleVideo()
		size = paddedSize(int64(len(src)), g.b.OutputSize)
		body = mp4.WithPadding(src, g.b.OutputSize)
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	io.Copy(w, body) // an error here is the client going away: nothing to do
}

// repeat is an endless repetition of s.
type repeat struct {
	s   string
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}
