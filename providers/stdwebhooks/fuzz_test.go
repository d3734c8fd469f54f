package stdwebhooks

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzVerify checks Verify against hostile headers and bodies, with a fixed
// clock and two secrets (as during a rotation):
//
//   - arbitrary webhook-id, webhook-timestamp and webhook-signature values
//     never panic, fail only with one of the package's errors, and succeed
//     only returning the webhook-id they were given;
//   - a delivery the Signer signed for (id, ts, body), ts within the
//     tolerance, always verifies, under either secret;
//   - the same signature over the body with any byte changed (or one byte
//     added) never verifies.
//
// Seeds: the specification's test vector, the cases below and
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	const otherSecret = "whsec_c2VjcmV0LW51bWJlci10d28tZm9yLXJvdGF0aW9u"
	at := time.Unix(vecTS, 0)
	ts := strconv.Itoa(vecTS)
	f.Add(vecID, ts, vecSig, []byte(vecBody), int64(0), uint32(0))
	f.Add(vecID, ts, "v1,bm9wZQ== v2,whatever "+vecSig, []byte(vecBody), int64(-299), uint32(5))
	f.Add(vecID, "+1614265330", vecSig, []byte(vecBody), int64(300), uint32(19))
	f.Add(vecID, "1614265330.0", "v1,", []byte(""), int64(-300), uint32(1))
	f.Add("", ts, vecSig, []byte("{}"), int64(1), uint32(1))
	f.Add(vecID, "-9223372036854775808", "v1 ,"+vecSig[3:], []byte{0, 0xff}, int64(1<<62), uint32(7))
	f.Add("msg_\x00\n.", "99999999999999999999", "v1,,,, v1,====", []byte("\xff\xfe"), int64(-1<<62), uint32(1<<31))

	v, err := NewVerifier([]string{otherSecret, vecSecret}, WithClock(func() time.Time { return at }))
	if err != nil {
		f.Fatal(err)
	}
	signers := make([]*Signer, 0, 2)
	for _, s := range []string{vecSecret, otherSecret} {
		sg, err := NewSigner(s)
		if err != nil {
			f.Fatal(err)
		}
		signers = append(signers, sg)
	}
	tol := int64(DefaultTolerance / time.Second)

	f.Fuzz(func(t *testing.T, id, tsText, sig string, body []byte, skew int64, pick uint32) {
		// Arbitrary headers, set as a server would receive them.
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, tsText)
		h.Set(HeaderSignature, sig)
		got, err := v.Verify(h, body)
		switch {
		case err == nil:
			if got != id {
				t.Fatalf("Verify(id %q) = %q, want the webhook-id", id, got)
			}
		case !errors.Is(err, ErrMissingHeaders) && !errors.Is(err, ErrInvalidTimestamp) &&
			!errors.Is(err, ErrTimestampTooOld) && !errors.Is(err, ErrTimestampTooNew) && !errors.Is(err, ErrNoMatch):
			t.Fatalf("Verify() error = %v, want one of the package's errors", err)
		}

		// A genuine delivery, signed for a timestamp within the tolerance.
		if id == "" {
			return // never a delivery: the Signer's caller supplies an id
		}
		off := skew % (tol + 1) // in [-tol, tol]
		sent := at.Add(time.Duration(off) * time.Second)
		signer := signers[pick%2]
		h = http.Header{}
		signer.SetHeaders(h, id, sent, body)
		if got, err := v.Verify(h, body); err != nil || got != id {
			t.Fatalf("Verify(signed delivery id %q, %ds off, body %q) = %q, %v; want %q, nil", id, off, body, got, err, id)
		}
		// Several signatures, the good one among garbage.
		h.Set(HeaderSignature, sig+" "+h.Get(HeaderSignature)+" v1,AAAA")
		if got, err := v.Verify(h, body); err != nil || got != id {
			t.Fatalf("Verify(signed delivery among %q) = %q, %v; want %q, nil", sig, got, err, id)
		}

		// The same headers over a tampered body.
		h.Set(HeaderSignature, signer.Sign(id, sent, body))
		tampered := append([]byte(nil), body...)
		if len(tampered) == 0 {
			tampered = append(tampered, byte(pick))
		} else {
			i := int(pick>>8) % len(tampered)
			tampered[i] ^= byte(pick) | 1 // never a no-op
		}
		if _, err := v.Verify(h, tampered); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("Verify(signed for %q, body %q) error = %v, want ErrNoMatch", body, tampered, err)
		}
		if _, err := v.Verify(h, append(body[:len(body):len(body)], byte(pick))); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("Verify(signed for %q, one byte appended) error = %v, want ErrNoMatch", body, err)
		}
	})
}
