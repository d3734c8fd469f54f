package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs/jobstest"
)

// redisServer is a redis-server process of the test's own, configured as
// vidgate's Redis runs in production here (nothing kept on disk), so that
// the test can kill and restart it without disturbing other tests.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &redisServer{t: t, port: port}
	s.start()
	t.Cleanup(func() { s.kill() })
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.t.TempDir())
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer rdb.Close()
	for end := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			s.t.Fatal("redis-server did not start")
		}
	}
}

// kill stops the server with SIGKILL: it loses everything it held.
func (s *redisServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Redis dies (SIGKILL, nothing persisted) and comes back empty two seconds
// later, with 200 jobs being created and in flight: creates made while it is
// down still succeed (the job and its submit task are in the database; the
// outbox relay queues the task), the workers and the broker reconnect by
// themselves, and every job completes with one provider request. The reconciler runs with its
// production defaults: its generation marker, not its stale thresholds,
// recovers the lost tasks.
func TestRedisRestartedMidRun(t *testing.T) {
	srv := startRedisServer(t)
	b := backend{name: "restarted-redis", db: func(t *testing.T) *bun.DB { return jobstest.SQLite(t) }, redis: func(t *testing.T) redis.UniversalClient {
		rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}}
	if pgBackendAvailable() {
		b.name, b.db = "postgres+restarted-redis", func(t *testing.T) *bun.DB { return jobstest.Postgres(t) }
	}
	d := deploy(t, b, options{reconcile: true, reconcileDefaults: true, simLatency: 300 * time.Millisecond})
	const n = 200
	ids := make([]string, n)
	var restarted time.Time
	for i := range ids {
		switch i {
		case 60:
			srv.kill()
		case 100:
			time.Sleep(time.Second) // down for a while, not only for a few creates
		case 120:
			srv.start()
			restarted = time.Now()
		}
		ids[i] = d.create(t, fmt.Sprintf("job %d", i))
	}
	d.waitAllCompleted(t, ids, 90*time.Second)
	var last time.Time
	for _, id := range ids {
		if j, err := d.store.JobByPublicID(context.Background(), id); err == nil && j.CompletedAt != nil && j.CompletedAt.After(last) {
			last = *j.CompletedAt
		}
	}
	t.Logf("recovery: the last of %d jobs completed %s after Redis came back empty", n, last.Sub(restarted).Round(100*time.Millisecond))
	for _, id := range ids {
		r := d.job(t, id)
		counts := map[string]int{}
		for _, ty := range eventTypes(r) {
			counts[ty]++
		}
		if counts["completed"] != 1 || counts["provider_request_created"] != 1 {
			t.Errorf("job %s events %v: want one provider request and one completion", id, eventTypes(r))
		}
		checkOneWay(t, id, r)
	}
}

// pgBackendAvailable reports whether the PostgreSQL test URL is set.
func pgBackendAvailable() bool { return os.Getenv(jobstest.EnvDatabaseURL) != "" }

// go-redis logs each failed dial on its own; the restart test makes many.
func init() { redis.SetLogger(quietRedis{}) }

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
