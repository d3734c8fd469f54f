// Package blob stores vidgate artifacts (generated videos, thumbnails,
// reference images) in a gocloud.dev/blob bucket and hands out download URLs
// for them.
//
// A Bucket is opened from a URL: "s3://", "gs://" and "azblob://" buckets use
// the provider's own signed URLs; "file://" and "mem://" buckets are served by
// vidgate itself through Handler, mounted at "/files/", with URLs signed by an
// HMAC-SHA256 key from Options.SigningKey. Both local schemes share one
// signing implementation, so a test on mem:// exercises exactly what a
// single-node deployment on file:// runs.
//
// Every operation streams: Put hashes and sniffs while copying and never holds
// an object in memory, and reads (OpenReaderAt, Handler) use range reads so a
// metadata parser or a seeking video player only fetches what it needs.
// (The mem:// bucket keeps its objects in memory by nature; it is for tests
// and development.)
//
// Keys are slash-separated paths such as "artifacts/3f2a.../video.mp4". They
// are validated in one place (see ErrInvalidKey) so that a key accepted by one
// backend is accepted and served by all of them.
package blob
