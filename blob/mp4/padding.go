package mp4

import (
	"encoding/binary"
	"io"
	"math"
)

// WithPadding returns a reader that yields the MP4 in src followed by a
// top-level `free` box that pads the total to at least n bytes (streamed,
// constant memory). A `free` box after the existing boxes keeps the file valid
// and playable: readers and players skip it like any unknown box.
//
// The total is exactly max(n, len(src)), except that a padding box is never
// shorter than its 8-byte header, so a gap of 1..7 bytes pads to len(src)+8.
// Padding beyond 4 GiB uses a 64-bit largesize header.
//
// src must end with a box that has an explicit size (not size 0, "to end of
// file"), or the padding would become part of it; ffmpeg never writes size 0.
// src is read lazily, so it must not be modified while the reader is in use.
func WithPadding(src []byte, n int64) io.Reader { return Padded(src, n) }

// Padded is WithPadding as an io.SectionReader: the same bytes, which can
// also be read at any offset (to serve HTTP range requests, say). Its Size
// is the padded length.
func Padded(src []byte, n int64) *io.SectionReader {
	pad := n - int64(len(src))
	if pad <= 0 {
		return io.NewSectionReader(padded{src: src}, 0, int64(len(src)))
	}
	pad = max(pad, 8)
	var hdr []byte
	if pad <= math.MaxUint32 {
		hdr = binary.BigEndian.AppendUint32(nil, uint32(pad))
		hdr = append(hdr, "free"...)
	} else {
		hdr = binary.BigEndian.AppendUint32(nil, 1)
		hdr = append(hdr, "free"...)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(pad))
	}
	return io.NewSectionReader(padded{src: src, hdr: hdr}, 0, int64(len(src))+pad)
}

// padded is src, then hdr, then zeros without end: the io.NewSectionReader
// around it sets the end.
type padded struct {
	src, hdr []byte
}

func (p padded) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	for _, part := range [][]byte{p.src, p.hdr} {
		if off < int64(len(part)) {
			n += copy(b[n:], part[off:])
			off = 0
		} else {
			off -= int64(len(part))
		}
		if n == len(b) {
			return n, nil
		}
	}
	if p.hdr == nil { // no padding: src is all there is
		return n, io.EOF
	}
	clear(b[n:])
	return len(b), nil
}
