package blob

import (
	"context"
	"io"
)

// Verdict is what a Scanner found in an object.
type Verdict struct {
	// Infected reports a positive finding: the object must not be served.
	Infected bool
	// Signature names what was found ("Eicar-Test-Signature"); "" when
	// clean.
	Signature string
}

// Scanner checks an object's bytes (malware, policy) before it may be
// served. The worker scans every stored output before its job completes:
// an Infected verdict quarantines it (the job fails with
// ARTIFACT_QUARANTINED and the file is deleted), and an error — the scanner
// is down, times out, or refuses the file — is transient: the output is
// copied and scanned again later, and never served unscanned. The ClamAV
// implementation is in blob/clamd.
type Scanner interface {
	// Scan reads r to its end (or until it fails) and returns the verdict.
	// It does not close r.
	Scan(ctx context.Context, r io.Reader) (Verdict, error)
}
