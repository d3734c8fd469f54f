package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vidgate/vidgate/jobs/broker"
)

// TestSubscribeNotify reads a subscription without waiting in Next: notify
// fires for every message, for Close, and TryNext returns what Next would.
func TestSubscribeNotify(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			b := newBroker(t, r, 0)
			notified := make(chan struct{}, 64)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if _, err := b.SubscribeNotify(ctx, "job:a", nil); err == nil {
				t.Fatal("SubscribeNotify(nil notify) error = nil")
			}
			s, err := b.SubscribeNotify(ctx, "job:a", func() { notified <- struct{}{} })
			if err != nil {
				t.Fatalf("SubscribeNotify error: %v", err)
			}
			t.Cleanup(s.Close)
			if _, ok, err := s.TryNext(); ok || err != nil {
				t.Fatalf("TryNext() on an empty subscription = %v, %v; want nothing", ok, err)
			}
			if !s.Seen("a", 1) {
				t.Error("Seen(a, 1) on a new key = false, want true")
			}
			if s.Seen("a", 1) {
				t.Error("Seen(a, 1) again = true, want false")
			}
			publish(t, b, "job:a", "a", 1) // not newer than Seen: dropped
			publish(t, b, "job:a", "a", 2)
			publish(t, b, "job:a", "b", 1)
			var gots []got
			for len(gots) < 2 {
				select {
				case <-notified:
				case <-ctx.Done():
					t.Fatalf("no notification; got %v so far", gots)
				}
				for {
					m, ok, err := s.TryNext()
					if err != nil {
						t.Fatalf("TryNext() error: %v", err)
					}
					if !ok {
						break
					}
					gots = append(gots, got{m.Key, m.Version})
				}
			}
			if want := []got{{"a", 2}, {"b", 1}}; len(gots) != 2 || gots[0] != want[0] || gots[1] != want[1] {
				t.Errorf("TryNext() returned %v, want %v", gots, want)
			}
			for len(notified) > 0 {
				<-notified
			}
			s.Close()
			select {
			case <-notified:
			case <-ctx.Done():
				t.Fatal("Close did not notify")
			}
			if _, _, err := s.TryNext(); !errors.Is(err, broker.ErrClosed) {
				t.Errorf("TryNext() after Close = %v, want %v", err, broker.ErrClosed)
			}
			if s.Seen("c", 1) {
				t.Error("Seen after Close = true, want false")
			}
		})
	}
}
