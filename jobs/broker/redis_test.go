package broker_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

// wait bounds every wait for something that should happen at once; it only
// matters when a test fails.
const wait = 10 * time.Second

// testRedis is one test's Redis: a channel prefix no other test uses, a
// way to connect to it like a new process would, and a way to drop every
// pub/sub connection of the test's processes.
type testRedis struct {
	// Prefix is the test's own channel prefix (Config.Prefix).
	Prefix string
	// Addr is the server's host:port.
	Addr string
	// Admin is a client for the test itself (PUBLISH of raw bytes, PUBSUB).
	Admin redis.UniversalClient
	// NewClient connects like a new process: a client, and so a pub/sub
	// connection, of its own. Closed when the test ends. opts, if any, adjust
	// its options.
	NewClient func(t testing.TB, opts ...func(*redis.Options)) redis.UniversalClient
	// Drop makes Redis drop every pub/sub connection of the test's clients,
	// as a restart or a network failure would, and returns once Redis takes
	// connections again.
	Drop func(t testing.TB)
}

type backend struct {
	name string
	open func(t testing.TB) testRedis
}

// backends returns miniredis, plus the real Redis when
// VIDGATE_TEST_REDIS_URL is set; under CI a missing URL fails the test.
func backends(t testing.TB) []backend {
	b := []backend{{name: "miniredis", open: openMiniredis}}
	if os.Getenv(queuetest.EnvRedisURL) != "" {
		b = append(b, backend{name: "redis", open: openRedis})
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the Redis suites", queuetest.EnvRedisURL)
	}
	return b
}

func openMiniredis(t testing.TB) testRedis {
	t.Helper()
	m := miniredis.RunT(t)
	newClient := func(t testing.TB, opts ...func(*redis.Options)) redis.UniversalClient {
		o := redis.Options{Addr: m.Addr()}
		for _, f := range opts {
			f(&o)
		}
		c := redis.NewClient(&o)
		t.Cleanup(func() { c.Close() })
		return c
	}
	return testRedis{
		Prefix:    "vgtest-" + randomHex(6),
		Addr:      m.Addr(),
		Admin:     newClient(t),
		NewClient: newClient,
		Drop: func(t testing.TB) {
			t.Helper()
			m.Close() // closes every client connection
			// miniredis v2.40's Close cancels m.Ctx and Restart does not renew
			// it (see jobs/queue's TestRunSurvivesRedisRestart).
			m.Ctx, m.CtxCancel = context.WithCancel(context.Background())
			if err := m.Restart(); err != nil {
				t.Fatalf("restart miniredis: %v", err)
			}
		},
	}
}

// openRedis connects to the real Redis. Its clients carry the test's prefix
// as their name, so Drop kills their pub/sub connections alone: CLIENT KILL
// TYPE pubsub would also cut those of every other test running on this
// Redis, in this package and others.
func openRedis(t testing.TB) testRedis {
	t.Helper()
	opt, err := redis.ParseURL(os.Getenv(queuetest.EnvRedisURL))
	if err != nil {
		t.Fatalf("parse %s: %v", queuetest.EnvRedisURL, err)
	}
	prefix := "vgtest-" + randomHex(6)
	newClient := func(t testing.TB, opts ...func(*redis.Options)) redis.UniversalClient {
		o := *opt
		o.ClientName = prefix
		for _, f := range opts {
			f(&o)
		}
		c := redis.NewClient(&o)
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin := newClient(t)
	if err := admin.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", queuetest.EnvRedisURL, err)
	}
	return testRedis{
		Prefix:    prefix,
		Addr:      opt.Addr,
		Admin:     admin,
		NewClient: newClient,
		Drop: func(t testing.TB) {
			t.Helper()
			ctx := context.Background()
			list, err := admin.ClientList(ctx).Result() // CLIENT LIST TYPE pubsub needs no filter of ours
			if err != nil {
				t.Fatalf("CLIENT LIST: %v", err)
			}
			killed := 0
			sc := bufio.NewScanner(strings.NewReader(list))
			for sc.Scan() {
				f := clientFields(sc.Text())
				if f["name"] != prefix || (f["sub"] == "0" && f["psub"] == "0") {
					continue
				}
				id, err := strconv.ParseInt(f["id"], 10, 64)
				if err != nil {
					t.Fatalf("CLIENT LIST id %q: %v", f["id"], err)
				}
				if err := admin.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
					t.Fatalf("CLIENT KILL ID %d: %v", id, err)
				}
				killed++
			}
			if killed == 0 {
				t.Fatalf("Drop: no pub/sub connection named %s", prefix)
			}
		},
	}
}

// clientFields splits a CLIENT LIST line ("id=7 addr=… name=x sub=1 …").
func clientFields(line string) map[string]string {
	f := make(map[string]string)
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newBroker starts a Broker on its own client (a process of its own) and
// stops it when the test ends.
func newBroker(t testing.TB, r testRedis, buffer int) *broker.Broker {
	t.Helper()
	b := broker.New(r.NewClient(t), broker.Config{Prefix: r.Prefix, Buffer: buffer, Logger: queuetest.Logger(t)})
	b.SetTiming(time.Second, 10*time.Millisecond, 200*time.Millisecond)
	run(t, b)
	return b
}

// run runs b until the test ends; Run must then return nil.
func run(t testing.TB, b *broker.Broker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func subscribe(t testing.TB, b *broker.Broker, channel string) *broker.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := b.Subscribe(ctx, channel)
	if err != nil {
		t.Fatalf("Subscribe(%q) error: %v", channel, err)
	}
	t.Cleanup(s.Close)
	return s
}

// payload is what the tests publish for key at version: the payload names
// both, so a test sees that the payload travels with its version.
func payload(key string, version int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"version":%d}`, key, version))
}

func publish(t testing.TB, b *broker.Broker, channel, key string, version int64) {
	t.Helper()
	m := broker.Message{Key: key, Version: version, Payload: payload(key, version)}
	if err := b.Publish(context.Background(), channel, m); err != nil {
		t.Fatalf("Publish(%q, %s v%d) error: %v", channel, key, version, err)
	}
}

// got is a received message, short enough to compare and print.
type got struct {
	Key     string
	Version int64
}

func (g got) String() string { return fmt.Sprintf("%s@v%d", g.Key, g.Version) }

// next returns s's next message, failing the test on an error, a wrong
// payload, or after wait.
func next(t testing.TB, s *broker.Subscription) got {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next() error: %v", err)
	}
	if want := payload(m.Key, m.Version); string(m.Payload) != string(want) {
		t.Fatalf("Next() payload = %s, want %s", m.Payload, want)
	}
	return got{m.Key, m.Version}
}

// nextErr returns the error of s's next Next, failing the test if it
// returns a message instead.
func nextErr(t testing.TB, s *broker.Subscription) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := s.Next(ctx)
	if err == nil {
		t.Fatalf("Next() = %s@v%d, want an error", m.Key, m.Version)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() returned nothing within %v", wait)
	}
	return err
}

// numSub is PUBSUB NUMSUB of the Redis channel of channel.
func numSub(t testing.TB, r testRedis, channel string) int64 {
	t.Helper()
	name := r.Prefix + ":" + channel
	n, err := r.Admin.PubSubNumSub(context.Background(), name).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB %s: %v", name, err)
	}
	return n[name]
}

// channels is PUBSUB CHANNELS of the test's prefix.
func channels(t testing.TB, r testRedis) []string {
	t.Helper()
	c, err := r.Admin.PubSubChannels(context.Background(), r.Prefix+":*").Result()
	if err != nil {
		t.Fatalf("PUBSUB CHANNELS %s:*: %v", r.Prefix, err)
	}
	return c
}

// waitTopics waits until b holds state for at most n channels: the last
// subscription of every other channel has closed and Redis has confirmed
// its UNSUBSCRIBE.
func waitTopics(t testing.TB, b *broker.Broker, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.WaitTopics(ctx, n); err != nil {
		t.Fatalf("Broker still holds more than %d channels (%d) after %v", n, b.Topics(), wait)
	}
}

// eventually polls cond until it holds, failing the test after wait. It is
// only for what nothing signals: Redis dropping a closed connection's
// subscriptions, and other libraries' goroutines ending.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after %v", what, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
