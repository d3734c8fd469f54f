package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"

	gcblob "gocloud.dev/blob"
)

// sniffLen is how much of an object content sniffing looks at; it is also
// all that Put buffers before it starts writing.
const sniffLen = 512

// PutResult describes a stored object.
type PutResult struct {
	// Size is the object's length in bytes.
	Size int64
	// SHA256 is the lowercase hex SHA-256 of the object's bytes.
	SHA256 string
	// ContentType is the stored Content-Type, sniffed from the first bytes.
	ContentType string
}

// Put streams r into key, replacing any object there, and never holds more
// than a copy buffer of it in memory. It hashes and sniffs the content type
// on the way (see PutTyped).
//
// maxBytes must be positive. When more than maxBytes arrive Put stops reading
// and returns an error matching ErrTooLarge; the write is aborted before it
// commits, so no partial object is ever visible under key (and an object
// that was already there stays untouched).
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (PutResult, error) {
	return b.PutTyped(ctx, key, r, maxBytes, "")
}

// PutTyped is Put with a content-type hint, such as the Content-Type header a
// provider sent with a download. Sniffing the first 512 bytes wins; the hint
// is used only when sniffing finds nothing better than
// "application/octet-stream", and ignored when it is not a valid media type.
func (b *Bucket) PutTyped(ctx context.Context, key string, r io.Reader, maxBytes int64, contentType string) (PutResult, error) {
	if err := checkKey("put", key); err != nil {
		return PutResult{}, err
	}
	if maxBytes <= 0 {
		return PutResult{}, fmt.Errorf("put %s: maxBytes must be positive, got %d", key, maxBytes)
	}

	// Sniff before opening the writer: the content type must be known when
	// the write starts, and gocloud's own sniffing would miss MP4s.
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return PutResult{}, fmt.Errorf("put %s: %w", key, err)
	}
	head = head[:n]
	ct := sniffContentType(head, contentType)

	// Cancelling ctx before Close is gocloud's way to abort a write so that
	// nothing is committed; every exit path below relies on it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.bkt.NewWriter(ctx, key, &gcblob.WriterOptions{ContentType: ct})
	if err != nil {
		return PutResult{}, fmt.Errorf("put %s: %w", key, err)
	}
	abort := func(err error) (PutResult, error) {
		cancel()
		_ = w.Close() // reports the cancellation; the write is discarded
		return PutResult{}, fmt.Errorf("put %s: %w", key, err)
	}

	// Allow one byte past the cap so "exactly maxBytes" and "more" differ.
	limit := maxBytes
	if limit < math.MaxInt64 {
		limit++
	}
	h := sha256.New()
	src := &io.LimitedReader{R: io.MultiReader(bytes.NewReader(head), r), N: limit}
	size, err := io.Copy(io.MultiWriter(w, h), src)
	if err != nil {
		return abort(err)
	}
	if size > maxBytes {
		return abort(fmt.Errorf("more than %d bytes: %w", maxBytes, ErrTooLarge))
	}
	if err := w.Close(); err != nil {
		return PutResult{}, fmt.Errorf("put %s: %w", key, err)
	}
	return PutResult{Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: ct}, nil
}

// sniffContentType picks the Content-Type for an object starting with head.
//
// http.DetectContentType already knows PNG, JPEG, GIF, WebP and WebM, but
// only recognises ISO-BMFF files whose brands start with "mp4"; generated
// videos often carry "isom", "avc1" or QuickTime's "qt  ", so any ftyp box at
// offset 4 is taken as video/mp4 (which browsers play for all of them),
// except for the brands of still-image and audio-only formats built on the
// same container.
func sniffContentType(head []byte, hint string) string {
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		switch string(head[8:12]) {
		case "avif", "avis":
			return "image/avif"
		case "heic", "heix", "heim", "heis":
			return "image/heic"
		case "M4A ", "M4B ", "M4P ":
			return "audio/mp4"
		}
		return "video/mp4"
	}
	const fallback = "application/octet-stream"
	ct := fallback
	if len(head) > 0 { // DetectContentType would call an empty object text/plain
		ct = http.DetectContentType(head)
	}
	if ct != fallback || hint == "" {
		return ct
	}
	mt, params, err := mime.ParseMediaType(hint)
	if err != nil {
		return ct
	}
	if norm := mime.FormatMediaType(mt, params); norm != "" {
		return norm
	}
	return ct
}
