package imgcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
)

// picture is a w×h gradient, so encoders produce real image data.
func picture(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	return img
}

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, picture(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(w, h), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, picture(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// bombPNG is a well-formed, tiny PNG whose header claims a w×h canvas: a
// decoder that trusted it would allocate w*h*4 bytes before noticing the
// pixel data is missing.
func bombPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	// A zlib stream of zeros compresses 10 GB into kilobytes; a few bytes
	// stand in for it here: the header is what must be refused.
	idat := []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", idat)...)
	return append(out, pngChunk("IEND", nil)...)
}

// zipFile is a minimal empty ZIP archive (an end-of-central-directory
// record), enough for unzip to list it.
var zipFile = append([]byte("PK\x05\x06"), make([]byte, 18)...)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestCheckAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		data     []byte
		declared string
		want     Info
	}{
		{"png", pngOf(t, 128, 96), "image/png", Info{PNG, 128, 96}},
		{"jpeg", jpegOf(t, 200, 100), "image/jpeg", Info{JPEG, 200, 100}},
		{"jpeg declared image/jpg", jpegOf(t, 64, 64), "image/jpg", Info{JPEG, 64, 64}},
		{"webp lossy", fixture(t, "lossy.webp"), "image/webp", Info{WebP, 150, 100}},
		{"webp lossless", fixture(t, "lossless.webp"), "image/webp", Info{WebP, 75, 100}},
		{"nothing declared", pngOf(t, 64, 4096), "", Info{PNG, 64, 4096}},
		{"octet-stream declared", jpegOf(t, 100, 100), "application/octet-stream", Info{JPEG, 100, 100}},
		{"declared with parameters", pngOf(t, 64, 64), "Image/PNG; name=x.png", Info{PNG, 64, 64}},
	}
	for _, tt := range tests {
		got, err := Check(tt.data, tt.declared, Limits{})
		if err != nil || got != tt.want {
			t.Errorf("%s: Check = %+v, %v, want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	goodPNG, goodJPEG, goodWebP := pngOf(t, 128, 96), jpegOf(t, 128, 96), fixture(t, "lossy.webp")
	// A PNG whose pixel data is damaged but whose chunks still line up.
	damaged := bytes.Clone(goodPNG)
	i := bytes.Index(damaged, []byte("IDAT")) + 10
	damaged[i] ^= 0xFF
	tests := []struct {
		name     string
		data     []byte
		declared string
		lim      Limits
		want     Reason
	}{
		{"empty", nil, "", Limits{}, ReasonEmpty},
		{"oversized", goodPNG, "image/png", Limits{MaxBytes: int64(len(goodPNG) - 1)}, ReasonTooLarge},
		{"png named jpeg", goodPNG, "image/jpeg", Limits{}, ReasonMismatch},
		{"jpeg declared png", goodJPEG, "image/png", Limits{}, ReasonMismatch},
		{"declared text", goodPNG, "text/html", Limits{}, ReasonMismatch},
		{"declared garbage", goodPNG, "image/png; ;;=", Limits{}, ReasonMismatch},
		{"gif", gifOf(t, 100, 100), "image/gif", Limits{}, ReasonUnsupported},
		{"html", []byte("<!doctype html><script>alert(1)</script>"), "image/png", Limits{}, ReasonUnsupported},
		{"zip", zipFile, "", Limits{}, ReasonUnsupported},
		{"truncated png", goodPNG[:len(goodPNG)/2], "", Limits{}, ReasonCorrupt},
		{"png without iend", goodPNG[:len(goodPNG)-12], "", Limits{}, ReasonCorrupt},
		{"truncated jpeg", goodJPEG[:len(goodJPEG)/2], "", Limits{}, ReasonCorrupt},
		{"jpeg without eoi", goodJPEG[:len(goodJPEG)-2], "", Limits{}, ReasonCorrupt},
		{"truncated webp", goodWebP[:len(goodWebP)-10], "", Limits{}, ReasonCorrupt},
		{"damaged png data", damaged, "", Limits{}, ReasonCorrupt},
		{"png + zip polyglot", cat(goodPNG, zipFile), "image/png", Limits{}, ReasonTrailing},
		{"jpeg + html polyglot", cat(goodJPEG, []byte("<html><script>fetch('/steal')</script></html>")), "image/jpeg", Limits{}, ReasonTrailing},
		{"jpeg + html ending in ffd9", cat(goodJPEG, []byte("<html></html>\xff\xd9")), "", Limits{}, ReasonTrailing},
		{"webp + zip", cat(goodWebP, zipFile), "", Limits{}, ReasonTrailing},
		{"png with a byte after iend", cat(goodPNG, []byte{0}), "", Limits{}, ReasonTrailing},
		{"too small", pngOf(t, 63, 200), "", Limits{}, ReasonDimensions},
		{"too wide", pngOf(t, 4097, 64), "", Limits{}, ReasonDimensions},
		{"over a configured side", goodJPEG, "", Limits{MaxSide: 100}, ReasonDimensions},
		{"decompression bomb 100000x100000", bombPNG(100000, 100000), "image/png", Limits{}, ReasonDimensions},
	}
	for _, tt := range tests {
		got, err := Check(tt.data, tt.declared, tt.lim)
		var e *Error
		if !errors.As(err, &e) || e.Reason != tt.want || e.Message == "" {
			t.Errorf("%s: Check = %+v, %v, want a %s refusal", tt.name, got, err, tt.want)
		}
	}
}

// The bomb is refused from its header alone: no pixel buffer is allocated.
func TestCheckBombAllocatesLittle(t *testing.T) {
	bomb := bombPNG(100000, 100000)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Check(bomb, "", Limits{})
		}
	})
	if per := allocs.AllocedBytesPerOp(); per > 1<<20 {
		t.Errorf("Check(bomb) allocates %d bytes per call, want under 1 MiB", per)
	}
}

func TestSniffIgnoresNames(t *testing.T) {
	t.Parallel()
	// Sniff has no name or type to go on: the bytes decide.
	for data, want := range map[string]string{
		string(pngOf(t, 8, 8)):     PNG,
		string(jpegOf(t, 8, 8)):    JPEG,
		string(gifOf(t, 8, 8)):     "",
		"RIFF\x00\x00\x00\x00WAVE": "",
		"":                         "",
	} {
		if got := Sniff([]byte(data)); got != want {
			t.Errorf("Sniff(%.8q) = %q, want %q", data, got, want)
		}
	}
}

func TestExtension(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]string{PNG: ".png", JPEG: ".jpg", WebP: ".webp", "image/gif": ""} {
		if got := (Info{ContentType: ct}).Extension(); got != want {
			t.Errorf("Extension(%s) = %q, want %q", ct, got, want)
		}
	}
}
