package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
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
	if rows, err := store.OutboxTasks(ctx); err != nil || len(rows) != 0 {
		t.Errorf("outbox at the end: %d rows, %v; want none", len(rows), err)
	}
}
