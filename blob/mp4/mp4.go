// Package mp4 reads the few facts vidgate trusts about a stored video — its
// duration, the dimensions of its first video track and its major brand —
// from the file itself, never from what a provider claims.
//
// It understands just enough of the ISO base media file format (ISO/IEC
// 14496-12, shared by MP4 and modern QuickTime .mov) to find them: a file is a
// sequence of boxes, each an 8-byte header (32-bit big-endian size including
// the header, then a 4-byte type) optionally followed by a 64-bit "largesize",
// and the metadata lives in a single `moov` box that may sit before or after
// the (large) media data in `mdat`.
//
// The reader treats every byte of the file as hostile: sizes are checked
// against the file and the parent box before use, allocations are capped, and
// the number of reads does not depend on how large the media data is.
package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// ErrInvalid is wrapped by every error ReadInfo returns for a file that is not
// a valid MP4 (including one that is shorter than the size it was given).
// Errors from the underlying reader are wrapped as they are, without ErrInvalid,
// so callers can tell a bad file from a failed read.
var ErrInvalid = errors.New("mp4: invalid file")

const (
	// maxMoovSize caps the one allocation proportional to a size read from the
	// file. A moov holds the sample tables and grows with duration; a few MiB is
	// typical for hours of video, so 64 MiB is generous.
	maxMoovSize = 64 << 20

	// maxTopLevelBoxes bounds the reads spent looking for moov. Real files have a
	// handful of top-level boxes before it (ftyp, free/skip/wide, mdat, uuid);
	// a file made of thousands of tiny boxes is an attack on the read count.
	maxTopLevelBoxes = 64

	// maxDimension rejects absurd track sizes: 16384 is twice 8K UHD (7680),
	// and AV1's highest levels stop there too.
	maxDimension = 16384
)

// visualSampleEntries are the sample entry types (in stsd) whose payload is a
// VisualSampleEntry, i.e. that carry a coded width and height.
var visualSampleEntries = map[string]bool{
	"avc1": true, "avc3": true, // H.264
	"hvc1": true, "hev1": true, // H.265
	"av01": true,               // AV1
	"vp08": true, "vp09": true, // VP8, VP9
	"mp4v": true, // MPEG-4 Part 2
}

// Info is what vidgate trusts about a stored video: read from the file, never
// from the provider.
type Info struct {
	// Duration is the movie duration from mvhd. It is 0 when mvhd says the
	// duration is 0 or unknown (all ones), as in fragmented MP4.
	Duration time.Duration
	// Width and Height are those of the first track whose handler is "vide",
	// from its tkhd (the presentation size, before any rotation matrix), or
	// from its first sample entry in stsd if tkhd has none.
	Width, Height int
	// Brand is the major brand from ftyp, e.g. "isom", "mp42" or "qt  ".
	Brand string
}

// ReadInfo reads Info from an MP4/QuickTime file of the given size through r.
//
// It walks the top-level boxes by their headers, skipping everything but
// ftyp and moov without reading it (mdat, free, skip, …), then reads the
// whole moov in one read and parses it in memory. A file with moov first
// costs three reads; one with moov at the end costs one more per box before
// it, however large the mdat is.
//
// The first box must be ftyp. ISO 14496-12 puts it before any moov, mdat or
// free box, and every current encoder writes it first, .mov included; legacy
// QuickTime files that start with wide, free, mdat or moov are rejected
// rather than guessed at, since vidgate only stores freshly encoded video.
func ReadInfo(r io.ReaderAt, size int64) (Info, error) {
	if size < 8 {
		return Info{}, invalidf("file of %d bytes is too small", size)
	}
	var brand string
	for off, i := int64(0), 0; off < size; i++ {
		if i == maxTopLevelBoxes {
			return Info{}, invalidf("no moov in the first %d boxes", maxTopLevelBoxes)
		}
		// 16 bytes covers a header with a largesize, and for a plain ftyp
		// header, its major brand too.
		buf, err := readAt(r, off, int(min(16, size-off)))
		if err != nil {
			return Info{}, err
		}
		typ, hdr, boxSize, err := parseHeader(buf, size-off)
		if err != nil {
			return Info{}, fmt.Errorf("%w (at offset %d)", err, off)
		}
		switch {
		case i == 0 && typ != "ftyp":
			return Info{}, invalidf("first box is %q, not ftyp", typ)
		case i == 0:
			if boxSize < hdr+4 {
				return Info{}, invalidf("ftyp of %d bytes has no major brand", boxSize)
			}
			at := hdr
			if int64(len(buf)) < at+4 { // ftyp with a largesize: odd but legal
				if buf, err = readAt(r, off+hdr, 4); err != nil {
					return Info{}, err
				}
				at = 0
			}
			brand = string(buf[at : at+4])
		case typ == "moov":
			if boxSize-hdr > maxMoovSize {
				return Info{}, invalidf("moov of %d bytes exceeds the %d-byte limit", boxSize-hdr, maxMoovSize)
			}
			moov, err := readAt(r, off+hdr, int(boxSize-hdr))
			if err != nil {
				return Info{}, err
			}
			info, err := parseMoov(moov)
			if err != nil {
				return Info{}, err
			}
			info.Brand = brand
			return info, nil
		}
		off += boxSize
	}
	return Info{}, invalidf("no moov box")
}

// parseMoov extracts the duration from mvhd and the size of the first video
// track from the payload of a moov box.
func parseMoov(moov []byte) (Info, error) {
	var (
		info              Info
		mvhd, video       []byte
		haveMvhd, haveVid bool
	)
	err := walk(moov, func(typ string, p []byte) error {
		switch {
		case typ == "mvhd" && !haveMvhd:
			mvhd, haveMvhd = p, true
		case typ == "trak" && !haveVid:
			hdlr, err := find(p, "mdia", "hdlr")
			if err != nil {
				return err
			}
			// hdlr: version/flags(4) pre_defined(4) handler_type(4) …
			if hdlr == nil {
				return invalidf("trak has no mdia/hdlr")
			}
			if len(hdlr) < 12 {
				return invalidf("hdlr of %d bytes is too short", len(hdlr))
			}
			if string(hdlr[8:12]) == "vide" {
				video, haveVid = p, true
			}
		}
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	if !haveMvhd {
		return Info{}, invalidf("moov has no mvhd")
	}
	if info.Duration, err = parseMvhd(mvhd); err != nil {
		return Info{}, err
	}
	if !haveVid {
		return Info{}, invalidf("no video track")
	}
	if info.Width, info.Height, err = trackSize(video); err != nil {
		return Info{}, err
	}
	if info.Width <= 0 || info.Height <= 0 || info.Width > maxDimension || info.Height > maxDimension {
		return Info{}, invalidf("video track is %dx%d", info.Width, info.Height)
	}
	return info, nil
}

// parseMvhd returns the movie duration: duration / timescale seconds.
func parseMvhd(p []byte) (time.Duration, error) {
	var timescale, duration, unknown uint64
	switch {
	// version/flags(4) creation(4) modification(4) timescale(4) duration(4)
	case len(p) >= 20 && p[0] == 0:
		timescale, duration, unknown = uint64(be32(p[12:])), uint64(be32(p[16:])), math.MaxUint32
	// version/flags(4) creation(8) modification(8) timescale(4) duration(8)
	case len(p) >= 32 && p[0] == 1:
		timescale, duration, unknown = uint64(be32(p[20:])), binary.BigEndian.Uint64(p[24:]), math.MaxUint64
	default:
		return 0, invalidf("mvhd version %d of %d bytes", version(p), len(p))
	}
	if timescale == 0 {
		return 0, invalidf("mvhd timescale is 0")
	}
	if duration == unknown {
		return 0, nil
	}
	// Split into whole seconds and a remainder so that nothing overflows:
	// rem < timescale < 2^32, so rem*1e9 < 2^62.
	secs, rem := duration/timescale, duration%timescale
	if secs > math.MaxInt64/uint64(time.Second)-1 {
		return 0, invalidf("mvhd duration %d/%d overflows", duration, timescale)
	}
	return time.Duration(secs)*time.Second + time.Duration(rem*uint64(time.Second)/timescale), nil
}

// trackSize returns a video trak's width and height: from tkhd if it has both,
// else from the first sample entry in stsd.
func trackSize(trak []byte) (w, h int, err error) {
	tkhd, err := find(trak, "tkhd")
	if err != nil {
		return 0, 0, err
	}
	if tkhd != nil {
		// tkhd width and height are 16.16 fixed point; the fraction is dropped.
		var off int
		switch {
		case len(tkhd) >= 84 && tkhd[0] == 0:
			off = 76
		case len(tkhd) >= 96 && tkhd[0] == 1:
			off = 88
		default:
			return 0, 0, invalidf("tkhd version %d of %d bytes", version(tkhd), len(tkhd))
		}
		w, h = int(be32(tkhd[off:])>>16), int(be32(tkhd[off+4:])>>16)
		if w != 0 && h != 0 {
			return w, h, nil
		}
	}
	stsd, err := find(trak, "mdia", "minf", "stbl", "stsd")
	if err != nil || stsd == nil {
		return 0, 0, err
	}
	// stsd: version/flags(4) entry_count(4) then sample entries, which are boxes.
	if len(stsd) < 8 {
		return 0, 0, invalidf("stsd of %d bytes is too short", len(stsd))
	}
	if len(stsd) == 8 {
		return 0, 0, nil
	}
	typ, entry, _, err := next(stsd[8:])
	if err != nil || !visualSampleEntries[typ] {
		return 0, 0, err
	}
	// VisualSampleEntry: reserved(6) data_reference_index(2) pre_defined(2)
	// reserved(2) pre_defined(12) width(2) height(2) …
	if len(entry) < 28 {
		return 0, 0, invalidf("%s sample entry of %d bytes is too short", typ, len(entry))
	}
	return int(binary.BigEndian.Uint16(entry[24:])), int(binary.BigEndian.Uint16(entry[26:])), nil
}

// errStop ends a walk early without an error.
var errStop = errors.New("stop")

// find descends from the payload b through the first child box of each type in
// path and returns the payload of the last one, or nil if any is missing.
func find(b []byte, path ...string) ([]byte, error) {
	for _, want := range path {
		var found []byte
		err := walk(b, func(typ string, p []byte) error {
			if typ == want {
				found = p
				return errStop
			}
			return nil
		})
		if err != nil || found == nil {
			return nil, err
		}
		b = found
	}
	return b, nil
}

// walk calls fn with the type and payload of each box in b, the payload of a
// parent box, in order, until fn returns an error. It returns fn's error, or
// an ErrInvalid error if a box does not fit in b; errStop becomes nil.
func walk(b []byte, fn func(typ string, payload []byte) error) error {
	for len(b) > 0 {
		typ, payload, rest, err := next(b)
		if err == nil {
			err = fn(typ, payload)
		}
		if err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
		b = rest
	}
	return nil
}

// next splits the first box off b.
func next(b []byte) (typ string, payload, rest []byte, err error) {
	typ, hdr, size, err := parseHeader(b, int64(len(b)))
	if err != nil {
		return "", nil, nil, err
	}
	return typ, b[hdr:size], b[size:], nil
}

// parseHeader parses the box header at the start of b, where avail bytes
// remain in the file or parent box and b holds at least min(16, avail) of
// them. It returns the header length and the size of the whole box, which is
// guaranteed to be at least the header length (so walks always advance) and at
// most avail (so a box never overruns its parent or the file).
func parseHeader(b []byte, avail int64) (typ string, hdr, size int64, err error) {
	if len(b) < 8 {
		return "", 0, 0, invalidf("%d trailing bytes are too few for a box header", len(b))
	}
	typ, hdr, size = string(b[4:8]), 8, int64(be32(b))
	switch size {
	case 0: // the box extends to the end of the file (or, leniently, parent)
		size = avail
	case 1: // a 64-bit largesize follows the type
		if len(b) < 16 {
			return "", 0, 0, invalidf("box %q largesize is truncated", typ)
		}
		large := binary.BigEndian.Uint64(b[8:])
		if large > math.MaxInt64 {
			return "", 0, 0, invalidf("box %q largesize %d overflows", typ, large)
		}
		hdr, size = 16, int64(large)
	}
	if size < hdr {
		return "", 0, 0, invalidf("box %q size %d is smaller than its header", typ, size)
	}
	if size > avail {
		return "", 0, 0, invalidf("box %q of %d bytes overruns its parent or the file (%d bytes left)", typ, size, avail)
	}
	return typ, hdr, size, nil
}

// readAt reads exactly n bytes at off. n is always bounded by a cap or by the
// file size the caller vouched for, so the allocation is safe.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n { // a ReaderAt may return io.EOF along with a read ending at EOF
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: read %d of %d bytes at offset %d: file is shorter than its size: %w",
			ErrInvalid, got, n, off, io.ErrUnexpectedEOF)
	}
	return nil, fmt.Errorf("mp4: read at offset %d: %w", off, err)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// version returns the version byte of a full box payload, or -1 if empty.
func version(p []byte) int {
	if len(p) == 0 {
		return -1
	}
	return int(p[0])
}
