package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

// ownedGoroutines counts the goroutines running Broker code: Run and its
// reader while Run runs, none after.
func ownedGoroutines() int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	n := 0
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "jobs/broker.(*Broker).") {
			n++
		}
	}
	return n
}

// TestNoLeaks runs 1,000 subscribe/close cycles of every kind — read,
// never read, abandoned with messages pending, closed under a waiting Next,
// canceled while subscribing — and checks that goroutines, the Broker's
// state and Redis's subscriptions (PUBSUB CHANNELS, NUMSUB) are back to
// their baseline, then that stopping Run leaves no goroutine behind.
//
// It does not call t.Parallel: it counts every goroutine of the test
// binary, so it runs while the parallel tests wait.
func TestNoLeaks(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			const workers, channelCount = 8, 37
			r := be.open(t)
			before := runtime.NumGoroutine()
			// The pool holds one connection per worker from the start, so
			// that the workload adds none (on miniredis each connection has
			// server goroutines, in this process).
			client := r.NewClient(t, func(o *redis.Options) { o.PoolSize, o.MinIdleConns = workers, workers })
			b := broker.New(client, broker.Config{Prefix: r.Prefix, Logger: queuetest.Logger(t)})
			stop := run(t, b)

			cycles := func(n int) {
				t.Helper()
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for w := range workers {
					wg.Go(func() {
						for i := w; i < n; i += workers {
							if err := cycle(b, fmt.Sprintf("job:%d", i%channelCount), i); err != nil {
								errs <- fmt.Errorf("cycle %d: %w", i, err)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
			}
			settled := func(when string) {
				t.Helper()
				waitTopics(t, b, 0)
				if c := channels(t, r); len(c) != 0 {
					t.Errorf("%s: PUBSUB CHANNELS %s:* = %v, want none", when, r.Prefix, c)
				}
				for i := range channelCount {
					if n := numSub(t, r, fmt.Sprintf("job:%d", i)); n != 0 {
						t.Errorf("%s: PUBSUB NUMSUB job:%d = %d, want 0", when, i, n)
					}
				}
			}

			// A first round opens the connections the workload needs (the
			// client's pool; on miniredis, a server goroutine for each).
			cycles(200)
			settled("after the warm-up")
			base := runtime.NumGoroutine()
			if got, want := ownedGoroutines(), 2; got != want {
				t.Errorf("goroutines of a running Broker = %d, want %d (Run and its reader)", got, want)
			}

			cycles(1000)
			settled("after 1,000 cycles")
			// Goroutines of go-redis and miniredis end on their own time,
			// which nothing signals.
			eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
			if n := runtime.NumGoroutine(); n > base {
				var buf bytes.Buffer
				pprof.Lookup("goroutine").WriteTo(&buf, 1)
				t.Fatalf("goroutines = %d, want <= %d:\n%s", n, base, buf.String())
			}
			if got, want := ownedGoroutines(), 2; got != want {
				t.Errorf("goroutines of a running Broker after 1,000 cycles = %d, want %d", got, want)
			}

			stop()
			client.Close()
			if n := ownedGoroutines(); n != 0 {
				t.Errorf("Broker goroutines after Run returned = %d, want 0", n)
			}
			eventually(t, fmt.Sprintf("goroutines back to %d after Run returned", before), func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}

// cycle subscribes to channel and leaves in one of several ways, chosen by i.
func cycle(b *broker.Broker, channel string, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if i%5 == 4 {
		// Canceled while subscribing, at whatever point it has reached.
		sctx, scancel := context.WithCancel(ctx)
		go scancel()
		s, err := b.Subscribe(sctx, channel)
		if err == nil {
			s.Close()
		}
		return nil
	}
	s, err := b.Subscribe(ctx, channel)
	if err != nil {
		return err
	}
	defer s.Close()
	publish := func(v int64) error {
		return b.Publish(ctx, channel, broker.Message{Key: fmt.Sprint(i), Version: v, Payload: []byte(`{}`)})
	}
	switch i % 5 {
	case 0: // read
		if err := publish(1); err != nil {
			return err
		}
		if _, err := s.Next(ctx); err != nil {
			return fmt.Errorf("Next() error: %w", err)
		}
	case 1: // never read
	case 2: // abandoned with messages pending
		for v := range int64(3) {
			if err := publish(v + 1); err != nil {
				return err
			}
		}
	case 3: // closed while Next runs (a client that went away mid-read;
		// TestCloseWhileNextWaits makes sure Next is waiting)
		done := make(chan error, 1)
		go func() {
			_, err := s.Next(context.Background())
			for err == nil { // messages of other cycles on the channel
				_, err = s.Next(context.Background())
			}
			done <- err
		}()
		s.Close()
		if err := <-done; !errors.Is(err, broker.ErrClosed) {
			return fmt.Errorf("Next() during Close = %v, want %v", err, broker.ErrClosed)
		}
	}
	return nil
}

// BenchmarkSubscriptionMemory reports the heap each idle subscription
// holds (B/sub), with b.N subscriptions alive at once:
//
//   - shared: all on one channel: the Subscription and its slot;
//   - shared, one message read: the same after each returned one message
//     (a key and version remembered);
//   - own channel: one channel each, so also the channel's state here and
//     in go-redis (and, on miniredis, the server's, which is in this heap).
//
// go test -run '^$' -bench SubscriptionMemory -benchtime 10000x ./jobs/broker/
func BenchmarkSubscriptionMemory(b *testing.B) {
	tests := []struct {
		name     string
		own, got bool
	}{
		{name: "shared"},
		{name: "shared, one message read", got: true},
		{name: "own channel", own: true},
	}
	for _, be := range backends(b) {
		for _, tt := range tests {
			b.Run(be.name+"/"+tt.name, func(b *testing.B) {
				r := be.open(b)
				br := broker.New(r.NewClient(b), broker.Config{Prefix: r.Prefix, Logger: queuetest.Logger(b)})
				run(b, br)
				ctx := context.Background()
				channel := func(i int) string {
					if tt.own {
						return fmt.Sprintf("job:%d", i)
					}
					return "job:shared"
				}
				subs := make([]*broker.Subscription, 0, b.N)
				warm := subscribe(b, br, channel(-1)) // connected; shared channel subscribed
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.ResetTimer()
				for i := range b.N {
					s, err := br.Subscribe(ctx, channel(i))
					if err != nil {
						b.Fatalf("Subscribe() error: %v", err)
					}
					subs = append(subs, s)
				}
				if tt.got {
					publish(b, br, channel(0), "job-public-id", 1)
					for _, s := range subs {
						next(b, s)
					}
					next(b, warm)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "B/sub")
				for _, s := range subs {
					s.Close()
				}
			})
		}
	}
}
