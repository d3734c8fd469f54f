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
// canvas) is refused before any pixel memory is allocated.
package imgcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"mime"
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
}

// Default limits.
const (
	DefaultMaxBytes = 20 << 20
	DefaultMinSide  = 64
	DefaultMaxSide  = 4096
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
	// Only now, with the canvas known to be bounded, decode every pixel:
	// a truncated or corrupt image fails here.
	if err := safeDecode(decode, data); err != nil {
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
