package imgcheck

import (
	"bytes"
	"errors"
	"image"
	"testing"

	_ "golang.org/x/image/webp" // image.DecodeConfig knows WebP
)

// fuzzLimits keep the fuzzer's decodes small.
var fuzzLimits = Limits{MaxBytes: 1 << 16, MinSide: 1, MaxSide: 256}

// FuzzCheck: Check never panics, refuses with a reason and a message, and
// whatever it accepts is a bounded image of the sniffed type that the
// standard decoders read with the same dimensions, with nothing after its
// end.
func FuzzCheck(f *testing.F) {
	goodPNG, goodJPEG, goodWebP := pngOf(f, 16, 12), jpegOf(f, 16, 12), fixture(f, "lossless.webp")
	for _, seed := range [][]byte{
		goodPNG, goodJPEG, goodWebP, fixture(f, "lossy.webp"),
		goodPNG[:len(goodPNG)-5], goodJPEG[:len(goodJPEG)-1], goodWebP[:20],
		cat(goodPNG, zipFile), cat(goodJPEG, []byte("<html>")), cat(goodWebP, []byte{0, 0}),
		bombPNG(100000, 100000), bombPNG(0, 0), gifOf(f, 4, 4),
		[]byte("\x89PNG\r\n\x1a\n"), {0xFF, 0xD8, 0xFF, 0xD9}, []byte("RIFF\x04\x00\x00\x00WEBP"),
	} {
		f.Add(seed, "")
	}
	f.Add(goodPNG, "image/jpeg")
	f.Add(goodJPEG, "image/jpg")
	f.Fuzz(func(t *testing.T, data []byte, declared string) {
		info, err := Check(data, declared, fuzzLimits)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || e.Message == "" {
				t.Fatalf("Check refused with %#v, want an *Error with a reason and a message", err)
			}
			return
		}
		if info.ContentType != Sniff(data) || info.Extension() == "" {
			t.Fatalf("Check accepted %+v, but the bytes sniff as %q", info, Sniff(data))
		}
		if info.Width < 1 || info.Height < 1 || info.Width > 256 || info.Height > 256 {
			t.Fatalf("Check accepted %dx%d, outside the limits", info.Width, info.Height)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width != info.Width || cfg.Height != info.Height {
			t.Fatalf("Check accepted %dx%d, DecodeConfig = %+v, %v", info.Width, info.Height, cfg, err)
		}
		if _, err := Check(append(bytes.Clone(data), 0), declared, fuzzLimits); err == nil {
			t.Fatalf("Check accepted the image with a byte appended")
		}
	})
}
