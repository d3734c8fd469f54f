// Package imgcheck decides whether uploaded bytes are a source image vidgate
// accepts: a PNG, JPEG or WebP, recognised by its bytes alone (never by a
// file name or a declared Content-Type), of bounded size and dimensions,
// that decodes completely and ends exactly where its format says it ends.
//
// The last rule refuses polyglots: a file that is an image to an image
// decoder and something else (a ZIP, an HTML page, a script) to another
// reader, because the other content follows the image's end marker. It also
// refuses truncated images. Check reads the dimensions from the header
// before decoding, so a decompression bomb (a small file claiming a huge
// canvas) is refused before any pixel memory is allocated; from the header
// it also computes the memory the decode will take (width × height × the
// bytes per pixel of the decoded form) and refuses an image over the
// budget, such as a 16-bit PNG whose canvas fits the side limits.
package imgcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime"
	"runtime"
	"strings"

	"golang.org/x/image/webp"
)

// Formats Check accepts, by their Content-Type.
const (
	PNG  = "image/png"
	JPEG = "image/jpeg"
	WebP = "image/webp"
)

// Limits bound what Check accepts. Zero fields take the defaults.
type Limits struct {
	// MaxBytes caps the file size (default 20 MiB).
	MaxBytes int64
	// MinSide and MaxSide bound the width and the height, in pixels
	// (defaults 64 and 4096).
	MinSide, MaxSide int
	// MaxDecodedBytes caps the memory decoding the image takes, as
	// computed from its header before any pixel is decoded (default 64
	// MiB).
	MaxDecodedBytes int64
}

// Default limits.
const (
	DefaultMaxBytes = 20 << 20
	DefaultMinSide  = 64
	DefaultMaxSide  = 4096
	// DefaultMaxDecodedBytes admits the largest 8-bit image the default
	// sides allow, 4096×4096 RGBA (exactly 64 MiB), and so every
	// non-interlaced 8-bit PNG and every baseline JPEG within them; it
	// refuses the same canvas at 16 bits per channel (128 MiB), which no
	// video provider needs. Formats whose decoders hold more than the
	// image are refused sooner: progressive 4:2:0 JPEGs above about 9
	// megapixels (the decoder keeps every DCT coefficient, 4 bytes a
	// sample), lossless WebP above about 13.
	DefaultMaxDecodedBytes = 64 << 20
)

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MinSide <= 0 {
		l.MinSide = DefaultMinSide
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = DefaultMaxDecodedBytes
	}
	if l.MinSide > l.MaxSide {
		l.MinSide = l.MaxSide
	}
	return l
}

// Reason says why Check refused a file, for clients and tests to branch on.
type Reason string

const (
	ReasonEmpty       Reason = "EMPTY"
	ReasonTooLarge    Reason = "TOO_LARGE"
	ReasonUnsupported Reason = "UNSUPPORTED_TYPE"
	ReasonMismatch    Reason = "TYPE_MISMATCH"
	ReasonDimensions  Reason = "DIMENSIONS"
	ReasonCorrupt     Reason = "CORRUPT"
	ReasonTrailing    Reason = "TRAILING_DATA"
	// ReasonDecodedTooLarge: the image is within the side limits but
	// decoding it would take more memory than MaxDecodedBytes.
	ReasonDecodedTooLarge Reason = "DECODED_TOO_LARGE"
)

// Error is Check's refusal: a reason and a message written for the person
// who uploaded the file.
type Error struct {
	Reason  Reason
	Message string
}

func (e *Error) Error() string { return e.Message }

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// Info describes an accepted image.
type Info struct {
	// ContentType is PNG, JPEG or WebP, as sniffed from the bytes.
	ContentType   string
	Width, Height int
}

// Extension is the file extension that goes with the image's type.
func (i Info) Extension() string {
	switch i.ContentType {
	case PNG:
		return ".png"
	case JPEG:
		return ".jpg"
	case WebP:
		return ".webp"
	}
	return ""
}

// Sniff returns the Content-Type of data when it starts like a PNG, JPEG or
// WebP file, and "" otherwise.
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return WebP
	}
	return ""
}

// Check accepts data as a source image, or returns an *Error saying why not.
// declared is the Content-Type the client sent with the file: empty or
// application/octet-stream says nothing; anything else must name the type
// the bytes turn out to be.
func Check(data []byte, declared string, lim Limits) (Info, error) {
	return check(data, declared, lim, nil)
}

// check is Check; acquire, when set, is called once the header has passed
// and before the decode, and the decode waits for it (see Gate.Check).
func check(data []byte, declared string, lim Limits, acquire func() (release func(), err error)) (Info, error) {
	lim = lim.WithDefaults()
	if len(data) == 0 {
		return Info{}, refuse(ReasonEmpty, "the file is empty")
	}
	if int64(len(data)) > lim.MaxBytes {
		return Info{}, refuse(ReasonTooLarge, "the file is %d bytes; the limit is %d", len(data), lim.MaxBytes)
	}
	ct := Sniff(data)
	if ct == "" {
		return Info{}, refuse(ReasonUnsupported, "the file is not a PNG, JPEG or WebP image")
	}
	if d := normalizeDeclared(declared); d != "" && d != ct {
		return Info{}, refuse(ReasonMismatch, "the file was sent as %s but its contents are %s", truncate(declared, 64), ct)
	}
	var decodeConfig func([]byte) (image.Config, error)
	var decode func([]byte) error
	var ends func([]byte) error
	switch ct {
	case PNG:
		decodeConfig = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }
		ends = pngEnds
	case JPEG:
		decodeConfig = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }
		ends = jpegEnds
	case WebP:
		decodeConfig = func(b []byte) (image.Config, error) { return webp.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) error { _, err := webp.Decode(bytes.NewReader(b)); return err }
		ends = webpEnds
	}
	// The structure first: it is cheap, and it is what refuses polyglots.
	if err := ends(data); err != nil {
		return Info{}, err
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		return Info{}, refuse(ReasonCorrupt, "the %s header cannot be read", name(ct))
	}
	if cfg.Width < lim.MinSide || cfg.Height < lim.MinSide || cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide {
		return Info{}, refuse(ReasonDimensions, "the image is %dx%d pixels; each side must be %d to %d",
			cfg.Width, cfg.Height, lim.MinSide, lim.MaxSide)
	}
	need, hint := decodedSize(ct, data, cfg)
	if need > lim.MaxDecodedBytes {
		return Info{}, refuse(ReasonDecodedTooLarge, "the image is %dx%d pixels and decoding it would take %s of memory; the limit is %s: send a smaller image%s",
			cfg.Width, cfg.Height, mib(need), mib(lim.MaxDecodedBytes), hint)
	}
	if acquire != nil {
		release, err := acquire()
		if err != nil {
			return Info{}, err
		}
		defer release()
	}
	// Only now, with the canvas and its memory known to be bounded, decode
	// every pixel: a truncated or corrupt image fails here.
	err = safeDecode(decode, data)
	if acquire != nil && need >= gcAfterDecode {
		// The decoded image is garbage now, but the collector would keep
		// it until the heap doubles: with several slots, finished decodes
		// would pile up beside running ones. Collect it before the slot
		// is given back, so the decodes' memory stays within slots ×
		// MaxDecodedBytes (measured: six 4096x4096 RGBA uploads, 2 slots,
		// peak heap 257 MiB without, 128 MiB with).
		runtime.GC()
	}
	if err != nil {
		return Info{}, refuse(ReasonCorrupt, "the %s image data is damaged or incomplete", name(ct))
	}
	return Info{ContentType: ct, Width: cfg.Width, Height: cfg.Height}, nil
}

// safeDecode runs a decoder, turning a panic inside it (a decoder bug on
// hostile input) into an error rather than a crashed request.
func safeDecode(decode func([]byte) error, data []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("decoder panic: %v", v)
		}
	}()
	return decode(data)
}

// normalizeDeclared turns a declared Content-Type into one of the accepted
// types, "" when it declares nothing, or the lower-cased media type for
// anything else (which then never matches).
func normalizeDeclared(declared string) string {
	if strings.TrimSpace(declared) == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil {
		return "invalid"
	}
	switch mt {
	case "application/octet-stream":
		return ""
	case "image/jpg", "image/pjpeg":
		return JPEG // common aliases of image/jpeg
	}
	return mt
}

func name(ct string) string {
	switch ct {
	case PNG:
		return "PNG"
	case JPEG:
		return "JPEG"
	case WebP:
		return "WebP"
	}
	return ct
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// pngEnds walks the chunks of a PNG and requires IEND to be the last chunk
// and to end exactly at the end of data.
func pngEnds(data []byte) error {
	p := 8 // the signature
	for {
		if len(data)-p < 12 {
			return refuse(ReasonCorrupt, "the PNG file is truncated: it has no IEND chunk")
		}
		n := binary.BigEndian.Uint32(data[p:])
		typ := string(data[p+4 : p+8])
		if uint64(n) > uint64(len(data)-p-12) {
			return refuse(ReasonCorrupt, "the PNG file is truncated inside its %q chunk", printable(typ))
		}
		p += 12 + int(n)
		if typ == "IEND" {
			if p != len(data) {
				return refuse(ReasonTrailing, "the PNG file has %d bytes of other data after its end (IEND)", len(data)-p)
			}
			return nil
		}
	}
}

// jpegEnds follows the marker segments of a JPEG, through the entropy-coded
// data after each SOS, to the first EOI (where a decoder stops), and
// requires that EOI to be the last two bytes of data.
func jpegEnds(data []byte) error {
	truncated := refuse(ReasonCorrupt, "the JPEG file is truncated: it has no end marker (FFD9)")
	p := 2 // SOI
	for {
		// Markers may be preceded by any number of 0xFF fill bytes.
		if p >= len(data) || data[p] != 0xFF {
			if p >= len(data) {
				return truncated
			}
			return refuse(ReasonCorrupt, "the JPEG file is damaged: no marker at byte %d", p)
		}
		for p < len(data) && data[p] == 0xFF {
			p++
		}
		if p >= len(data) {
			return truncated
		}
		m := data[p]
		p++
		switch {
		case m == 0xD9: // EOI
			if p != len(data) {
				return refuse(ReasonTrailing, "the JPEG file has %d bytes of other data after its end (FFD9)", len(data)-p)
			}
			return nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // TEM, RSTn: no length
			continue
		}
		if len(data)-p < 2 {
			return truncated
		}
		n := int(binary.BigEndian.Uint16(data[p:]))
		if n < 2 || n > len(data)-p {
			return truncated
		}
		p += n
		if m != 0xDA { // not SOS
			continue
		}
		// Entropy-coded data: runs until a marker other than a stuffed
		// 0xFF00 or a restart marker.
		for {
			i := bytes.IndexByte(data[p:], 0xFF)
			if i < 0 {
				return truncated
			}
			p += i
			if p+1 >= len(data) {
				return truncated
			}
			next := data[p+1]
			if next == 0x00 || (next >= 0xD0 && next <= 0xD7) {
				p += 2
				continue
			}
			if next == 0xFF { // fill byte before a marker
				p++
				continue
			}
			break
		}
	}
}

// webpEnds requires the RIFF container's size to be the file's size, and
// its chunks to fill the container exactly.
func webpEnds(data []byte) error {
	if len(data) < 12 {
		return refuse(ReasonCorrupt, "the WebP file is truncated")
	}
	size := uint64(binary.LittleEndian.Uint32(data[4:8])) + 8
	switch {
	case size > uint64(len(data)):
		return refuse(ReasonCorrupt, "the WebP file is truncated: its header says %d bytes, the file has %d", size, len(data))
	case size < uint64(len(data)):
		return refuse(ReasonTrailing, "the WebP file has %d bytes of other data after its end", uint64(len(data))-size)
	}
	p := 12
	for p < len(data) {
		if len(data)-p < 8 {
			return refuse(ReasonCorrupt, "the WebP file ends inside a chunk header")
		}
		n := uint64(binary.LittleEndian.Uint32(data[p+4:]))
		n += n & 1 // chunks are padded to an even length
		if n > uint64(len(data)-p-8) {
			return refuse(ReasonCorrupt, "the WebP file is truncated inside its %q chunk", printable(string(data[p:p+4])))
		}
		p += 8 + int(n)
	}
	return nil
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// gcAfterDecode is the decoded size from which Gate.Check collects the
// garbage of a decode at once: below it, the garbage is small beside the
// budget, and not worth a collection per upload.
const gcAfterDecode = 8 << 20

// decodedSize is what the standard decoder allocates to decode the image:
// the decoded canvas at its bytes per pixel, plus what the format's decoder
// holds beside it. hint, when not empty, is how to send the image smaller
// (", or …").
func decodedSize(ct string, data []byte, cfg image.Config) (n int64, hint string) {
	px := int64(cfg.Width) * int64(cfg.Height)
	switch ct {
	case PNG:
		var bpp int64
		switch cfg.ColorModel {
		case color.GrayModel:
			bpp = 1
		case color.Gray16Model:
			bpp, hint = 2, ", or save it with 8 bits per channel"
		case color.RGBAModel, color.NRGBAModel:
			bpp = 4
		case color.RGBA64Model, color.NRGBA64Model:
			bpp, hint = 8, ", or save it with 8 bits per channel"
		default:
			bpp = 1 // paletted: an index per pixel
			if _, ok := cfg.ColorModel.(color.Palette); !ok {
				bpp = 8 // unknown: the widest
			}
		}
		n = px * bpp
		// An interlaced PNG is decoded pass by pass into images of their
		// own (together the size of the canvas), merged into the canvas.
		if len(data) > 28 && data[28] == 1 {
			n *= 2
			if hint == "" {
				hint = ", or save it without interlacing"
			}
		}
		return n, hint
	case JPEG:
		if n, progressive := jpegDecodedSize(data); n > 0 {
			if progressive {
				hint = ", or save it as a baseline (not progressive) JPEG"
			}
			return n, hint
		}
		return px * 4 * 5, "" // no frame header found: the worst case
	case WebP:
		switch cfg.ColorModel {
		case color.YCbCrModel: // lossy: 4:2:0
			return px * 3 / 2, ""
		case color.NYCbCrAModel: // lossy, with an alpha plane decoded as lossless (NRGBA)
			return px*5/2 + px*4, ""
		}
		// Lossless: the ARGB pixels, and the NRGBA image made from them
		// row by row (measured: 4.8 bytes a pixel).
		return px * 5, ""
	}
	return px * 8, ""
}

// jpegDecodedSize reads a JPEG's frame header (SOFn) and returns what
// image/jpeg allocates for it: a byte per sample of every component, padded
// to whole MCUs, and for a progressive JPEG also every DCT coefficient of
// every block (64 int32s per 64 samples), held until the last scan. It
// returns 0 when it finds no frame header before the first scan.
func jpegDecodedSize(data []byte) (n int64, progressive bool) {
	p := 2
	for p+4 <= len(data) && data[p] == 0xFF {
		m := data[p+1]
		if m == 0xFF { // fill byte
			p++
			continue
		}
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			p += 2
			continue
		}
		seg := int(binary.BigEndian.Uint16(data[p+2:]))
		if seg < 2 || p+2+seg > len(data) || m == 0xDA { // SOS: no frame before it
			return 0, false
		}
		if m < 0xC0 || m > 0xC2 { // not SOF0, SOF1, SOF2: skip the segment
			p += 2 + seg
			continue
		}
		f := data[p+4 : p+2+seg] // precision, height, width, components, then 3 bytes each
		if len(f) < 6 || len(f) < 6+3*int(f[5]) || f[5] == 0 {
			return 0, false
		}
		h, w, nc := int64(binary.BigEndian.Uint16(f[1:])), int64(binary.BigEndian.Uint16(f[3:])), int(f[5])
		var hmax, vmax int64 = 1, 1
		for i := range nc {
			hmax, vmax = max(hmax, int64(f[7+3*i]>>4)), max(vmax, int64(f[7+3*i]&15))
		}
		mcusX, mcusY := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
		var blocks int64
		for i := range nc {
			blocks += mcusX * mcusY * int64(f[7+3*i]>>4) * int64(f[7+3*i]&15)
		}
		n = blocks * 64 // a byte per sample
		if nc == 4 || (nc == 3 && f[6] == 'R' && f[9] == 'G' && f[12] == 'B') {
			n += w * h * 4 // converted to a CMYK or RGBA image at the end
		}
		if m == 0xC2 {
			n += blocks * 64 * 4 // an int32 per coefficient
		}
		return n, m == 0xC2
	}
	return 0, false
}

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
