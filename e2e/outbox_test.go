package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
)

// An API process killed (SIGKILL) after createVideoJob committed and
// before the submit task reached Redis loses nothing: the job and its
// submit task committed together (task_outbox), and a worker's outbox
// relay queues the task a few seconds later — with the reconciler off, so
// nothing else could rescue the job — and the job completes with one
// generation.
func TestAPIKilledBetweenCommitAndEnqueue(t *testing.T) {
	c := newCluster(t, clusterOptions{serveCrashAt: "outbox.before-send"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the request never gets its answer: the API dies first
		body, _ := json.Marshal(map[string]any{"query": `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "a lighthouse at dusk"}) { job { id } } }`})
		req, _ := http.NewRequestWithContext(ctx, "POST", c.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.token)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	c.api.waitFor("CRASHPOINT outbox.before-send", 60*time.Second)
	c.api.kill()

	db, err := jobs.OpenDB(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := jobs.NewStore(db, nil)
	js, err := store.ListJobs(ctx, jobs.ListFilter{Limit: 10})
	if err != nil || len(js) != 1 || js[0].Status != jobs.StatusQueued {
		t.Fatalf("jobs after the kill: %v, %v; want one QUEUED", js, err)
	}
	rows, err := store.OutboxTasks(ctx)
	if err != nil || len(rows) != 1 || rows[0].Kind != queue.KindSubmit || rows[0].JobID != js[0].ID {
		t.Fatalf("outbox after the kill: %v, %v; want the job's submit, never sent", rows, err)
	}

	c.serve("api2", "")
	start := time.Now()
	c.worker("w1", "", "--reconcile=false")
	r := c.waitTerminal([]string{js[0].PublicID}, 60*time.Second)[js[0].PublicID]
	if s := r.Str("job.status"); s != "COMPLETED" {
		t.Fatalf("job ended %s (%v), want COMPLETED; events %v", s, r.Get("job.error"), eventTypes(r))
	}
	t.Logf("job COMPLETED %v after a worker with the relay started (outbox grace 2s, interval 1s, simulated latency 300ms)", time.Since(start).Round(10*time.Millisecond))
	checkOneWay(t, js[0].PublicID, r)
	if g := c.sim.Generations(); g != 1 {
		t.Errorf("the provider started %d generations, want 1", g)
	}
	// The relayed submit row is gone. Rows of the job's later tasks may
	// still stand for a moment: the fast path deletes what it sent in
	// batches, DeleteEvery after sending.
	rows, err = store.OutboxTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Kind == queue.KindSubmit {
			t.Errorf("outbox at the end still holds the submit task the relay sent: %+v", row)
		}
	}
}

// Redis unreachable (every connection cut, new ones refused) while jobs
// are created: the creates answer QUEUED at once, each job's submit task
// waits in the outbox, and once Redis answers again the workers' outbox
// relay queues them and every job completes — with no reconciler running,
// so nothing else could. The test logs how long after Redis came back the
// last job was submitted and completed.
func TestRedisOutageRelayedByOutbox(t *testing.T) {
	var proxy *tcpProxy
	target := func(t *testing.T) string { return miniredis.RunT(t).Addr() }
	if os.Getenv("VIDGATE_TEST_REDIS_URL") != "" {
		target = func(t *testing.T) string {
			opts, err := redis.ParseURL(os.Getenv("VIDGATE_TEST_REDIS_URL"))
			if err != nil {
				t.Fatal(err)
			}
			return opts.Addr
		}
	}
	b := backend{name: "redis-behind-proxy", db: func(t *testing.T) *bun.DB { return jobstest.SQLite(t) }, redis: func(t *testing.T) redis.UniversalClient {
		proxy = newTCPProxy(t, target(t))
		rdb := redis.NewClient(&redis.Options{Addr: proxy.addr(), MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}}
	if pgBackendAvailable() {
		b.db = func(t *testing.T) *bun.DB { return jobstest.Postgres(t) }
	}
	d := deploy(t, b, options{simLatency: 300 * time.Millisecond})
	d.waitFor(t, d.create(t, "a warm-up"), 30*time.Second, "COMPLETED")

	proxy.cut()
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = d.create(t, fmt.Sprintf("created while Redis is unreachable, take %d", i))
	}
	rows, err := d.store.OutboxTasks(context.Background())
	if err != nil || len(rows) < n {
		t.Fatalf("outbox while Redis is unreachable: %d rows, %v; want at least the %d submits", len(rows), err, n)
	}
	proxy.restore()
	back := time.Now()
	d.waitAllCompleted(t, ids, 60*time.Second)
	var submitted, completed time.Time
	for _, id := range ids {
		j, err := d.store.JobByPublicID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.SubmittedAt.After(submitted) {
			submitted = *j.SubmittedAt
		}
		if j.CompletedAt.After(completed) {
			completed = *j.CompletedAt
		}
		checkOneWay(t, id, d.job(t, id))
	}
	t.Logf("recovery: the last of %d jobs created while Redis was unreachable was submitted %s and completed %s after Redis came back (outbox grace 2s, interval 1s)",
		n, submitted.Sub(back).Round(10*time.Millisecond), completed.Sub(back).Round(10*time.Millisecond))
}
