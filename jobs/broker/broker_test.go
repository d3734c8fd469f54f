package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

func TestPublishReachesEverySubscriberOfItsChannel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		subs map[string]int // local subscriptions per channel
	}{
		{name: "one subscriber", subs: map[string]int{"job:a": 1}},
		{name: "three subscribers of one channel", subs: map[string]int{"job:a": 3}},
		{name: "several channels", subs: map[string]int{"job:a": 2, "owner:u": 2, "review": 1}},
	}
	for _, be := range backends(t) {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := be.open(t)
				b := newBroker(t, r, 0)
				subs := make(map[string][]*broker.Subscription)
				for ch, n := range tt.subs {
					for range n {
						subs[ch] = append(subs[ch], subscribe(t, b, ch))
					}
				}
				// One message per channel, in turn: each subscriber's next
				// message is its own channel's, never another's.
				for ch := range tt.subs {
					publish(t, b, ch, ch, 1)
					for _, s := range subs[ch] {
						if g, want := next(t, s), (got{ch, 1}); g != want {
							t.Errorf("Next() on %s = %v, want %v", ch, g, want)
						}
					}
				}
			})
		}
	}
}

// TestTwoProcesses publishes through one Broker and receives through
// another, each with a connection of its own, as two API processes do.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			p1, p2 := newBroker(t, r, 0), newBroker(t, r, 0)
			s1, s2 := subscribe(t, p1, "job:a"), subscribe(t, p2, "job:a")
			if got, want := numSub(t, r, "job:a"), int64(2); got != want {
				t.Errorf("PUBSUB NUMSUB = %d, want %d (one per process)", got, want)
			}
			publish(t, p2, "job:a", "a", 1)
			for i, s := range []*broker.Subscription{s1, s2} {
				if g, want := next(t, s), (got{"a", 1}); g != want {
					t.Errorf("process %d: Next() = %v, want %v", i+1, g, want)
				}
			}
		})
	}
}

func TestSubscribeIsReferenceCounted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		subs int
	}{
		{name: "one subscriber", subs: 1},
		{name: "two subscribers", subs: 2},
		{name: "fifty subscribers", subs: 50},
	}
	for _, be := range backends(t) {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := be.open(t)
				b := newBroker(t, r, 0)
				var subs []*broker.Subscription
				for range tt.subs {
					subs = append(subs, subscribe(t, b, "job:a"))
				}
				if got, want := numSub(t, r, "job:a"), int64(1); got != want {
					t.Fatalf("PUBSUB NUMSUB with %d local subscribers = %d, want %d", tt.subs, got, want)
				}
				for _, s := range subs[1:] {
					s.Close()
				}
				// The remaining subscriber still receives, through the one
				// Redis subscription.
				publish(t, b, "job:a", "a", 1)
				if g, want := next(t, subs[0]), (got{"a", 1}); g != want {
					t.Errorf("Next() after closing the others = %v, want %v", g, want)
				}
				if got, want := numSub(t, r, "job:a"), int64(1); got != want {
					t.Errorf("PUBSUB NUMSUB with 1 local subscriber left = %d, want %d", got, want)
				}
				subs[0].Close()
				waitTopics(t, b, 0)
				if got := numSub(t, r, "job:a"); got != 0 {
					t.Errorf("PUBSUB NUMSUB after the last Close = %d, want 0", got)
				}
			})
		}
	}
}

// TestStuckSubscriberDoesNotDelayOthers sends 1,000 messages to a channel
// with two subscribers: one that reads and one that never calls Next. The
// reader gets each message as soon as it is published (the test logs how
// soon); the stuck one holds one pending message per key, the newest, or has
// been ended with ErrSlowConsumer if that would take more than
// Config.Buffer keys.
func TestStuckSubscriberDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	const messages, buffer = 1000, 64
	tests := []struct {
		name    string
		keys    int
		wantErr error
	}{
		{name: "fewer keys than the buffer are coalesced", keys: 10},
		{name: "as many keys as the buffer are coalesced", keys: buffer},
		{name: "more keys than the buffer end it", keys: buffer + 1, wantErr: broker.ErrSlowConsumer},
	}
	for _, be := range backends(t) {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := be.open(t)
				b := newBroker(t, r, buffer)
				stuck, live := subscribe(t, b, "owner:u"), subscribe(t, b, "owner:u")
				key := func(i int) string { return fmt.Sprintf("job%03d", i) }
				last := make(map[string]int64) // last version published per key
				for i := range messages {
					last[key(i%tt.keys)] = int64(i/tt.keys + 1)
				}

				// The live subscriber reads each message before the next is
				// published: it must get every one, whatever stuck holds.
				var total, slowest time.Duration
				for i := range messages {
					want := got{key(i % tt.keys), int64(i/tt.keys + 1)}
					sent := time.Now()
					publish(t, b, "owner:u", want.Key, want.Version)
					if g := next(t, live); g != want {
						t.Fatalf("live subscriber: Next() = %v, want %v", g, want)
					}
					d := time.Since(sent)
					total, slowest = total+d, max(slowest, d)
				}
				t.Logf("live subscriber: %d messages, each read %v on average (slowest %v) after its PUBLISH was sent, next to a subscriber that read none",
					messages, total/messages, slowest)

				if tt.wantErr != nil {
					for range 2 { // for good
						if err := nextErr(t, stuck); !errors.Is(err, tt.wantErr) {
							t.Fatalf("stuck Next() = %v, want %v", err, tt.wantErr)
						}
					}
					return
				}
				// Every message has reached stuck too: it was handed to both in
				// one pass. It holds each key once, newest version, in the
				// order keys first arrived, and nothing else: the next message
				// is a sentinel published once those are read.
				var want, gotAll []got
				for i := range tt.keys {
					want = append(want, got{key(i), last[key(i)]})
				}
				for range want {
					gotAll = append(gotAll, next(t, stuck))
				}
				if !slices.Equal(gotAll, want) {
					t.Errorf("stuck subscriber's messages = %v, want %v", gotAll, want)
				}
				sentinel := got{key(0), last[key(0)] + 1} // a new key could be one too many
				publish(t, b, "owner:u", sentinel.Key, sentinel.Version)
				if g := next(t, stuck); g != sentinel {
					t.Errorf("stuck subscriber's next message = %v, want the sentinel %v", g, sentinel)
				}
			})
		}
	}
}

// TestVersionsNeverGoBack publishes steps of messages; after each step it
// makes sure all of them have reached the subscription (a probe subscriber
// of the same channel receives a sentinel published last), applies Seen,
// then reads what the subscription holds.
func TestVersionsNeverGoBack(t *testing.T) {
	t.Parallel()
	type step struct {
		publish []got
		seen    []got // Seen, once publish has arrived
		want    []got // read afterwards, before the step's sentinel
	}
	tests := []struct {
		name  string
		seen  []got // Seen before anything is published
		steps []step
	}{
		{
			name: "older and repeated versions are dropped",
			steps: []step{
				{publish: []got{{"a", 1}}, want: []got{{"a", 1}}},
				{publish: []got{{"a", 3}, {"a", 2}, {"a", 3}, {"b", 1}}, want: []got{{"a", 3}, {"b", 1}}},
				{publish: []got{{"a", 3}, {"a", 1}, {"b", 1}}, want: nil},
			},
		},
		{
			name:  "newest pending version wins",
			steps: []step{{publish: []got{{"a", 1}, {"a", 2}, {"a", 3}}, want: []got{{"a", 3}}}},
		},
		{
			name: "keys keep the order they first arrived in",
			steps: []step{{
				publish: []got{{"b", 1}, {"a", 1}, {"b", 2}, {"c", 1}},
				want:    []got{{"b", 2}, {"a", 1}, {"c", 1}},
			}},
		},
		{
			name:  "Seen first drops what the client has",
			seen:  []got{{"a", 5}},
			steps: []step{{publish: []got{{"a", 3}, {"a", 5}, {"b", 1}, {"a", 6}}, want: []got{{"b", 1}, {"a", 6}}}},
		},
		{
			name: "Seen drops pending messages",
			steps: []step{{
				publish: []got{{"a", 2}, {"b", 1}, {"a", 3}, {"c", 1}},
				seen:    []got{{"a", 3}, {"c", 2}},
				want:    []got{{"b", 1}},
			}},
		},
		{
			name: "Seen of an older version changes nothing",
			seen: []got{{"a", 4}},
			steps: []step{{
				publish: []got{{"a", 5}},
				seen:    []got{{"a", 2}},
				want:    []got{{"a", 5}},
			}},
		},
	}
	for _, be := range backends(t) {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := be.open(t)
				b := newBroker(t, r, 0)
				s, probe := subscribe(t, b, "job:x"), subscribe(t, b, "job:x")
				for _, g := range tt.seen {
					s.Seen(g.Key, g.Version)
				}
				for i, st := range tt.steps {
					sentinel := got{"sentinel", int64(i + 1)}
					for _, g := range append(slices.Clone(st.publish), sentinel) {
						publish(t, b, "job:x", g.Key, g.Version)
					}
					for next(t, probe) != sentinel {
					}
					for _, g := range st.seen {
						s.Seen(g.Key, g.Version)
					}
					want := append(slices.Clone(st.want), sentinel)
					var gotAll []got
					for range want {
						gotAll = append(gotAll, next(t, s))
					}
					if !slices.Equal(gotAll, want) {
						t.Errorf("step %d: Next() = %v, want %v", i+1, gotAll, want)
					}
				}
			})
		}
	}
}

// TestReconnect drops the broker's connection (miniredis: a restart;
// Redis: CLIENT KILL of that connection): every live subscription gets
// ErrGap once, when its channel is subscribed again, then what is published
// from then on; a subscription made afterwards gets no ErrGap.
func TestReconnect(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			b := newBroker(t, r, 0)
			live := map[string][]*broker.Subscription{
				"job:a":   {subscribe(t, b, "job:a"), subscribe(t, b, "job:a")},
				"owner:u": {subscribe(t, b, "owner:u")},
			}
			version := int64(1)
			check := func(when string) {
				t.Helper()
				for ch, subs := range live {
					publish(t, b, ch, ch, version)
					for _, s := range subs {
						if g, want := next(t, s), (got{ch, version}); g != want {
							t.Fatalf("%s: Next() on %s = %v, want %v", when, ch, g, want)
						}
					}
				}
				version++
			}
			check("before the drop")

			for drop := 1; drop <= 2; drop++ {
				r.Drop(t)
				for ch, subs := range live {
					for _, s := range subs {
						if err := nextErr(t, s); !errors.Is(err, broker.ErrGap) {
							t.Fatalf("drop %d: Next() on %s = %v, want %v", drop, ch, err, broker.ErrGap)
						}
					}
				}
				// ErrGap comes once the channels are subscribed again: what
				// is published from then on arrives, and with no second ErrGap.
				check(fmt.Sprintf("right after ErrGap of drop %d", drop))
				// Joined after the connection came back: nothing missed.
				live["review"] = append(live["review"], subscribe(t, b, "review"))
				check(fmt.Sprintf("after drop %d", drop))
				for ch := range live {
					if got, want := numSub(t, r, ch), int64(1); got != want {
						t.Errorf("drop %d: PUBSUB NUMSUB %s = %d, want %d", drop, ch, got, want)
					}
				}
			}
		})
	}
}

// TestSubscribeWaitsForRedis subscribes while Redis is away: Subscribe
// waits, and returns once the channel is subscribed, with nothing missed.
func TestSubscribeWaitsForRedis(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			b := broker.New(r.NewClient(t), broker.Config{Prefix: r.Prefix, Logger: queuetest.Logger(t)})
			b.SetTiming(time.Second, 10*time.Millisecond, 200*time.Millisecond)

			// Run has not started: a Subscribe whose ctx ends leaves nothing.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := b.Subscribe(ctx, "job:a"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Subscribe() before Run = %v, want %v", err, context.DeadlineExceeded)
			}
			if got := b.Topics(); got != 0 {
				t.Errorf("Topics() after a canceled Subscribe = %d, want 0", got)
			}

			type result struct {
				s   *broker.Subscription
				err error
			}
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				s, err := b.Subscribe(ctx, "job:b")
				done <- result{s, err}
			}()
			run(t, b)
			res := <-done
			if res.err != nil {
				t.Fatalf("Subscribe() before Run started = %v", res.err)
			}
			defer res.s.Close()
			publish(t, b, "job:b", "b", 1)
			if g, want := next(t, res.s), (got{"b", 1}); g != want {
				t.Errorf("Next() = %v, want %v", g, want)
			}
			waitTopics(t, b, 1) // job:b's
			if got := numSub(t, r, "job:a"); got != 0 {
				t.Errorf("PUBSUB NUMSUB of the canceled channel = %d, want 0", got)
			}
		})
	}
}

func TestCloseAndCancel(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			b := newBroker(t, r, 0)
			s := subscribe(t, b, "job:a")

			// ctx ending returns its error and leaves the subscription usable.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next(canceled ctx) = %v, want %v", err, context.Canceled)
			}
			publish(t, b, "job:a", "a", 1)
			if g, want := next(t, s), (got{"a", 1}); g != want {
				t.Fatalf("Next() after a canceled Next = %v, want %v", g, want)
			}

			// Close while several Nexts wait, and from several goroutines.
			const waiting = 3
			errs := make(chan error, waiting)
			for range waiting {
				go func() {
					_, err := s.Next(context.Background())
					errs <- err
				}()
			}
			var closers sync.WaitGroup
			for range 3 {
				closers.Go(s.Close)
			}
			closers.Wait()
			for range waiting {
				if err := <-errs; !errors.Is(err, broker.ErrClosed) {
					t.Errorf("Next() during Close = %v, want %v", err, broker.ErrClosed)
				}
			}
			s.Close()
			s.Seen("a", 2)
			if _, err := s.Next(context.Background()); !errors.Is(err, broker.ErrClosed) {
				t.Errorf("Next() after Close = %v, want %v", err, broker.ErrClosed)
			}
			waitTopics(t, b, 0)
			if got := numSub(t, r, "job:a"); got != 0 {
				t.Errorf("PUBSUB NUMSUB after Close = %d, want 0", got)
			}
		})
	}
}

// TestStop stops Run: subscriptions end with ErrClosed and the Broker takes
// no new ones; publishing needs no Run.
func TestStop(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			b := broker.New(r.NewClient(t), broker.Config{Prefix: r.Prefix, Logger: queuetest.Logger(t)})
			stop := run(t, b)
			s := subscribe(t, b, "job:a")
			stop()
			if err := nextErr(t, s); !errors.Is(err, broker.ErrClosed) {
				t.Errorf("Next() after Run returned = %v, want %v", err, broker.ErrClosed)
			}
			if _, err := b.Subscribe(context.Background(), "job:a"); !errors.Is(err, broker.ErrClosed) {
				t.Errorf("Subscribe() after Run returned = %v, want %v", err, broker.ErrClosed)
			}
			if err := b.Run(context.Background()); !errors.Is(err, broker.ErrClosed) {
				t.Errorf("Run() again = %v, want %v", err, broker.ErrClosed)
			}
			// Run closed its connection; Redis drops its subscriptions
			// when it notices, which it tells nobody.
			eventually(t, "PUBSUB NUMSUB = 0 after Run returned", func() bool { return numSub(t, r, "job:a") == 0 })
			publish(t, b, "job:a", "a", 1)
		})
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	r := openMiniredis(t)
	b := newBroker(t, r, 0)
	subscribe(t, b, "job:a") // Run is running once this returns
	if err := b.Run(context.Background()); !errors.Is(err, broker.ErrRunning) {
		t.Errorf("second Run() = %v, want %v", err, broker.ErrRunning)
	}
}

// TestUnreadableMessageIsDropped publishes what is not an envelope on a
// subscribed channel: it is logged and dropped, and the next message
// arrives.
func TestUnreadableMessageIsDropped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
	}{
		{name: "not JSON", raw: "hello"},
		{name: "no key", raw: `{"v":1,"p":{}}`},
		{name: "bad version", raw: `{"k":"a","v":"one","p":{}}`},
	}
	for _, be := range backends(t) {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := be.open(t)
				b := newBroker(t, r, 0)
				s := subscribe(t, b, "job:a")
				if err := r.Admin.Publish(context.Background(), r.Prefix+":job:a", tt.raw).Err(); err != nil {
					t.Fatalf("PUBLISH: %v", err)
				}
				publish(t, b, "job:a", "a", 1)
				if g, want := next(t, s), (got{"a", 1}); g != want {
					t.Errorf("Next() after %q = %v, want %v", tt.raw, g, want)
				}
			})
		}
	}
}

func TestPublishRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		channel string
		m       broker.Message
	}{
		{name: "empty channel", channel: "", m: broker.Message{Key: "a", Version: 1, Payload: []byte(`{}`)}},
		{name: "payload not JSON", channel: "job:a", m: broker.Message{Key: "a", Version: 1, Payload: []byte(`{`)}},
	}
	r := openMiniredis(t)
	b := broker.New(r.NewClient(t), broker.Config{Prefix: r.Prefix})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.Publish(context.Background(), tt.channel, tt.m); err == nil {
				t.Errorf("Publish(%q, %+v) = nil, want an error", tt.channel, tt.m)
			}
		})
	}
}
