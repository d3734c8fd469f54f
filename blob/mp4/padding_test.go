package mp4

import (
	"bytes"
	"io"
	"runtime"
	"slices"
	"testing"
)

func TestWithPaddingSizes(t *testing.T) {
	t.Parallel()
	src := readFixture(t, "faststart.mp4")
	l := int64(len(src))
	tests := []struct {
		name    string
		n       int64
		wantLen int64
		wantHdr []byte // of the padding box, if any
	}{
		{name: "smaller than src", n: 10, wantLen: l},
		{name: "exactly src", n: l, wantLen: l},
		{name: "1 byte more pads a whole header", n: l + 1, wantLen: l + 8, wantHdr: header("free", 8)},
		{name: "8 bytes more", n: l + 8, wantLen: l + 8, wantHdr: header("free", 8)},
		{name: "1 MiB", n: 1 << 20, wantLen: 1 << 20, wantHdr: header("free", uint64(1<<20-l))},
		{name: "4 GiB needs no largesize", n: l + 1<<32 - 1, wantLen: l + 1<<32 - 1, wantHdr: header("free", 1<<32-1)},
		{name: "5 GiB uses largesize", n: 5 << 30, wantLen: 5 << 30, wantHdr: cat(u32(1), "free", u64(uint64(5<<30-l)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := WithPadding(src, tt.n)
			// Check the prefix byte for byte, and only count the (zero) rest,
			// which may be gigabytes.
			head := make([]byte, len(src)+len(tt.wantHdr))
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatalf("WithPadding(src, %d): reading %d bytes: %v", tt.n, len(head), err)
			}
			if want := cat(src, tt.wantHdr); !bytes.Equal(head, want) {
				t.Errorf("WithPadding(src, %d) starts with ...%x, want ...%x", tt.n, head[len(src):], tt.wantHdr)
			}
			if tt.wantLen > 1<<30 {
				return // counting gigabytes of zeros is too slow; the header says it all
			}
			rest, err := io.Copy(io.Discard, r)
			if err != nil {
				t.Fatalf("WithPadding(src, %d): %v", tt.n, err)
			}
			if got := int64(len(head)) + rest; got != tt.wantLen {
				t.Errorf("len(WithPadding(src, %d)) = %d, want %d", tt.n, got, tt.wantLen)
			}
		})
	}
}

// TestWithPaddingReadInfo pads each fixture to 200 MB and reads it back
// through an io.ReaderAt that re-streams WithPadding on every read, so the
// padded file is never materialised.
func TestWithPaddingReadInfo(t *testing.T) {
	t.Parallel()
	const n = 200 << 20
	tests := []string{"faststart.mp4", "moov_at_end.mp4", "portrait.mp4"}
	for _, file := range tests {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			src := readFixture(t, file)
			want, err := ReadInfo(bytes.NewReader(src), int64(len(src)))
			if err != nil {
				t.Fatalf("ReadInfo(%s) error = %v, want nil", file, err)
			}
			padded := stream{open: func() io.Reader { return WithPadding(src, n) }}

			// The padded file is the original boxes plus one free box to the end.
			types, sizes := topLevel(t, padded, n)
			wantTypes, _ := topLevel(t, bytes.NewReader(src), int64(len(src)))
			if wantTypes = append(wantTypes, "free"); !slices.Equal(types, wantTypes) || sizes[len(sizes)-1] != n-int64(len(src)) {
				t.Errorf("WithPadding(%s, %d) top-level boxes = %q, sizes %d; want %q ending with a free box of %d bytes",
					file, n, types, sizes, wantTypes, n-int64(len(src)))
			}

			r := &recorder{r: padded}
			got, err := ReadInfo(r, n)
			if err != nil {
				t.Fatalf("ReadInfo(WithPadding(%s, %d)) error = %v, want nil", file, n, err)
			}
			if got != want {
				t.Errorf("ReadInfo(WithPadding(%s, %d)) = %+v, want %+v", file, n, got, want)
			}
			if reads, total := r.stats(); reads > 5 || total > 4096 {
				t.Errorf("ReadInfo(WithPadding(%s, %d)) made %d reads of %d bytes in total, want at most 5 reads of at most 4096 bytes", file, n, reads, total)
			}
		})
	}
}

// TestWithPaddingConstantMemory streams 200 MB and checks that WithPadding
// allocates next to nothing. It does not call t.Parallel: parallel tests would
// allocate concurrently and skew the process-wide counter it reads.
func TestWithPaddingConstantMemory(t *testing.T) {
	src := readFixture(t, "faststart.mp4")
	const n = 200 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := io.Copy(io.Discard, WithPadding(src, n))
	runtime.ReadMemStats(&after)
	if err != nil || got != n {
		t.Fatalf("io.Copy(io.Discard, WithPadding(src, %d)) = %d, %v; want %d, nil", n, got, err, n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("streaming WithPadding(src, %d) allocated %d bytes, want at most 1 MiB", n, alloc)
	}
}

// TestPaddedReadAt reads Padded at every offset and length around the
// joints of src, the padding header and the zeros, and compares with the
// bytes built by hand.
func TestPaddedReadAt(t *testing.T) {
	t.Parallel()
	src := readFixture(t, "faststart.mp4")
	l := int64(len(src))
	for _, n := range []int64{10, l, l + 3, l + 100} {
		want := src
		if pad := max(n-l, 8); n > l {
			want = cat(src, header("free", uint64(pad)), make([]byte, pad-8))
		}
		r := Padded(src, n)
		if r.Size() != int64(len(want)) {
			t.Fatalf("Padded(src, %d).Size() = %d, want %d", n, r.Size(), len(want))
		}
		for _, off := range []int64{0, 1, l - 5, l - 1, l, l + 3, l + 7, l + 8, l + 50, int64(len(want)) - 1} {
			if off < 0 || off >= int64(len(want)) {
				continue
			}
			for _, size := range []int{1, 4, 9, 64, len(want)} {
				buf := make([]byte, size)
				got, err := r.ReadAt(buf, off)
				wantN := min(size, len(want)-int(off))
				if got != wantN || !bytes.Equal(buf[:got], want[off:off+int64(wantN)]) {
					t.Errorf("Padded(src, %d).ReadAt(%d bytes, %d) = %d bytes %x, want %d bytes %x",
						n, size, off, got, buf[:got], wantN, want[off:off+int64(wantN)])
				}
				if (err == io.EOF) != (wantN < size) {
					t.Errorf("Padded(src, %d).ReadAt(%d bytes, %d) error = %v, want io.EOF only past the end", n, size, off, err)
				}
			}
		}
	}
}
