package broker_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

// These tests run in a synctest bubble, on its clock, with miniredis
// served in memory (queuetest.InBubble), and the Broker's own timing
// (ping every 15s, reconnect waits from 100ms doubling up to 5s).

// TestReconnectBackoff: while Redis refuses connections, the waits between
// attempts start at 100ms and double up to 5s, each jittered into its
// upper half; a connection on which Redis answered starts them over.
func TestReconnectBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var (
			mu    sync.Mutex
			dials []time.Time
			up    bool
			last  net.Conn
		)
		_, rdb := queuetest.InBubble(t, func(o *redis.Options) {
			dial := o.Dialer
			// One dial per connection (go-redis retries none), and never
			// go-redis's own refusal after PoolSize failed dials.
			o.DialerRetries, o.PoolSize = 1, 1000
			o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
				mu.Lock()
				defer mu.Unlock()
				dials = append(dials, time.Now())
				if !up {
					return nil, errors.New("connection refused")
				}
				c, err := dial(ctx, network, addr)
				last = c
				return c, err
			}
		})
		b := broker.New(rdb, broker.Config{Logger: queuetest.Logger(t)})
		run(t, b)

		time.Sleep(time.Minute)
		synctest.Wait()
		// A connection attempt may dial more than once, at one instant (its
		// reader and its first PING each ask go-redis for the connection).
		mu.Lock()
		attempts := slices.CompactFunc(slices.Clone(dials), time.Time.Equal)
		mu.Unlock()
		if len(attempts) < 12 {
			t.Fatalf("%d connection attempts in a minute, want at least 12", len(attempts))
		}
		ceiling := 100 * time.Millisecond
		for i := 1; i < len(attempts); i++ {
			if gap := attempts[i].Sub(attempts[i-1]); gap < ceiling/2 || gap > ceiling {
				t.Errorf("wait before attempt %d = %v, want in [%v, %v]", i+1, gap, ceiling/2, ceiling)
			}
			ceiling = min(2*ceiling, 5*time.Second)
		}

		// Redis takes connections again: within the longest wait, one is made.
		mu.Lock()
		up = true
		mu.Unlock()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mu.Lock()
		up = false
		conn, n := last, len(dials)
		mu.Unlock()
		if conn == nil {
			t.Fatal("no connection within 5s of Redis taking them again")
		}
		// It breaks after Redis answered on it (the first PING's PONG): the
		// next attempt follows within the first wait, not the longest.
		// (go-redis's PubSub dials once more at once, by itself; the
		// Broker's next connection is the first attempt after that.)
		lost := time.Now()
		conn.Close()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		i := n
		for i < len(dials) && dials[i].Equal(lost) {
			i++
		}
		if i == len(dials) {
			t.Fatal("no connection attempt within 100ms of losing a connection Redis had answered on")
		}
		if gap := dials[i].Sub(lost); gap < 50*time.Millisecond || gap > 100*time.Millisecond {
			t.Errorf("wait before reconnecting = %v, want in [50ms, 100ms]", gap)
		}
	})
}

// TestIdleConnectionStays leaves a subscription idle for eight ping
// intervals: the PONGs keep the connection, so no ErrGap comes.
func TestIdleConnectionStays(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, rdb := queuetest.InBubble(t)
		b := broker.New(rdb, broker.Config{Logger: queuetest.Logger(t)})
		run(t, b)
		s := subscribe(t, b, "job:a")
		time.Sleep(8 * 15 * time.Second)
		publish(t, b, "job:a", "a", 1)
		if g, want := next(t, s), (got{"a", 1}); g != want {
			t.Fatalf("Next() after two idle minutes = %v, want %v", g, want)
		}
	})
}

// TestCloseWhileNextWaits: Close ends a Next that is waiting for a
// message with ErrClosed.
func TestCloseWhileNextWaits(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, rdb := queuetest.InBubble(t)
		b := broker.New(rdb, broker.Config{Logger: queuetest.Logger(t)})
		run(t, b)
		s := subscribe(t, b, "job:a")
		errs := make(chan error, 1)
		go func() {
			_, err := s.Next(context.Background())
			errs <- err
		}()
		synctest.Wait() // Next waits
		select {
		case err := <-errs:
			t.Fatalf("Next() = %v before Close, want it waiting", err)
		default:
		}
		s.Close()
		if err := <-errs; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Next() during Close = %v, want %v", err, broker.ErrClosed)
		}
	})
}
