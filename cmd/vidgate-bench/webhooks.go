package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// delivery is one planned POST /webhooks/sim.
type delivery struct {
	job  int    // index into the jobs
	id   string // webhook-id: the same on every copy
	body []byte
	dup  bool // a repeat of an earlier delivery
}

// benchJob is a job set up in PROCESSING with a provider request id.
type benchJob struct {
	id        int64
	publicID  string
	owner     string
	requestID string
	version   int64 // after the setup
}

// runWebhooks sets up jobs in PROCESSING through the store, then sends the
// simulated provider's signed deliveries for them to POST /webhooks/sim:
// --steps distinct deliveries per job (progress, then succeeded), a
// --duplicates share of repeats with the same webhook-id, and with
// --reorder each job's deliveries shuffled. Afterwards it checks that the
// intake recognised every repeat and that no job's event log has two
// events for the same update.
func runWebhooks(ctx context.Context, cfg *config) (*Report, error) {
	if cfg.target != "" {
		return nil, errNoDeployment
	}
	if cfg.steps < 1 || cfg.duplicates < 0 || cfg.duplicates >= 1 || cfg.jobs < 1 {
		return nil, fmt.Errorf("want --jobs ≥ 1, --steps ≥ 1 and 0 ≤ --duplicates < 1")
	}
	r := newReport("webhooks", cfg.args)
	for k, v := range map[string]any{"jobs": cfg.jobs, "steps": cfg.steps, "duplicates": cfg.duplicates,
		"reorder": cfg.reorder, "concurrency": cfg.concurrency, "seed": cfg.seed} {
		r.Params[k] = v
	}
	d, err := deploy(ctx, cfg.deployOptions())
	if err != nil {
		return nil, err
	}
	defer d.close()
	r.Deployment = d.label

	setupStart := time.Now()
	bjobs, err := setupProcessing(ctx, d, cfg.jobs, min(cfg.concurrency, 16), func(i int) string { return fmt.Sprintf("bench-user-%d", i%16) })
	if err != nil {
		return r, fmt.Errorf("set up jobs: %w", err)
	}
	r.metric("setup: jobs created and moved to PROCESSING", float64(len(bjobs)), fmt.Sprintf("in %.1fs", time.Since(setupStart).Seconds()))

	rng := rand.New(rand.NewPCG(cfg.seed, 2))
	plan, distinct, repeats := planDeliveries(rng, d.url, bjobs, cfg.steps, cfg.duplicates, cfg.reorder)
	r.metric("deliveries planned", float64(len(plan)), fmt.Sprintf("(%d distinct, %d repeats)", distinct, repeats))

	signer, err := stdwebhooks.NewSigner(d.simSecret)
	if err != nil {
		return r, err
	}
	client := newHTTPClient(cfg.concurrency)
	target := d.url + "/webhooks/sim"
	var next atomic.Int64
	var applied, stale, duplicate atomic.Int64
	load := loadOptions{concurrency: cfg.concurrency, duration: cfg.duration, maxOps: int64(len(plan)),
		scope: "process: server, and the load generator's goroutines"}
	phase := closedLoop(ctx, "deliveries", load, func(ctx context.Context, _ int) error {
		dl := plan[next.Add(1)-1]
		outcome, err := deliver(ctx, client, signer, target, dl)
		switch outcome {
		case "applied":
			applied.Add(1)
		case "stale":
			stale.Add(1)
		case "duplicate":
			duplicate.Add(1)
		}
		return err
	})
	r.Phases = append(r.Phases, phase)
	if err := cfg.snapshotProfiles(); err != nil {
		return r, err
	}
	sent := min(next.Load(), int64(len(plan)))
	r.metric("deliveries sent", float64(sent), "")
	r.metric("answered applied", float64(applied.Load()), "")
	r.metric("answered stale (older than the job's state)", float64(stale.Load()), "")
	r.metric("answered duplicate", float64(duplicate.Load()), "")
	r.metric("intake HTTP 202 (unknown request id)", float64(d.webhooks.get(http.StatusAccepted)), "")

	complete := sent == int64(len(plan))
	r.check("every planned delivery was sent within --duration", complete, "%d of %d", sent, len(plan))
	if complete {
		r.check("every repeat was answered duplicate, and nothing else was",
			duplicate.Load() == int64(repeats) && applied.Load()+stale.Load() == int64(distinct),
			"%d duplicate (want %d), %d applied + %d stale (want %d distinct)", duplicate.Load(), repeats, applied.Load(), stale.Load(), distinct)
	}
	doubles, finals, err := verifyEvents(ctx, d.store, bjobs)
	if err != nil {
		return r, err
	}
	r.check("no double transitions: at most one event per (type, progress) per job", doubles == 0,
		"%d duplicate events in %d jobs' logs", doubles, len(bjobs))
	if complete {
		r.check("every job recorded the provider's completion once", finals == len(bjobs), "%d of %d jobs", finals, len(bjobs))
	}
	r.target("≥ 5,000 deliveries/s", phase.PerSecond >= 5000, "%.0f/s with %.0f%% repeats", phase.PerSecond, cfg.duplicates*100)
	r.target("p99 < 20 ms", phase.Latency.P99 < 20, "p99 %.1f ms at concurrency %d", phase.Latency.P99, cfg.concurrency)
	r.note("deliveries are signed with the simulated provider's secret (Standard Webhooks), re-signed with a fresh timestamp on every copy as a retrying sender does")
	r.note("a succeeded delivery enqueues an ingest task; no workers run, so the tasks wait in the stream")
	return r, nil
}

// setupProcessing creates n jobs through jobs.Service and moves each, in
// one transaction, through SUBMITTED (attempt 1, a provider request id) to
// PROCESSING, as a worker and the provider's first webhook would.
func setupProcessing(ctx context.Context, d *deployment, n, conc int, owner func(i int) string) ([]benchJob, error) {
	svc, err := jobs.NewService(d.store, d.vault, jobs.ServiceConfig{Providers: []string{"sim"}, Logger: d.log})
	if err != nil {
		return nil, err
	}
	out := make([]benchJob, n)
	var next atomic.Int64
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				job, _, err := svc.CreateJob(ctx, jobs.Actor{Subject: owner(i), Role: jobs.RoleUser}, jobs.CreateInput{
					WorkflowType: jobs.TextToVideo, Prompt: fmt.Sprintf("webhook bench %d", i),
				})
				if err != nil {
					errs <- err
					return
				}
				reqID := "gen_bench" + randomHex(10)
				var version int64
				err = d.store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
					steps := []jobs.Transition{
						{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1, Source: jobs.SourceWorker},
						{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, Type: "provider_request_created",
							ExpectAttempt: 1, ProviderRequestID: reqID, Source: jobs.SourceWorker},
						{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusProcessing, Type: "processing",
							ExpectAttempt: 1, Source: jobs.SourceWebhook},
					}
					for _, t := range steps {
						j, err := d.store.Transition(ctx, tx, t)
						if err != nil {
							return err
						}
						version = j.Version
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				out[i] = benchJob{id: job.ID, publicID: job.PublicID, owner: job.OwnerID, requestID: reqID, version: version}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// planDeliveries returns every delivery to send, in sending order: for
// each job, steps distinct deliveries (progress 100·i/steps for i < steps,
// then succeeded), in order or shuffled; then repeats of random deliveries
// placed at random points after their original, so that a dup share of
// all deliveries are repeats; then the jobs' sequences interleaved at
// random, each job's order kept.
func planDeliveries(rng *rand.Rand, base string, bjobs []benchJob, steps int, dup float64, reorder bool) (plan []delivery, distinct, repeats int) {
	seqs := make([][]delivery, len(bjobs))
	now := time.Now().UTC()
	for j, bj := range bjobs {
		for s := 1; s <= steps; s++ {
			g := map[string]any{
				"id": bj.requestID, "status": "processing", "progress": 100 * s / steps,
				"workflow": "text_to_video", "model": "sim-1", "duration_seconds": 5, "aspect_ratio": "16:9", "resolution": "720p",
				"created_at": now, "updated_at": now.Add(time.Duration(s) * time.Millisecond),
			}
			if s == steps {
				g["status"], g["progress"] = "succeeded", 100
				g["output"] = map[string]any{"video_url": base + "/sim/v1/files/" + bj.requestID + ".mp4",
					"content_type": "video/mp4", "expires_at": now.Add(time.Hour)}
			}
			body, _ := json.Marshal(g) // plain data
			seqs[j] = append(seqs[j], delivery{job: j, id: "msg_" + randomHex(12), body: body})
		}
		if reorder {
			rng.Shuffle(len(seqs[j]), func(a, b int) { seqs[j][a], seqs[j][b] = seqs[j][b], seqs[j][a] })
		}
	}
	distinct = len(bjobs) * steps
	// repeats / (distinct + repeats) = dup
	repeats = int(float64(distinct)*dup/(1-dup) + 0.5)
	for range repeats {
		j := rng.IntN(len(seqs))
		orig := seqs[j][rng.IntN(len(seqs[j]))]
		pos := 0
		for i, dl := range seqs[j] {
			if dl.id == orig.id && !dl.dup {
				pos = i
				break
			}
		}
		at := pos + 1 + rng.IntN(len(seqs[j])-pos)
		copyDl := orig
		copyDl.dup = true
		seqs[j] = append(seqs[j][:at], append([]delivery{copyDl}, seqs[j][at:]...)...)
	}
	// Interleave: pick a job with deliveries left, weighted by how many.
	left := distinct + repeats
	plan = make([]delivery, 0, left)
	heads := make([]int, len(seqs))
	live := make([]int, len(seqs))
	for j := range live {
		live[j] = j
	}
	for len(live) > 0 {
		k := rng.IntN(len(live))
		j := live[k]
		plan = append(plan, seqs[j][heads[j]])
		heads[j]++
		if heads[j] == len(seqs[j]) {
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		}
	}
	return plan, distinct, repeats
}

// deliver POSTs one signed delivery and returns the intake's outcome:
// applied, stale or duplicate.
func deliver(ctx context.Context, c *http.Client, signer *stdwebhooks.Signer, target string, dl delivery) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(dl.body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vidgate-bench")
	signer.SetHeaders(req.Header, dl.id, time.Now(), dl.body)
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return "", &errStatus{status: res.StatusCode, body: truncate(strings.TrimSpace(string(raw)), 200)}
	}
	var out struct {
		Outcome   string `json:"outcome"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("intake answer %q: %w", raw, err)
	}
	if out.Duplicate {
		return "duplicate", nil
	}
	if out.Outcome != "applied" && out.Outcome != "stale" {
		return out.Outcome, fmt.Errorf("intake outcome %q", out.Outcome)
	}
	return out.Outcome, nil
}

// verifyEvents reads every job's event log and counts events that repeat
// an earlier one's (type, message) — a progress event's message is its
// percentage — and the jobs that recorded provider_completed.
func verifyEvents(ctx context.Context, store *jobs.Store, bjobs []benchJob) (doubles, completed int, err error) {
	const batch = 500
	for from := 0; from < len(bjobs); from += batch {
		ids := make([]int64, 0, batch)
		for _, bj := range bjobs[from:min(from+batch, len(bjobs))] {
			ids = append(ids, bj.id)
		}
		evs, err := store.EventsOf(ctx, ids)
		if err != nil {
			return 0, 0, err
		}
		for _, id := range ids {
			seen := map[string]bool{}
			for _, e := range evs[id] {
				key := e.Type
				if e.Message != nil {
					key += "/" + *e.Message
				}
				if seen[key] {
					doubles++
				}
				seen[key] = true
				if e.Type == "provider_completed" {
					completed++
				}
			}
		}
	}
	return doubles, completed, nil
}
