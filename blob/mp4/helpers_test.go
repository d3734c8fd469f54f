package mp4

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// This file holds the test scaffolding: builders for hand-made MP4 byte slices
// and io.ReaderAt implementations that count reads or serve large files
// without materialising them.

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// cat concatenates byte slices and strings.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			b = append(b, p...)
		case string:
			b = append(b, p...)
		default:
			panic("cat: unsupported part")
		}
	}
	return b
}

// box returns a box with a 32-bit size.
func box(typ string, parts ...any) []byte {
	payload := cat(parts...)
	return cat(u32(uint32(8+len(payload))), typ, payload)
}

// largeBox returns a box with size 1 and a 64-bit largesize.
func largeBox(typ string, parts ...any) []byte {
	payload := cat(parts...)
	return cat(u32(1), typ, u64(uint64(16+len(payload))), payload)
}

// openBox returns a box with size 0, which extends to the end of the file.
func openBox(typ string, parts ...any) []byte {
	return cat(u32(0), typ, cat(parts...))
}

// header returns a bare box header claiming size bytes (32-bit, or largesize
// if it does not fit).
func header(typ string, size uint64) []byte {
	if size > 0xFFFFFFFF {
		return cat(u32(1), typ, u64(size))
	}
	return cat(u32(uint32(size)), typ)
}

func fullBox(version byte) []byte { return []byte{version, 0, 0, 0} }

func ftyp(brand string) []byte {
	return box("ftyp", brand, u32(0x200), "isomiso2avc1mp41")
}

func mvhd0(timescale, duration uint32) []byte {
	// creation, modification, timescale, duration, then rate…next_track_ID.
	return box("mvhd", fullBox(0), u32(0), u32(0), u32(timescale), u32(duration), make([]byte, 80))
}

func mvhd1(timescale uint32, duration uint64) []byte {
	return box("mvhd", fullBox(1), u64(0), u64(0), u32(timescale), u64(duration), make([]byte, 80))
}

// tkhd0 returns a version 0 tkhd with the given size in whole pixels.
func tkhd0(w, h uint32) []byte {
	// creation, modification, track_ID, reserved, duration (20), reserved,
	// layer, alternate_group, volume, reserved, matrix (52), width, height.
	return box("tkhd", fullBox(0), make([]byte, 20+52), u32(w<<16), u32(h<<16))
}

func tkhd1(w, h uint32) []byte {
	return box("tkhd", fullBox(1), make([]byte, 32+52), u32(w<<16), u32(h<<16))
}

func hdlr(handler string) []byte {
	return box("hdlr", fullBox(0), u32(0), handler, make([]byte, 12), "\x00")
}

// stsd returns an stsd with one sample entry of the given type; visual
// entries carry w and h.
func stsd(entry string, w, h uint16) []byte {
	// reserved(6) data_reference_index(2) pre_defined(2) reserved(2)
	// pre_defined(12) width height, then resolution, frame_count, name, depth…
	e := box(entry, make([]byte, 6), u16(1), make([]byte, 16), u16(w), u16(h), make([]byte, 50))
	return box("stsd", fullBox(0), u32(1), e)
}

// trak returns a track with the given handler, tkhd size and sample entry.
func trak(handler string, tkhd []byte, entry string, w, h uint16) []byte {
	return box("trak", tkhd,
		box("mdia",
			box("mdhd", fullBox(0), make([]byte, 20)),
			hdlr(handler),
			box("minf", box("stbl", stsd(entry, w, h)))))
}

func videoTrak(w, h uint16) []byte { return trak("vide", tkhd0(uint32(w), uint32(h)), "avc1", w, h) }
func audioTrak() []byte            { return trak("soun", tkhd0(0, 0), "mp4a", 0, 0) }

// validMoov is a 2.5 s 640x360 movie.
func validMoov() []byte { return box("moov", mvhd0(1000, 2500), videoTrak(640, 360)) }

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// span is a read: [off, off+n).
type span struct{ off, n int64 }

// recorder wraps an io.ReaderAt and records every read.
type recorder struct {
	r     io.ReaderAt
	mu    sync.Mutex
	reads []span
}

func (c *recorder) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.reads = append(c.reads, span{off, int64(len(p))})
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

// stats returns the number of reads and the total bytes requested.
func (c *recorder) stats() (reads int, total int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.reads {
		total += s.n
	}
	return len(c.reads), total
}

// touched reports whether any read overlapped [off, end).
func (c *recorder) touched(off, end int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.reads {
		if s.off < end && off < s.off+s.n {
			return true
		}
	}
	return false
}

// sparse is a virtual file of the given size: data at the given offsets and
// zeros elsewhere. It lets tests build 200 MB files in a few bytes of memory.
type sparse struct {
	size  int64
	parts map[int64][]byte
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	for at, data := range s.parts {
		// Copy the overlap of [at, at+len(data)) and [off, off+n).
		lo, hi := max(at, off), min(at+int64(len(data)), off+int64(n))
		if lo < hi {
			copy(p[lo-off:hi-off], data[lo-at:hi-at])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// stream is an io.ReaderAt over the stream returned by open, which it
// re-opens and skips through on every read, so that it never holds more than
// a buffer of it: O(offset) time, constant memory.
type stream struct {
	open func() io.Reader
}

func (s stream) ReadAt(p []byte, off int64) (int, error) {
	r := s.open()
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		return 0, io.EOF
	}
	n, err := io.ReadFull(r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) ReadAt([]byte, int64) (int, error) { return 0, e.err }

// topLevel lists the types and sizes of the top-level boxes of a file, for
// checking the structure of fixtures and padded streams.
func topLevel(tb testing.TB, r io.ReaderAt, size int64) (types []string, sizes []int64) {
	tb.Helper()
	for off := int64(0); off < size; {
		buf := make([]byte, min(16, size-off))
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			tb.Fatalf("ReadAt(%d): %v", off, err)
		}
		typ, _, n, err := parseHeader(buf, size-off)
		if err != nil {
			tb.Fatalf("box at %d: %v", off, err)
		}
		types, sizes = append(types, typ), append(sizes, n)
		off += n
	}
	return types, sizes
}
