package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	// Drivers for the cloud schemes; Open only needs them registered.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

var (
	// ErrTooLarge reports that Put received more than its maxBytes.
	ErrTooLarge = errors.New("object too large")
	// ErrNotFound reports that no object exists under a key.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidKey reports a key that is empty, starts with "/", contains
	// "..", or is otherwise not storable and servable on every backend.
	ErrInvalidKey = errors.New("invalid key")
)

// MinSigningKeyLen is the shortest Options.SigningKey Open accepts.
const MinSigningKeyLen = 32

// maxKeyLen matches the S3 and GCS limit on object names, so a key that works
// on one backend works on all of them.
const maxKeyLen = 1024

// Options configure a Bucket.
type Options struct {
	// SigningKey signs download URLs that vidgate serves itself (file:// and
	// mem:// buckets). Required for those schemes, at least 32 bytes; ignored
	// for cloud buckets, which sign with the provider's credentials.
	SigningKey []byte
	// BaseURL is the externally reachable URL of the vidgate HTTP server, e.g.
	// "http://127.0.0.1:8080"; signed URLs for file:// and mem:// buckets point
	// at BaseURL + "/files/...". Empty means root-relative URLs ("/files/...").
	BaseURL string
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
}

// Bucket is an artifact store. It is safe for concurrent use.
type Bucket struct {
	bkt *gcblob.Bucket
	// signer is non-nil exactly for buckets whose URLs vidgate serves itself
	// (file:// and mem://); cloud buckets sign with the provider.
	signer  *signer
	baseURL string
	now     func() time.Time
}

// Open opens the bucket at bucketURL, e.g. "file:///var/lib/vidgate/blobs",
// "mem://", "s3://bucket?region=eu-west-1", "gs://bucket" or
// "azblob://container".
//
// For file:// URLs the directory is created if missing, and temporary files
// are written next to their final path (fileblob's no_tmp_dir) because the
// default, os.TempDir, is often on another mount (a container volume) where
// the final rename fails. Either can be overridden in the URL.
func Open(ctx context.Context, bucketURL string, opts Options) (*Bucket, error) {
	u, err := url.Parse(bucketURL)
	if err != nil {
		// Not url.Parse's error: it would echo the URL, which may carry secrets.
		return nil, errors.New("open bucket: malformed url")
	}
	b := &Bucket{now: opts.Now}
	if b.now == nil {
		b.now = time.Now
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == fileblob.Scheme || scheme == memblob.Scheme {
		if len(opts.SigningKey) < MinSigningKeyLen {
			return nil, fmt.Errorf("open bucket: %s:// needs a signing key of at least %d bytes, got %d", scheme, MinSigningKeyLen, len(opts.SigningKey))
		}
		base, err := parseBaseURL(opts.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("open bucket: %w", err)
		}
		b.signer = newSigner(opts.SigningKey)
		b.baseURL = base
	}
	if scheme == fileblob.Scheme {
		q := u.Query()
		if !q.Has("create_dir") {
			q.Set("create_dir", "true")
		}
		if !q.Has("no_tmp_dir") {
			q.Set("no_tmp_dir", "true")
		}
		u.RawQuery = q.Encode()
	}
	bkt, err := gcblob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("open bucket %s://: %w", scheme, err)
	}
	b.bkt = bkt
	return b, nil
}

// parseBaseURL validates Options.BaseURL and returns it without a trailing
// slash, ready for "/files/..." to be appended.
func parseBaseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base url %q: want http(s)://host[:port][/path] without query or fragment", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// Close releases the bucket. Outstanding readers must be closed first.
func (b *Bucket) Close() error {
	if err := b.bkt.Close(); err != nil {
		return fmt.Errorf("close bucket: %w", err)
	}
	return nil
}

// NewReader opens the object under key for sequential reading. The caller
// must close it. A missing object yields an error matching ErrNotFound.
func (b *Bucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey("read", key); err != nil {
		return nil, err
	}
	r, err := b.bkt.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, mapNotFound(err))
	}
	return r, nil
}

// Delete removes the object under key. A missing object is not an error, so
// cleanup can be retried.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	if err := b.bkt.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether an object is stored under key.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey("exists", key); err != nil {
		return false, err
	}
	ok, err := b.bkt.Exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("exists %s: %w", key, err)
	}
	return ok, nil
}

// mapNotFound turns gocloud's NotFound into ErrNotFound so callers need not
// import gcerrors; other errors pass through unchanged.
func mapNotFound(err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return ErrNotFound
	}
	return err
}

// checkKey is the single place keys are validated. Beyond the empty key, a
// leading "/" and "..", it rejects what some backend or the /files/ route
// cannot round-trip: empty or "." path segments (http.ServeMux redirects such
// paths), a trailing "/", control characters and invalid UTF-8, keys longer
// than S3 and GCS allow, and the ".attrs" suffix fileblob reserves for its
// sidecar files. The returned error names op and matches ErrInvalidKey.
func checkKey(op, key string) error {
	why := ""
	switch {
	case key == "":
		why = "empty"
	case len(key) > maxKeyLen:
		why = fmt.Sprintf("longer than %d bytes", maxKeyLen)
	case strings.HasPrefix(key, "/"):
		why = `starts with "/"`
	case strings.Contains(key, ".."):
		why = `contains ".."`
	case !utf8.ValidString(key):
		why = "not valid UTF-8"
	case strings.IndexFunc(key, unicode.IsControl) >= 0:
		why = "contains a control character"
	case strings.HasSuffix(key, ".attrs"):
		why = `ends with ".attrs"`
	default:
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "" || seg == "." {
				why = `has an empty or "." path segment`
				break
			}
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%s: %w %q: %s", op, ErrInvalidKey, key, why)
}
