package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	gcblob "gocloud.dev/blob"
)

// readAheadLen is the block a RangeReader fetches for a small ReadAt and
// keeps for the next one. Metadata parsers issue many tiny reads close
// together (box headers, sample tables); one block turns them into one range
// request instead of one each, without ever holding more than this.
const readAheadLen = 64 << 10

// RangeReader gives random access to one stored object through range reads,
// for metadata readers such as an MP4 box parser. It never reads the whole
// object: each ReadAt fetches at most its own span, or a 64 KiB block for
// small reads.
//
// ReadAt follows io.ReaderAt: it is safe for concurrent use, and returns
// io.EOF with the bytes that exist when p runs past the end. Close releases
// the read-ahead block; ReadAt fails after it.
type RangeReader interface {
	io.ReaderAt
	io.Closer
}

// OpenReaderAt opens key for random access and returns its size. A missing
// object yields an error matching ErrNotFound.
//
// io.ReaderAt has no context parameter, so the returned reader performs its
// range reads with ctx: it is usable for as long as ctx is.
func (b *Bucket) OpenReaderAt(ctx context.Context, key string) (RangeReader, int64, error) {
	if err := checkKey("open reader", key); err != nil {
		return nil, 0, err
	}
	attrs, err := b.bkt.Attributes(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("open reader %s: %w", key, mapNotFound(err))
	}
	return &rangeReader{ctx: ctx, bkt: b.bkt, key: key, size: attrs.Size}, attrs.Size, nil
}

type rangeReader struct {
	ctx  context.Context // see OpenReaderAt: io.ReaderAt cannot take one per call
	bkt  *gcblob.Bucket
	key  string
	size int64

	closed atomic.Bool

	mu       sync.Mutex // guards the read-ahead block
	block    []byte     // object bytes [blockOff, blockOff+len(block))
	blockOff int64
}

var errClosedReader = errors.New("reader closed")

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s at %d: negative offset", r.key, off)
	}
	if r.closed.Load() {
		return 0, fmt.Errorf("read %s: %w", r.key, errClosedReader)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.size-off)
	var err error
	if want >= readAheadLen {
		// Large reads go straight to storage: caching them would only copy.
		err = r.fetch(p[:want], off)
	} else {
		err = r.readCached(p[:want], off)
	}
	if err != nil {
		return 0, fmt.Errorf("read %s at %d: %w", r.key, off, err)
	}
	if want < int64(len(p)) {
		return int(want), io.EOF
	}
	return int(want), nil
}

// readCached fills p from the read-ahead block, fetching a new block that
// starts at off when the current one does not cover p.
func (r *rangeReader) readCached(p []byte, off int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := off + int64(len(p))
	if off < r.blockOff || end > r.blockOff+int64(len(r.block)) {
		n := min(int64(readAheadLen), r.size-off)
		if r.block == nil {
			r.block = make([]byte, readAheadLen)
		}
		r.block = r.block[:n]
		if err := r.fetch(r.block, off); err != nil {
			r.block = r.block[:0]
			return err
		}
		r.blockOff = off
	}
	copy(p, r.block[off-r.blockOff:])
	return nil
}

// fetch fills p with the object's bytes starting at off using one range read.
func (r *rangeReader) fetch(p []byte, off int64) error {
	rr, err := r.bkt.NewRangeReader(r.ctx, r.key, off, int64(len(p)), nil)
	if err != nil {
		return mapNotFound(err)
	}
	defer rr.Close()
	if _, err := io.ReadFull(rr, p); err != nil {
		// The object is shorter than when it was opened: it was replaced.
		return err
	}
	return nil
}

func (r *rangeReader) Close() error {
	r.closed.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.block = nil
	return nil
}
