// Package queuetest is the queue's conformance suite: one set of tests that
// every Redis the queue must work on passes — miniredis (the in-process
// server of the embedded default) always, and a real Redis when
// VIDGATE_TEST_REDIS_URL is set, as CI does.
//
// Each test gets a key prefix of its own, so tests run in parallel on one
// Redis, next to other packages' tests.
package queuetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// EnvRedisURL names the real Redis tests use (redis://host:port/db).
const EnvRedisURL = "VIDGATE_TEST_REDIS_URL"

// Redis is what one test gets: a client, a key prefix no other test uses,
// and a way to make Redis lose the test's data.
type Redis struct {
	Client redis.UniversalClient
	Prefix string
	// Lose drops every key of Prefix, as a FLUSHALL or a restart without
	// persistence would. On a real Redis it deletes the prefix's keys
	// rather than running FLUSHALL, which would wipe the data of every
	// other test (of this and other packages) sharing that Redis.
	Lose func(t testing.TB)
}

// Backend is a kind of Redis the suite runs against.
type Backend struct {
	Name string
	Open func(t testing.TB) Redis
}

// Backends returns miniredis, plus the real Redis when VIDGATE_TEST_REDIS_URL
// is set. Under CI (CI=true) a missing URL fails the test instead: CI must
// run both.
func Backends(t testing.TB) []Backend {
	b := []Backend{{Name: "miniredis", Open: Miniredis}}
	if os.Getenv(EnvRedisURL) != "" {
		b = append(b, Backend{Name: "redis", Open: Real})
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the Redis suites", EnvRedisURL)
	}
	return b
}

// Miniredis starts a miniredis for the test alone, closed when it ends.
func Miniredis(t testing.TB) Redis {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return Redis{Client: c, Prefix: "vgtest-" + randomHex(6), Lose: func(testing.TB) { m.FlushAll() }}
}

// Real connects to the Redis at VIDGATE_TEST_REDIS_URL; the test's keys are
// deleted when it ends.
func Real(t testing.TB) Redis {
	t.Helper()
	url := os.Getenv(EnvRedisURL)
	if url == "" {
		t.Fatalf("%s is not set", EnvRedisURL)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvRedisURL, err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", EnvRedisURL, err)
	}
	r := Redis{Client: c, Prefix: "vgtest-" + randomHex(6)}
	r.Lose = func(t testing.TB) {
		t.Helper()
		if err := deletePrefix(c, r.Prefix); err != nil {
			t.Fatalf("delete keys of %s: %v", r.Prefix, err)
		}
	}
	t.Cleanup(func() {
		if err := deletePrefix(c, r.Prefix); err != nil {
			t.Errorf("delete keys of %s: %v", r.Prefix, err)
		}
		c.Close()
	})
	return r
}

// deletePrefix deletes every key that starts with prefix (prefixes here are
// hex, free of glob characters).
func deletePrefix(c redis.UniversalClient, prefix string) error {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		if err := c.Del(ctx, iter.Val()).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Logger returns a logger that writes to the test's log (shown when it
// fails, or with -v). Nothing may log through it once the test is over:
// stop every Run in the test or its cleanups.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// InBubble starts a miniredis for a test inside a testing/synctest bubble
// (call it there), and a client of it. Connections are in memory
// (Miniredis.Dial), where blocking is durable, as on a real socket it is
// not; and miniredis reads the bubble's clock (stream ids, idle times,
// TTLs). Both are closed when the test ends. opts, if any, adjust the
// client's options.
func InBubble(t testing.TB, opts ...func(*redis.Options)) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	m := miniredis.NewMiniRedis()
	o := redis.Options{
		// Never dialed; an IP address, so that nothing resolves it in the
		// bubble (the resolver's state outlives it).
		Addr:   "127.0.0.1:6379",
		Dialer: func(context.Context, string, string) (net.Conn, error) { return m.Dial() },
		// Its endpoint detection resolves the address too.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	for _, f := range opts {
		f(&o)
	}
	c := redis.NewClient(&o)
	t.Cleanup(func() {
		c.Close()
		m.Close()
	})
	return m, c
}
