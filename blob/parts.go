package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	gcblob "gocloud.dev/blob"
)

// Object is one stored object, as List reports it.
type Object struct {
	Key  string
	Size int64
}

// List returns the objects whose keys start with prefix, in key order.
// prefix must be a valid key followed by "/". A backend may list objects
// that are still being written under names of its own (fileblob's
// "<key>.<n>.tmp" files): callers pick the keys they know by their shape.
func (b *Bucket) List(ctx context.Context, prefix string) ([]Object, error) {
	dir, ok := strings.CutSuffix(prefix, "/")
	if !ok {
		return nil, fmt.Errorf("list %s: %w %q: want a prefix ending in \"/\"", prefix, ErrInvalidKey, prefix)
	}
	if err := checkKey("list", dir); err != nil {
		return nil, err
	}
	var out []Object
	it := b.bkt.List(&gcblob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		if !obj.IsDir {
			out = append(out, Object{Key: obj.Key, Size: obj.Size})
		}
	}
}

// Metadata returns the metadata stored with key by PutPart (keys lower
// case). A missing object yields an error matching ErrNotFound.
func (b *Bucket) Metadata(ctx context.Context, key string) (map[string]string, error) {
	if err := checkKey("metadata", key); err != nil {
		return nil, err
	}
	attrs, err := b.bkt.Attributes(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", key, mapNotFound(err))
	}
	return attrs.Metadata, nil
}

// PutPart streams all of r into key with metadata meta (lower-case keys,
// printable ASCII values), as one piece of a larger file that is written
// in parts: no sniffing, no hashing, no cap (the caller bounds r, e.g. with
// io.LimitReader). The object commits only when r ends cleanly: a failed
// read or a cancelled ctx leaves nothing under key. An empty r writes
// nothing and returns 0.
func (b *Bucket) PutPart(ctx context.Context, key string, r io.Reader, meta map[string]string) (int64, error) {
	if err := checkKey("put part", key); err != nil {
		return 0, err
	}
	// Read before opening the writer, so that an empty r writes nothing.
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, fmt.Errorf("put part %s: %w", key, err)
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, fmt.Errorf("put part %s: %w", key, err)
	}

	// As in PutTyped: cancelling ctx before Close aborts the write.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.bkt.NewWriter(ctx, key, &gcblob.WriterOptions{ContentType: "application/octet-stream", Metadata: meta})
	if err != nil {
		return 0, fmt.Errorf("put part %s: %w", key, err)
	}
	size, err := io.Copy(w, io.MultiReader(bytes.NewReader(head[:n]), r))
	if err != nil {
		cancel()
		_ = w.Close() // reports the cancellation; the write is discarded
		return 0, fmt.Errorf("put part %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("put part %s: %w", key, err)
	}
	return size, nil
}

// Concat returns the objects under keys as one stream, in order, opening
// each only when the one before it has been read to its end; so a file
// written in parts is read back whole with one part open at a time. A
// missing object fails the read with an error matching ErrNotFound. Close
// releases the part being read.
func (b *Bucket) Concat(ctx context.Context, keys []string) io.ReadCloser {
	return &concatReader{ctx: ctx, b: b, keys: keys}
}

type concatReader struct {
	ctx  context.Context
	b    *Bucket
	keys []string
	cur  io.ReadCloser
}

func (c *concatReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.keys) == 0 {
				return 0, io.EOF
			}
			r, err := c.b.NewReader(c.ctx, c.keys[0])
			if err != nil {
				return 0, err
			}
			c.cur, c.keys = r, c.keys[1:]
		}
		n, err := c.cur.Read(p)
		if errors.Is(err, io.EOF) {
			c.cur.Close()
			c.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *concatReader) Close() error {
	if c.cur == nil {
		return nil
	}
	err := c.cur.Close()
	c.cur = nil
	c.keys = nil
	return err
}
