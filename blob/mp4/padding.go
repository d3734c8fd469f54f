package mp4

import (
	"bytes"
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
func WithPadding(src []byte, n int64) io.Reader {
	pad := n - int64(len(src))
	if pad <= 0 {
		return bytes.NewReader(src)
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
	return io.MultiReader(
		bytes.NewReader(src),
		bytes.NewReader(hdr),
		io.LimitReader(zeros{}, pad-int64(len(hdr))),
	)
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
