package blob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	gcblob "gocloud.dev/blob"
)

// filesPrefix is where the server mounts Handler; vidgate-signed URLs point
// below it.
const filesPrefix = "/files/"

// SignedURL returns a URL that downloads key until ttl has passed, without
// further authentication. It does not check that the object exists.
//
// Cloud buckets (s3, gs, azblob) sign with the provider's credentials, so the
// download never touches vidgate. file:// and mem:// buckets get
// BaseURL + "/files/" + escaped key + "?expires=<unix>&sig=<base64url HMAC>",
// which Handler serves.
func (b *Bucket) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey("sign url", key); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("sign url %s: ttl must be positive, got %v", key, ttl)
	}
	if b.signer == nil {
		u, err := b.bkt.SignedURL(ctx, key, &gcblob.SignedURLOptions{Expiry: ttl})
		if err != nil {
			return "", fmt.Errorf("sign url %s: %w", key, err)
		}
		return u, nil
	}
	return b.baseURL + filesPrefix + escapeKey(key) + "?" + b.signer.query(key, b.now().Add(ttl)), nil
}

// escapeKey path-escapes each segment of key, keeping the slashes, so the
// server sees the key again in the decoded request path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

var (
	errBadSignature = errors.New("missing or invalid signature")
	errExpired      = errors.New("signed url expired")
)

// signer makes and checks the HMACs of vidgate-served URLs. It is shared by
// file:// and mem:// buckets so both behave identically.
type signer struct {
	key []byte
}

func newSigner(key []byte) *signer {
	return &signer{key: append([]byte(nil), key...)} // the caller may reuse its slice
}

// mac is HMAC-SHA256 over a versioned, unambiguous encoding of key and
// expiry: the prefix keeps these MACs distinct from anything else signed with
// the same secret, and expires (digits only) cannot contain the separator.
func (s *signer) mac(key string, expires int64) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("vidgate-files-v1\n"))
	m.Write([]byte(strconv.FormatInt(expires, 10)))
	m.Write([]byte("\n"))
	m.Write([]byte(key))
	return m.Sum(nil)
}

func (s *signer) sign(key string, expires int64) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(key, expires))
}

// query returns the query of a URL that serves key until expires, rounded
// up to the second so a sub-second ttl does not yield an expired URL.
func (s *signer) query(key string, expires time.Time) string {
	exp := expires.Unix()
	if expires.Nanosecond() > 0 {
		exp++
	}
	q := url.Values{}
	q.Set("expires", strconv.FormatInt(exp, 10))
	q.Set("sig", s.sign(key, exp))
	return q.Encode()
}

// verify checks the query of a signed URL for key. The signature is checked
// (in constant time) before the expiry, so a tampered expiry is reported as
// a bad signature, never as "expired".
func (s *signer) verify(key string, q url.Values, now time.Time) error {
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return errBadSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil || !hmac.Equal(sig, s.mac(key, expires)) {
		return errBadSignature
	}
	if !now.Before(time.Unix(expires, 0)) {
		return errExpired
	}
	return nil
}

// ErrURLExpired is URLSigner.Verify's answer for a well-signed URL whose
// time has passed.
var ErrURLExpired = errExpired

// URLSigner signs and checks expiring URLs the way file:// and mem://
// buckets do, for other servers of files: the simulated provider signs the
// output URLs it hands out with a key of its own.
type URLSigner struct{ s *signer }

// NewURLSigner returns a URLSigner for an HMAC key (at least 32 bytes).
func NewURLSigner(key []byte) *URLSigner { return &URLSigner{s: newSigner(key)} }

// Query returns "expires=<unix>&sig=<HMAC>": the query that lets key be
// fetched until expires (rounded up to the second).
func (u *URLSigner) Query(key string, expires time.Time) string { return u.s.query(key, expires) }

// Verify checks a URL's query for key at now: nil, ErrURLExpired, or an
// error for a missing or wrong signature.
func (u *URLSigner) Verify(key string, q url.Values, now time.Time) error {
	return u.s.verify(key, q, now)
}
