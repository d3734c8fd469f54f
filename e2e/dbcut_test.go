package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
)

// PostgreSQL connections cut under load: while clients keep creating jobs
// (each retried with its idempotency key until it succeeds), every
// connection of the API and the worker is dropped and the database refuses
// new ones for three seconds. The API answers UNAVAILABLE — never INTERNAL
// or a half-made job — and /readyz says 503; when the database is back the
// retries succeed, no job exists twice or without its prompt and first
// event, and every job completes.
func TestDatabaseCutUnderLoad(t *testing.T) {
	c := newCluster(t, clusterOptions{dbProxy: true, serveArgs: []string{"--create-rate", "0", "--max-active-jobs", "0"}})
	c.worker("w1", "")

	var (
		mu     sync.Mutex
		ids    = map[string]string{} // idempotency key → job id
		codes  = map[string]int{}    // error code → count
		during int                   // requests answered while the database was down
	)
	var down sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("load-%d-%d", g, i)
				for try := 0; ; try++ {
					_, isDown := down.Load("db")
					r := c.client().Do(t, `mutation($p: String!, $k: String!) {
						createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: $p, idempotencyKey: $k}) { job { id } } }`,
						map[string]any{"p": "waves on a basalt shore " + key, "k": key})
					mu.Lock()
					if isDown {
						during++
					}
					if len(r.Errors) == 0 {
						ids[key] = r.Str("createVideoJob.job.id")
						mu.Unlock()
						break
					}
					for _, e := range r.Errors {
						codes[e.Code()]++
					}
					mu.Unlock()
					if try > 200 {
						t.Errorf("create %s still failing after %d tries: %+v", key, try, r.Errors)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	down.Store("db", true)
	c.proxy.cut()
	time.Sleep(500 * time.Millisecond)
	if status, _ := get(t, c.url+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down = %d, want 503", status)
	}
	time.Sleep(2500 * time.Millisecond)
	down.Delete("db")
	c.proxy.restore()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d jobs created; %d requests while the database was down; errors by code: %v; connections cut or refused: %d",
		len(ids), during, codes, c.proxy.cuts)
	if codes[string(jobs.CodeUnavailable)] == 0 {
		t.Errorf("no request was answered UNAVAILABLE while the database was down (errors: %v)", codes)
	}
	for code, n := range codes {
		if code != string(jobs.CodeUnavailable) {
			t.Errorf("%d requests failed with %s, want only UNAVAILABLE", n, code)
		}
	}
	if status, _ := get(t, c.url+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz after the database came back = %d, want 200", status)
	}

	// Nothing half-written: each job the database holds was returned to
	// exactly one idempotency key, has its sealed prompt and its first event.
	db, err := jobs.OpenDB(context.Background(), c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total, noPrompt, noEvent int
	ctx := context.Background()
	db.NewRaw("SELECT count(*) FROM video_jobs").Scan(ctx, &total)
	db.NewRaw("SELECT count(*) FROM video_jobs j WHERE NOT EXISTS (SELECT 1 FROM video_job_prompts p WHERE p.job_id = j.id)").Scan(ctx, &noPrompt)
	db.NewRaw("SELECT count(*) FROM video_jobs j WHERE NOT EXISTS (SELECT 1 FROM video_job_events e WHERE e.job_id = j.id AND e.new_status = 'QUEUED')").Scan(ctx, &noEvent)
	if total != len(ids) || noPrompt != 0 || noEvent != 0 {
		t.Errorf("database holds %d jobs (%d without a prompt, %d without their QUEUED event); clients were given %d", total, noPrompt, noEvent, len(ids))
	}

	var all []string
	for _, id := range ids {
		all = append(all, id)
	}
	start := time.Now()
	defer func() { t.Logf("all jobs checked in %v", time.Since(start)) }()
	for id, r := range c.waitTerminal(all, 120*time.Second) {
		if s := r.Str("job.status"); s != "COMPLETED" {
			t.Errorf("job %s ended %s (%v); events %v", id, s, r.Get("job.error"), eventTypes(r))
			continue
		}
		checkOneWay(t, id, r)
	}
}
