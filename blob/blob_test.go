package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef") // MinSigningKeyLen bytes

// pngHead and mp4Head are the first bytes of real files of those types.
var (
	pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")
	mp4Head = []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08free")
)

// openMem opens a fresh mem:// bucket and closes it when the test ends.
func openMem(t *testing.T, opts Options) *Bucket {
	t.Helper()
	if opts.SigningKey == nil {
		opts.SigningKey = testKey
	}
	b, err := Open(t.Context(), "mem://", opts)
	if err != nil {
		t.Fatalf("Open(mem://) error = %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// openFile opens a file:// bucket in a directory that does not exist yet, so
// every test also checks that Open creates it.
func openFile(t *testing.T, opts Options) *Bucket {
	t.Helper()
	if opts.SigningKey == nil {
		opts.SigningKey = testKey
	}
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	b, err := Open(t.Context(), "file://"+filepath.ToSlash(dir), opts)
	if err != nil {
		t.Fatalf("Open(file://%s) error = %v", dir, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

var backends = []struct {
	name string
	open func(*testing.T, Options) *Bucket
}{
	{"mem", openMem},
	{"file", openFile},
}

// patterned returns n bytes starting with head, followed by a pattern that
// makes every offset distinguishable.
func patterned(head []byte, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	copy(p, head)
	return p
}

func sha(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

func readAll(t *testing.T, b *Bucket, key string) []byte {
	t.Helper()
	r, err := b.NewReader(t.Context(), key)
	if err != nil {
		t.Fatalf("NewReader(%q) error = %v", key, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return got
}

func TestPutReadBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		data     []byte
		hint     string
		wantType string
	}{
		{"mp4", patterned(mp4Head, 100_000), "", "video/mp4"},
		{"png", patterned(pngHead, 3000), "", "image/png"},
		{"short mp4 header", mp4Head[:12], "", "video/mp4"},
		{"hint used for binary", []byte{0, 1, 2, 3, 0xfe}, "video/webm", "video/webm"},
		{"hint ignored when sniffed", patterned(pngHead, 600), "video/mp4", "image/png"},
		{"invalid hint ignored", []byte{0, 1, 2, 3}, "not a type", "application/octet-stream"},
		{"text", []byte("hello, world\n"), "", "text/plain; charset=utf-8"},
		{"empty", nil, "", "application/octet-stream"},
	}
	for _, be := range backends {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				b := be.open(t, Options{})
				key := "artifacts/3f2a/" + strings.ReplaceAll(tt.name, " ", "_")
				// Short reads: the sniff must still see the first 512 bytes.
				r := iotest.HalfReader(bytes.NewReader(tt.data))
				got, err := b.PutTyped(t.Context(), key, r, 1<<20, tt.hint)
				if err != nil {
					t.Fatalf("PutTyped(%q) error = %v", key, err)
				}
				want := PutResult{Size: int64(len(tt.data)), SHA256: sha(tt.data), ContentType: tt.wantType}
				if got != want {
					t.Errorf("PutTyped(%q) = %+v, want %+v", key, got, want)
				}
				if back := readAll(t, b, key); !bytes.Equal(back, tt.data) {
					t.Errorf("NewReader(%q) read %d bytes, want the %d put", key, len(back), len(tt.data))
				}
				if ok, err := b.Exists(t.Context(), key); !ok || err != nil {
					t.Errorf("Exists(%q) = %v, %v, want true, nil", key, ok, err)
				}
			})
		}
	}
}

func TestPutExactlyMaxBytes(t *testing.T) {
	t.Parallel()
	b := openMem(t, Options{})
	data := patterned(nil, 1000)
	res, err := b.Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)))
	if err != nil || res.Size != int64(len(data)) {
		t.Fatalf("Put(%d bytes, max %d) = %+v, %v, want size %d, nil", len(data), len(data), res, err, len(data))
	}
}

func TestPutTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size     int
		maxBytes int64
	}{
		{"within sniff window", 300, 100},
		{"one byte over", 4097, 4096},
		{"far over", 1 << 20, 64 << 10},
	}
	for _, be := range backends {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				b := be.open(t, Options{})
				const key = "artifacts/big/video.mp4"
				_, err := b.Put(t.Context(), key, bytes.NewReader(patterned(mp4Head, tt.size)), tt.maxBytes)
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Put(%d bytes, max %d) error = %v, want ErrTooLarge", tt.size, tt.maxBytes, err)
				}
				if ok, err := b.Exists(t.Context(), key); ok || err != nil {
					t.Errorf("Exists(%q) after too-large Put = %v, %v, want false, nil", key, ok, err)
				}
			})
		}
	}
}

func TestPutTooLargeKeepsPrevious(t *testing.T) {
	t.Parallel()
	b := openFile(t, Options{})
	const key = "a/video.mp4"
	old := patterned(mp4Head, 100)
	if _, err := b.Put(t.Context(), key, bytes.NewReader(old), 1000); err != nil {
		t.Fatalf("Put(%q) error = %v", key, err)
	}
	if _, err := b.Put(t.Context(), key, bytes.NewReader(patterned(nil, 2000)), 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put(2000 bytes, max 1000) error = %v, want ErrTooLarge", err)
	}
	if got := readAll(t, b, key); !bytes.Equal(got, old) {
		t.Errorf("after a too-large Put, %q holds %d bytes, want the previous %d", key, len(got), len(old))
	}
}

func TestPutNoTempFilesLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := Open(t.Context(), "file://"+filepath.ToSlash(dir), Options{SigningKey: testKey})
	if err != nil {
		t.Fatalf("Open error = %v", err)
	}
	defer b.Close()
	if _, err := b.Put(t.Context(), "x/y.bin", bytes.NewReader(patterned(nil, 5000)), 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put error = %v, want ErrTooLarge", err)
	}
	var left []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("files left after aborted Put: %q, want none", left)
	}
}

type failingReader struct{ after int }

var errSource = errors.New("source broke")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errSource
	}
	n := min(len(p), f.after)
	clear(p[:n])
	f.after -= n
	return n, nil
}

func TestPutSourceError(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := be.open(t, Options{})
			_, err := b.Put(t.Context(), "k", &failingReader{after: 10_000}, 1<<20)
			if !errors.Is(err, errSource) {
				t.Fatalf("Put(failing reader) error = %v, want the reader's error", err)
			}
			if ok, _ := b.Exists(t.Context(), "k"); ok {
				t.Errorf("Exists(k) after failed Put = true, want false")
			}
		})
	}
}

// prngReader yields n deterministic pseudo-random bytes without holding them.
type prngReader struct {
	state uint64
	n     int64
	buf   [8]byte
}

func newPRNGReader(n int64) *prngReader { return &prngReader{state: 0x9e3779b97f4a7c15, n: n} }

func (r *prngReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := 0; i < len(p); i += 8 {
		r.state ^= r.state << 13
		r.state ^= r.state >> 7
		r.state ^= r.state << 17
		binary.LittleEndian.PutUint64(r.buf[:], r.state)
		copy(p[i:], r.buf[:])
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestPutLargeStreamBoundedMemory is not parallel: it reads process-wide heap
// statistics, which other tests would disturb.
func TestPutLargeStreamBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	const size = 64 << 20
	const budget = 16 << 20
	b := openFile(t, Options{})

	want := sha256.New()
	if _, err := io.Copy(want, newPRNGReader(size)); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	// Sample the heap while Put runs; a full copy would show up as a peak
	// even if it were freed before Put returned.
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	res, err := b.Put(t.Context(), "big/stream.bin", newPRNGReader(size), size)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("Put(64 MiB stream) error = %v", err)
	}
	if growth := int64(peak) - int64(base); growth > budget {
		t.Errorf("Put(64 MiB stream) grew the heap by %d MiB at peak, want < %d MiB", growth>>20, budget>>20)
	}
	if res.Size != size || res.SHA256 != hex.EncodeToString(want.Sum(nil)) {
		t.Errorf("Put(64 MiB stream) = size %d sha %s, want size %d sha %x", res.Size, res.SHA256, size, want.Sum(nil))
	}
}

func TestOpenReaderAt(t *testing.T) {
	t.Parallel()
	const n = 200_000 // several read-ahead blocks
	data := patterned(mp4Head, n)
	tests := []struct {
		name    string
		off     int64
		len     int
		wantN   int
		wantEOF bool
	}{
		{"start", 0, 8, 8, false},
		{"small near end", n - 20, 16, 16, false},
		{"exactly the last byte", n - 1, 1, 1, false},
		{"running past the end", n - 10, 32, 10, true},
		{"at the end", n, 4, 0, true},
		{"large across blocks", 1000, 150_000, 150_000, false},
		{"large near end", n - 70_000, 80_000, 70_000, true},
		{"middle small", 123_457, 100, 100, false},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := be.open(t, Options{})
			const key = "artifacts/x/video.mp4"
			if _, err := b.Put(t.Context(), key, bytes.NewReader(data), n); err != nil {
				t.Fatalf("Put error = %v", err)
			}
			ra, size, err := b.OpenReaderAt(t.Context(), key)
			if err != nil {
				t.Fatalf("OpenReaderAt(%q) error = %v", key, err)
			}
			defer ra.Close()
			if size != n {
				t.Errorf("OpenReaderAt(%q) size = %d, want %d", key, size, n)
			}
			for _, tt := range tests {
				p := make([]byte, tt.len)
				got, err := ra.ReadAt(p, tt.off)
				if got != tt.wantN || (err == io.EOF) != tt.wantEOF || (err != nil && err != io.EOF) {
					t.Errorf("%s: ReadAt(len %d, off %d) = %d, %v, want %d, EOF %v", tt.name, tt.len, tt.off, got, err, tt.wantN, tt.wantEOF)
					continue
				}
				if w := data[tt.off : tt.off+int64(tt.wantN)]; !bytes.Equal(p[:got], w) {
					t.Errorf("%s: ReadAt(len %d, off %d) returned the wrong bytes", tt.name, tt.len, tt.off)
				}
			}
			if _, err := ra.ReadAt(make([]byte, 1), -1); err == nil {
				t.Errorf("ReadAt(off -1) error = nil, want an error")
			}
		})
	}
}

func TestOpenReaderAtConcurrent(t *testing.T) {
	t.Parallel()
	const n = 300_000
	data := patterned(nil, n)
	b := openMem(t, Options{})
	if _, err := b.Put(t.Context(), "k", bytes.NewReader(data), n); err != nil {
		t.Fatal(err)
	}
	ra, _, err := b.OpenReaderAt(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			p := make([]byte, 37)
			for i := range 200 {
				off := int64((g*7919 + i*104729) % (n - len(p)))
				if _, err := ra.ReadAt(p, off); err != nil {
					t.Errorf("ReadAt(off %d) error = %v", off, err)
					return
				}
				if !bytes.Equal(p, data[off:off+int64(len(p))]) {
					t.Errorf("ReadAt(off %d) returned the wrong bytes", off)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := be.open(t, Options{})
			ctx := t.Context()
			if _, err := b.NewReader(ctx, "no/such.mp4"); !errors.Is(err, ErrNotFound) {
				t.Errorf("NewReader(missing) error = %v, want ErrNotFound", err)
			}
			if _, _, err := b.OpenReaderAt(ctx, "no/such.mp4"); !errors.Is(err, ErrNotFound) {
				t.Errorf("OpenReaderAt(missing) error = %v, want ErrNotFound", err)
			}
			if ok, err := b.Exists(ctx, "no/such.mp4"); ok || err != nil {
				t.Errorf("Exists(missing) = %v, %v, want false, nil", ok, err)
			}
			if err := b.Delete(ctx, "no/such.mp4"); err != nil {
				t.Errorf("Delete(missing) = %v, want nil", err)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := be.open(t, Options{})
			ctx := t.Context()
			if _, err := b.Put(ctx, "a/b.png", bytes.NewReader(pngHead), 100); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, "a/b.png"); err != nil {
				t.Fatalf("Delete(a/b.png) = %v, want nil", err)
			}
			if ok, err := b.Exists(ctx, "a/b.png"); ok || err != nil {
				t.Errorf("Exists(a/b.png) after Delete = %v, %v, want false, nil", ok, err)
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"leading slash", "/etc/passwd"},
		{"parent", "../x"},
		{"parent inside", "a/../../x"},
		{"dots in name", "a/b..c"},
		{"double slash", "a//b"},
		{"trailing slash", "a/"},
		{"dot segment", "a/./b"},
		{"NUL", "a\x00b"},
		{"newline", "a\nb"},
		{"invalid UTF-8", "a\xffb"},
		{"sidecar suffix", "a/b.attrs"},
		{"too long", strings.Repeat("k", maxKeyLen+1)},
	}
	b := openMem(t, Options{})
	ctx := t.Context()
	ops := map[string]func(string) error{
		"Put": func(k string) error {
			_, err := b.Put(ctx, k, strings.NewReader("x"), 10)
			return err
		},
		"NewReader": func(k string) error {
			_, err := b.NewReader(ctx, k)
			return err
		},
		"OpenReaderAt": func(k string) error {
			_, _, err := b.OpenReaderAt(ctx, k)
			return err
		},
		"Exists": func(k string) error {
			_, err := b.Exists(ctx, k)
			return err
		},
		"Delete": func(k string) error { return b.Delete(ctx, k) },
		"SignedURL": func(k string) error {
			_, err := b.SignedURL(ctx, k, time.Minute)
			return err
		},
	}
	for _, tt := range tests {
		for op, f := range ops {
			if err := f(tt.key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("%s: %s(%q) error = %v, want ErrInvalidKey", tt.name, op, tt.key, err)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		opts Options
	}{
		{"mem without key", "mem://", Options{}},
		{"file with short key", "file:///tmp/x", Options{SigningKey: []byte("short")}},
		{"relative base url", "mem://", Options{SigningKey: testKey, BaseURL: "localhost:8080"}},
		{"base url with query", "mem://", Options{SigningKey: testKey, BaseURL: "http://h/?a=b"}},
		{"unknown scheme", "nope://x", Options{}},
	}
	for _, tt := range tests {
		b, err := Open(t.Context(), tt.url, tt.opts)
		if err == nil {
			b.Close()
			t.Errorf("%s: Open(%q) error = nil, want an error", tt.name, tt.url)
		}
	}
}

func TestPutInvalidMax(t *testing.T) {
	t.Parallel()
	b := openMem(t, Options{})
	if _, err := b.Put(t.Context(), "k", strings.NewReader("x"), 0); err == nil {
		t.Errorf("Put(maxBytes 0) error = nil, want an error")
	}
}

func TestSignedURLCloud(t *testing.T) {
	// Not parallel: t.Setenv. Presigning S3 is offline given credentials, so
	// this checks the driver is linked and cloud URLs come from the provider.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := Open(ctx, "s3://vidgate-test?region=eu-west-1", Options{})
	if err != nil {
		t.Fatalf("Open(s3://) error = %v", err)
	}
	defer b.Close()
	got, err := b.SignedURL(ctx, "artifacts/a b/video.mp4", 15*time.Minute)
	if err != nil {
		t.Fatalf("SignedURL(s3) error = %v", err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("SignedURL(s3) = %q, not a URL: %v", got, err)
	}
	if q := u.Query(); q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-Expires") != "900" {
		t.Errorf("SignedURL(s3) = %q, want an S3 presigned URL valid 900s", got)
	}
}
