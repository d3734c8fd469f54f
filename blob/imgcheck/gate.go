package imgcheck

import (
	"context"
	"errors"
	"time"
)

// ErrBusy is Gate.Check's error when no decode slot freed up within the
// gate's wait.
var ErrBusy = errors.New("imgcheck: too many images are being decoded; try again shortly")

// Gate caps how many decodes run at once, so that the memory of the
// decodes in a process is at most the cap times Limits.MaxDecodedBytes. A
// decode that cannot start within the gate's wait is refused with ErrBusy
// rather than queued without bound. A nil *Gate does not cap.
type Gate struct {
	slots chan struct{}
	wait  time.Duration
}

// NewGate returns a gate of n slots (at least 1) whose callers wait at most
// wait for one.
func NewGate(n int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// Wait is how long a caller waits for a slot.
func (g *Gate) Wait() time.Duration { return g.wait }

// Acquire takes a slot, waiting at most the gate's wait: it returns the
// function that gives the slot back, or ErrBusy, or ctx's error.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	release = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Check is imgcheck.Check with the decode inside one of the gate's slots,
// and the garbage of a large decode collected before the slot is given back.
// Everything Check refuses from the header (size, type, structure,
// dimensions, decoded size) is refused without waiting for a slot.
func (g *Gate) Check(ctx context.Context, data []byte, declared string, lim Limits) (Info, error) {
	return check(data, declared, lim, func() (func(), error) { return g.Acquire(ctx) })
}
