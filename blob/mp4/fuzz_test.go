package mp4

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadInfo checks that ReadInfo never panics or hangs, fails only with
// ErrInvalid on in-memory input, makes a bounded number of reads, and returns
// only Info that passes its own validation. Seeds: the fixtures, the
// hand-built edge cases and testdata/fuzz/FuzzReadInfo.
func FuzzReadInfo(f *testing.F) {
	for _, file := range []string{"faststart.mp4", "moov_at_end.mp4", "portrait.mp4"} {
		f.Add(readFixture(f, file))
	}
	for _, tt := range edgeCases() {
		f.Add(tt.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &recorder{r: bytes.NewReader(data)}
		info, err := ReadInfo(r, int64(len(data)))

		// Top-level headers up to the cap, one for the moov, maybe one for a
		// largesize ftyp's brand.
		if reads, total := r.stats(); reads > maxTopLevelBoxes+2 || total > int64(len(data))+16*(maxTopLevelBoxes+1) {
			t.Fatalf("ReadInfo made %d reads of %d bytes in total on a %d-byte file", reads, total, len(data))
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ReadInfo error = %v, want one wrapping ErrInvalid", err)
			}
		} else {
			if info.Width < 1 || info.Width > maxDimension || info.Height < 1 || info.Height > maxDimension {
				t.Errorf("ReadInfo = %+v, want dimensions in [1, %d]", info, maxDimension)
			}
			if info.Duration < 0 {
				t.Errorf("ReadInfo = %+v, want a non-negative duration", info)
			}
			if len(info.Brand) != 4 {
				t.Errorf("ReadInfo = %+v, want a 4-byte brand", info)
			}
		}

		// A size larger than the data (a truncated download, a lying caller)
		// must fail cleanly too, or agree with the exact size.
		info2, err2 := ReadInfo(bytes.NewReader(data), int64(len(data))+100)
		if err2 != nil && !errors.Is(err2, ErrInvalid) {
			t.Fatalf("ReadInfo(size+100) error = %v, want one wrapping ErrInvalid", err2)
		}
		if err == nil && err2 == nil && info2 != info {
			t.Errorf("ReadInfo(size+100) = %+v, want %+v as with the exact size", info2, info)
		}
	})
}
