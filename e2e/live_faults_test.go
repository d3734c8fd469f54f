package e2e

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

// A client that stops reading does not hold up another client, and what the
// server keeps for it stays bounded: its updates are coalesced per job and,
// past the buffer, its subscription is ended so it can resynchronise.
func TestSlowSubscriberDoesNotDelayOthers(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { testSlowSubscriber(t, b) })
	}
}

func testSlowSubscriber(t *testing.T, b backend) {
	d := deploy(t, b, options{})
	stuck := dial(t, d.url, d.tokens["alice"])
	stuck.ack()
	stuck.subscribe(`subscription { myJobs { `+updateFields+` } }`, nil)
	live := dial(t, d.url, d.tokens["alice"])
	live.ack()
	sub := live.subscribe(`subscription { myJobs { `+updateFields+` } }`, nil)
	time.Sleep(200 * time.Millisecond)

	pub := broker.New(d.rdb, broker.Config{Prefix: d.prefix})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const keys, rounds = 200, 10
	var worst time.Duration
	for v := 1; v <= rounds; v++ {
		for k := range keys {
			j := &jobs.Job{PublicID: fmt.Sprintf("00000000-0000-4000-8000-%012d", k), Status: jobs.StatusProcessing,
				Version: int64(v), Progress: v * 9, UpdatedAt: time.Now()}
			m := broker.Message{Key: j.PublicID, Version: j.Version, Payload: jobs.NewLiveUpdate(j, nil).Marshal()}
			sent := time.Now()
			if err := pub.Publish(context.Background(), jobs.OwnerChannel("alice"), m); err != nil {
				t.Fatal(err)
			}
			got, _, _ := live.receive(sub, "myJobs", 5*time.Second, func([]update) bool { return true })
			if len(got) != 1 || got[0].ID != j.PublicID || got[0].Version != v {
				t.Fatalf("live client got %+v, want %s v%d", got, j.PublicID, v)
			}
			worst = max(worst, time.Since(sent))
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d updates: slowest delivery to the live client %v; heap %d → %d KiB", keys*rounds, worst, before.HeapInuse>>10, after.HeapInuse>>10)
	if worst > 2*time.Second {
		t.Errorf("slowest delivery %v with a stuck client beside it, want well under 2s", worst)
	}
	if growth := int64(after.HeapInuse) - int64(before.HeapInuse); growth > 16<<20 {
		t.Errorf("heap grew %d KiB with a stuck client, want bounded", growth>>10)
	}
}

// Subscriptions that end, and connections that drop without a word, leave
// no goroutine and no Redis channel subscription behind.
// Not parallel: it counts the process's goroutines.
func TestSubscriptionsReleaseEverything(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { testReleaseEverything(t, b) })
	}
}

func testReleaseEverything(t *testing.T, b backend) {
	d := deploy(t, b, options{})
	id := d.create(t, "baseline [sim hold]")
	channels := func() int {
		n, err := d.rdb.PubSubNumSub(context.Background(), d.prefix+":"+jobs.JobChannel(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(n[d.prefix+":"+jobs.JobChannel(id)])
	}
	settle := func(want func() bool) bool {
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if want() {
				return true
			}
		}
		return false
	}
	// Warm up one connection so pools and tickers exist before the baseline.
	warm := dial(t, d.url, d.tokens["alice"])
	warm.ack()
	s := warm.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { id } }`, map[string]any{"id": id})
	warm.receive(s, "jobStatus", 5*time.Second, func([]update) bool { return true })
	warm.send(map[string]any{"id": s, "type": "complete"})
	settle(func() bool { return channels() == 0 })
	time.Sleep(300 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	c := dial(t, d.url, d.tokens["alice"])
	c.ack()
	for i := range 1000 {
		s := c.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { id } }`, map[string]any{"id": id})
		if got, _, _ := c.receive(s, "jobStatus", 5*time.Second, func([]update) bool { return true }); len(got) != 1 {
			t.Fatalf("cycle %d: got %v", i, got)
		}
		c.send(map[string]any{"id": s, "type": "complete"})
	}
	c.conn.Close()
	for range 100 {
		c := dial(t, d.url, d.tokens["alice"])
		c.ack()
		s := c.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { id } }`, map[string]any{"id": id})
		c.receive(s, "jobStatus", 5*time.Second, func([]update) bool { return true })
		c.conn.UnderlyingConn().Close() // no close frame: the peer just vanishes
	}
	warm.conn.Close()
	if !settle(func() bool { return channels() == 0 }) {
		t.Errorf("Redis still has %d subscriptions to the job's channel, want 0", channels())
	}
	if !settle(func() bool { return runtime.NumGoroutine() <= baseline+2 }) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines = %d, baseline %d\n%s", runtime.NumGoroutine(), baseline, buf[:n])
	}
}

// Redis restarts under live subscriptions: clients stay connected, the
// broker subscribes again, the gap is filled from the database, and the
// job's later changes still arrive.
func TestSubscriptionsSurviveRedisRestart(t *testing.T) {
	mr := miniredis.RunT(t)
	b := backend{name: "sqlite+miniredis", db: func(t *testing.T) *bun.DB { return jobstest.SQLite(t) },
		redis: func(t *testing.T) redis.UniversalClient {
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { rdb.Close() })
			return rdb
		}}
	d := deploy(t, b, options{})
	id := d.create(t, "through a restart [sim hold]")
	requestID(t, d, id)
	c := dial(t, d.url, d.tokens["alice"])
	c.ack()
	sub := c.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { `+updateFields+` } }`, map[string]any{"id": id})
	first, _, _ := c.receive(sub, "jobStatus", 5*time.Second, func([]update) bool { return true })

	mr.Close()
	time.Sleep(300 * time.Millisecond)
	// While Redis is away the job moves on: the change is durable, its
	// publication is lost.
	if err := d.sim.Succeed(requestID(t, d, id)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	mr.Ctx, mr.CtxCancel = context.WithCancel(context.Background())
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	got, end, payload := c.receive(sub, "jobStatus", 30*time.Second, func(us []update) bool { return us[len(us)-1].Status == "COMPLETED" })
	if end != "next" {
		t.Fatalf("subscription ended %s %s before COMPLETED", end, payload)
	}
	all := append(first, got...)
	increasing(t, all)
	if s := statuses(all); !strings.HasSuffix(s, "COMPLETED") {
		t.Errorf("statuses = %s, want them to reach COMPLETED after the restart", s)
	}
	if _, err := c.read(10 * time.Millisecond); isClose(err, 1006) || websocket.IsUnexpectedCloseError(err) {
		t.Errorf("the connection was dropped by the restart: %v", err)
	}
}
