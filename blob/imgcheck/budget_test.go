package imgcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vidgate/vidgate/blob/imgcheck/imgchecktest"
)

// A 16-bit 4096×4096 PNG is within the side limits, but decodes to 128
// MiB: it is refused from its header, before any pixel is decoded, with a
// reason and a message saying what to send instead.
func TestCheckRefusesOverDecodeBudget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		data        []byte
		lim         Limits
		wantInMsg   string
		wantDecoded string
	}{
		{"png 4096x4096 rgba16", imgchecktest.PNG(4096, 4096, 16, 6), Limits{}, "8 bits per channel", "128.0 MiB"},
		{"png 4096x4096 rgb16", imgchecktest.PNG(4096, 4096, 16, 2), Limits{}, "8 bits per channel", "128.0 MiB"},
		{"png 1024x1024 rgba8 over 2 MiB", imgchecktest.PNG(1024, 1024, 8, 6), Limits{MaxDecodedBytes: 2 << 20}, "smaller image", "4.0 MiB"},
		// Decoded pass by pass, then merged: twice the 1 MiB canvas.
		{"interlaced png 512x512 rgba8", imgchecktest.InterlacedPNG(512, 512, 8, 6), Limits{MaxDecodedBytes: 3 << 19}, "without interlacing", "2.0 MiB"},
		// 150x103 at 4:4:4, progressive: 3 components × 160x112 samples
		// (whole MCUs), a byte each plus 4 bytes of coefficient.
		{"progressive jpeg", fixture(t, "progressive.jpeg"), Limits{MaxDecodedBytes: 200 << 10}, "baseline (not progressive)", "232 KiB"},
	} {
		_, err := Check(tt.data, "", tt.lim)
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonDecodedTooLarge {
			t.Errorf("%s: Check = %v, want a %s refusal", tt.name, err, ReasonDecodedTooLarge)
			continue
		}
		if !strings.Contains(e.Message, tt.wantInMsg) || !strings.Contains(e.Message, tt.wantDecoded) {
			t.Errorf("%s: message %q, want it to say %q and %q", tt.name, e.Message, tt.wantDecoded, tt.wantInMsg)
		}
	}
	// Within the budget, the same kinds of image pass.
	for _, tt := range []struct {
		name string
		data []byte
		lim  Limits
	}{
		{"png 512x512 gray16", imgchecktest.PNG(512, 512, 16, 0), Limits{MaxDecodedBytes: 512 << 10}},
		{"png 1024x1024 rgba8", imgchecktest.PNG(1024, 1024, 8, 6), Limits{MaxDecodedBytes: 4 << 20}},
		{"png 512x512 rgba8", imgchecktest.PNG(512, 512, 8, 6), Limits{MaxDecodedBytes: 3 << 19}},
		{"interlaced png 512x512 rgba8", imgchecktest.InterlacedPNG(512, 512, 8, 6), Limits{}},
		{"progressive jpeg", fixture(t, "progressive.jpeg"), Limits{}},
	} {
		if _, err := Check(tt.data, "", tt.lim); err != nil {
			t.Errorf("%s: Check = %v, want it accepted", tt.name, err)
		}
	}
}

// A gate of n slots lets n decodes run at once; the next waits, gets the
// slot a finished decode gives back, and gives up with ErrBusy when none is
// given back within the wait.
func TestGateCapsConcurrentDecodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(2, 3*time.Second)
		ctx := context.Background()
		r1, err1 := g.Acquire(ctx)
		_, err2 := g.Acquire(ctx)
		if err1 != nil || err2 != nil {
			t.Fatalf("Acquire = %v, %v, want two free slots", err1, err2)
		}
		third := make(chan error, 1)
		go func() {
			release, err := g.Acquire(ctx)
			if err == nil {
				defer release()
			}
			third <- err
		}()
		synctest.Wait()
		select {
		case err := <-third:
			t.Fatalf("a third decode started (err %v) while two were running", err)
		default:
		}
		time.Sleep(2 * time.Second) // fake time: within the wait
		r1()
		if err := <-third; err != nil {
			t.Fatalf("third Acquire after a release = %v, want the slot", err)
		}

		start := time.Now()
		_, err := g.Acquire(ctx) // the slot r1 gave back, taken and returned by the third
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Acquire(ctx); !errors.Is(err, ErrBusy) {
			t.Fatalf("Acquire with every slot held = %v, want ErrBusy", err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("refused after %s, want after the 3s wait", waited)
		}
	})
}

// Gate.Check decodes only inside a slot; what the header refuses is refused
// at once, without a slot.
func TestGateCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1, time.Second)
		release, _ := g.Acquire(context.Background())
		ctx := context.Background()
		start := time.Now()
		if _, err := g.Check(ctx, imgchecktest.PNG(4096, 4096, 16, 6), "", Limits{}); reasonOf(err) != ReasonDecodedTooLarge || time.Since(start) != 0 {
			t.Errorf("16-bit PNG with the slot held: %v after %s, want %s at once", err, time.Since(start), ReasonDecodedTooLarge)
		}
		if _, err := g.Check(ctx, bombPNG(100000, 100000), "", Limits{}); reasonOf(err) != ReasonDimensions || time.Since(start) != 0 {
			t.Errorf("bomb with the slot held: %v after %s, want %s at once", err, time.Since(start), ReasonDimensions)
		}
		good := pngOf(t, 64, 64)
		if _, err := g.Check(ctx, good, "", Limits{}); !errors.Is(err, ErrBusy) {
			t.Errorf("valid PNG with the slot held: %v, want ErrBusy", err)
		}
		release()
		if info, err := g.Check(ctx, good, "", Limits{}); err != nil || info.Width != 64 {
			t.Errorf("valid PNG with the slot free: %+v, %v", info, err)
		}
	})
}

func reasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
