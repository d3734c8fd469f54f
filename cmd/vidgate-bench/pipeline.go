package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
)

const pipelinePrompt = "pipeline bench %d: a lighthouse in a storm [sim latency=0s]"

// finish is how one job ended, by the server's clock.
type finish struct {
	created, done time.Time
	status        jobs.Status
}

// tracker follows the jobs of a pipeline run to their end: it hears every
// committed change (Store.OnCommit), so it sees each job reach COMPLETED
// (or fail) exactly when the worker commits it, without polling.
type tracker struct {
	// slots bounds created-but-unfinished jobs: a producer takes a slot
	// before creating, and a job's end gives it back.
	slots chan struct{}

	mu       sync.Mutex
	finished map[int64]finish
	created  int
	allDone  chan struct{} // closed once every created job finished and creating stopped
	closed   bool
	creating bool
}

func newTracker(backlog int) *tracker {
	return &tracker{slots: make(chan struct{}, backlog), finished: map[int64]finish{}, allDone: make(chan struct{}), creating: true}
}

func (t *tracker) onCommit(_ context.Context, changes []jobs.Change) {
	for _, c := range changes {
		j := c.Job
		ended := j.Status == jobs.StatusCompleted || j.Status.Terminal()
		if !ended || (c.From != nil && (*c.From == jobs.StatusCompleted || c.From.Terminal())) {
			continue
		}
		f := finish{created: j.CreatedAt, done: j.UpdatedAt, status: j.Status}
		if j.CompletedAt != nil {
			f.done = *j.CompletedAt
		}
		t.mu.Lock()
		if _, seen := t.finished[j.ID]; !seen {
			t.finished[j.ID] = f
			select {
			case <-t.slots:
			default:
			}
			t.checkDoneLocked()
		}
		t.mu.Unlock()
	}
}

// created counts a job a producer created.
func (t *tracker) add() {
	t.mu.Lock()
	t.created++
	t.mu.Unlock()
}

// stopCreating says no more jobs will be added.
func (t *tracker) stopCreating() {
	t.mu.Lock()
	t.creating = false
	t.checkDoneLocked()
	t.mu.Unlock()
}

func (t *tracker) checkDoneLocked() {
	if !t.creating && !t.closed && len(t.finished) >= t.created {
		t.closed = true
		close(t.allDone)
	}
}

func (t *tracker) snapshot() (map[int64]finish, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int64]finish, len(t.finished))
	for k, v := range t.finished {
		out[k] = v
	}
	return out, t.created
}

// parseConcurrency reads "N" or "kind=N,…" as `vidgate --concurrency` does.
func parseConcurrency(spec string) (map[queue.Kind]int, error) {
	out := map[queue.Kind]int{}
	if n, err := strconv.Atoi(strings.TrimSpace(spec)); err == nil {
		if n < 1 {
			return nil, fmt.Errorf("--worker-concurrency %d: want at least 1", n)
		}
		for _, k := range queue.Kinds {
			out[k] = n
		}
		return out, nil
	}
	for _, k := range queue.Kinds {
		out[k] = 8
	}
	for _, part := range strings.Split(spec, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || !queue.Kind(name).Valid() {
			return nil, fmt.Errorf("--worker-concurrency %q: want N or kind=N,… with kinds submit, poll, ingest, cancel", spec)
		}
		out[queue.Kind(name)] = n
	}
	return out, nil
}

// runPipeline creates jobs whose simulated generation takes no time and
// measures how fast the workers take them to COMPLETED: submit to the
// provider, its webhooks, the ingest that copies the ~28 KB MP4 into the
// bucket and reads its metadata. With --jobs N it creates N jobs and waits
// for all; otherwise it creates jobs for --duration, at most --backlog
// unfinished at a time, and measures completions inside the window.
func runPipeline(ctx context.Context, cfg *config) (*Report, error) {
	if cfg.target != "" {
		return runPipelineTarget(ctx, cfg)
	}
	conc, err := parseConcurrency(cfg.workerConcurrency)
	if err != nil {
		return nil, err
	}
	r := newReport("pipeline", cfg.args)
	for k, v := range map[string]any{"jobs": cfg.jobs, "duration": cfg.duration.String(), "warmup": cfg.warmup.String(),
		"workers": cfg.workers, "worker_concurrency": cfg.workerConcurrency, "poll_after": cfg.pollAfter.String(),
		"backlog": cfg.backlog, "concurrency": cfg.concurrency} {
		r.Params[k] = v
	}
	tr := newTracker(cfg.backlog)
	o := cfg.deployOptions()
	o.workers, o.concurrency, o.onCommit = cfg.workers, conc, tr.onCommit
	d, err := deploy(ctx, o)
	if err != nil {
		return nil, err
	}
	defer d.close()
	r.Deployment = d.label

	smp := startSampler("process: server, workers, simulated provider, and the job creator")
	start := time.Now()
	createEnd := start.Add(cfg.warmup + cfg.duration)
	var seq atomic.Int64
	errs := newErrorLog()
	var createErrors atomic.Int64
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor := jobs.Actor{Subject: fmt.Sprintf("bench-user-%d", w), Role: jobs.RoleUser}
			for ctx.Err() == nil {
				if cfg.jobs > 0 && seq.Load() >= int64(cfg.jobs) || cfg.jobs == 0 && time.Now().After(createEnd) {
					return
				}
				select {
				case tr.slots <- struct{}{}:
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
					continue // re-check the end
				}
				i := seq.Add(1)
				if cfg.jobs > 0 && i > int64(cfg.jobs) {
					<-tr.slots
					return
				}
				_, _, err := d.svc.CreateJob(ctx, actor, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: fmt.Sprintf(pipelinePrompt, i)})
				if err != nil {
					<-tr.slots
					createErrors.Add(1)
					errs.add(fmt.Errorf("create: %w", err))
					continue
				}
				tr.add()
			}
		}()
	}
	wg.Wait()
	created := time.Now()
	tr.stopCreating()
	if err := cfg.snapshotProfiles(); err != nil { // while jobs are still in flight
		return r, err
	}
	timedOut := false
	select {
	case <-tr.allDone:
	case <-time.After(cfg.timeout):
		timedOut = true
	case <-ctx.Done():
	}
	res := smp.stop()
	timeWait := timeWaitSockets()
	fin, total := tr.snapshot()

	// The measured window: from the warmup's end to the end of creation
	// (duration mode), or the whole run (--jobs N).
	var from, to time.Time
	var ends []finish
	for _, f := range fin {
		ends = append(ends, f)
	}
	slices.SortFunc(ends, func(a, b finish) int { return a.done.Compare(b.done) })
	if cfg.jobs > 0 {
		from = start
		if len(ends) > 0 {
			to = ends[len(ends)-1].done
		}
	} else {
		from, to = start.Add(cfg.warmup), created
	}
	p := &Phase{Name: "jobs to COMPLETED", Resources: res}
	var lat []time.Duration
	failed := 0
	for _, f := range ends {
		if f.status != jobs.StatusCompleted {
			failed++
			errs.add(fmt.Errorf("a job ended %s", f.status))
			continue
		}
		if f.done.Before(from) || f.done.After(to) {
			continue
		}
		p.Ops++
		lat = append(lat, f.done.Sub(f.created))
	}
	unfinished := total - len(fin)
	p.Errors = int64(failed+unfinished) + createErrors.Load()
	if unfinished > 0 {
		errs.add(fmt.Errorf("%d jobs not finished after --timeout %s", unfinished, cfg.timeout))
	}
	p.Seconds = to.Sub(from).Seconds()
	if p.Seconds > 0 {
		p.PerSecond = float64(p.Ops) / p.Seconds
	}
	p.Latency = summarize(lat)
	p.FirstErrors = errs.list()
	r.Phases = append(r.Phases, p)

	r.metric("jobs created", float64(total), fmt.Sprintf("in %.1fs (%.0f/s)", created.Sub(start).Seconds(), float64(total)/created.Sub(start).Seconds()))
	r.metric("jobs completed", float64(len(fin)-failed), "")
	if done := float64(len(fin) - failed); done > 0 {
		r.metric("CPU per completed job: this process", res.CPUSeconds*1000/done, "ms")
		r.metric("CPU per completed job: PostgreSQL", res.PostgresCores*res.WallSeconds*1000/done, "ms")
	}
	if len(ends) > 0 {
		drain := ends[len(ends)-1].done.Sub(start).Seconds()
		r.metric("all jobs: completed / (last completion − start)", float64(len(fin)-failed)/drain, "jobs/s")
	}
	r.metric("webhook deliveries answered 200", float64(d.webhooks.get(http.StatusOK)), "")
	r.metric("webhook deliveries answered 202 (request id not saved yet)", float64(d.webhooks.get(http.StatusAccepted)), "")
	r.metric("loopback TCP sockets in TIME_WAIT at the end", float64(timeWait), "(connections opened and closed, not reused)")
	byWebhook, byPoll, gaps, err := stageReport(ctx, d.store, fin)
	if err != nil {
		return r, err
	}
	r.metric("provider completion learned by webhook", float64(byWebhook), "jobs")
	r.metric("provider completion learned by poll", float64(byPoll), fmt.Sprintf("jobs (first poll after %s)", cfg.pollAfter))
	for i, g := range gaps {
		l := summarize(g)
		r.metric(fmt.Sprintf("time %s → %s, p50", stages[i], stages[i+1]), l.P50, fmt.Sprintf("ms (p95 %.0f ms)", l.P95))
	}
	r.check("every created job completed", !timedOut && failed == 0 && unfinished == 0 && createErrors.Load() == 0,
		"%d of %d completed, %d failed, %d unfinished, %d create errors", len(fin)-failed, total, failed, unfinished, createErrors.Load())
	r.target("≥ 500 jobs/s to COMPLETED", p.PerSecond >= 500, "%.0f jobs/s with %d workers × %s", p.PerSecond, cfg.workers, cfg.workerConcurrency)
	r.note("latency is each job's created_at → completed_at, by the server's clock")
	r.note("jobs are created through jobs.Service (no HTTP), so the workers are what is measured")
	return r, nil
}

// stages are the milestones of a job's event log whose gaps say where its
// time went.
var stages = []string{"queued", "submitted", "provider_request_created", "provider_completed", "completed"}

// stageReport reads the finished jobs' event logs and returns how many
// learned of the provider's completion by webhook and by poll, and the
// time between consecutive milestones (stages[i] → stages[i+1]).
func stageReport(ctx context.Context, store *jobs.Store, fin map[int64]finish) (webhook, poll int, gaps [][]time.Duration, err error) {
	ids := make([]int64, 0, len(fin))
	for id := range fin {
		ids = append(ids, id)
	}
	gaps = make([][]time.Duration, len(stages)-1)
	for from := 0; from < len(ids); from += 500 {
		evs, err := store.EventsOf(ctx, ids[from:min(from+500, len(ids))])
		if err != nil {
			return 0, 0, nil, err
		}
		for _, es := range evs {
			at := map[string]time.Time{}
			for _, e := range es {
				if _, seen := at[e.Type]; !seen {
					at[e.Type] = e.CreatedAt
				}
				if e.Type != "provider_completed" {
					continue
				}
				if e.Source == jobs.SourceWebhook {
					webhook++
				} else {
					poll++
				}
			}
			for i := range gaps {
				a, okA := at[stages[i]]
				b, okB := at[stages[i+1]]
				if okA && okB {
					gaps[i] = append(gaps[i], b.Sub(a))
				}
			}
		}
	}
	return webhook, poll, gaps, nil
}

// runPipelineTarget creates jobs on a running vidgate over GraphQL and
// polls them there until they end; it measures by the server's createdAt
// and completedAt.
func runPipelineTarget(ctx context.Context, cfg *config) (*Report, error) {
	r := newReport("pipeline", cfg.args)
	r.Deployment = cfg.target
	n := cfg.jobs
	if n == 0 {
		n = 1000
	}
	r.Params["jobs"] = n
	r.Params["concurrency"] = cfg.concurrency
	c := &gqlClient{url: cfg.target + "/graphql", http: newHTTPClient(cfg.concurrency)}
	ids := make([]string, n)
	var next atomic.Int64
	errs := newErrorLog()
	var createErrors atomic.Int64
	var wg sync.WaitGroup
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var out struct {
					CreateVideoJob struct{ Job struct{ ID string } }
				}
				vars := map[string]any{"in": map[string]any{"workflowType": "TEXT_TO_VIDEO", "prompt": fmt.Sprintf(pipelinePrompt, i)}}
				if err := c.do(ctx, cfg.token, gqlBody(createMutation, vars), &out); err != nil {
					createErrors.Add(1)
					errs.add(err)
					continue
				}
				ids[i] = out.CreateVideoJob.Job.ID
			}
		}()
	}
	wg.Wait()
	type state struct {
		Status                 string
		CreatedAt, CompletedAt *time.Time
	}
	pending := map[string]bool{}
	for _, id := range ids {
		if id != "" {
			pending[id] = true
		}
	}
	ends := map[string]state{}
	deadline := time.Now().Add(cfg.timeout)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		batch := make([]string, 0, 50)
		for id := range pending {
			if batch = append(batch, id); len(batch) == 50 {
				break
			}
		}
		var q strings.Builder
		q.WriteString("{")
		for i, id := range batch {
			fmt.Fprintf(&q, " j%d: job(id: %q) { status createdAt completedAt }", i, id)
		}
		q.WriteString(" }")
		var out map[string]state
		if err := c.do(ctx, cfg.token, gqlBody(q.String(), nil), &out); err != nil {
			errs.add(err)
			sleepCtx(ctx, time.Second)
			continue
		}
		progressed := false
		for i, id := range batch {
			s := out[fmt.Sprintf("j%d", i)]
			if s.Status == "COMPLETED" || jobs.Status(s.Status).Terminal() {
				ends[id] = s
				delete(pending, id)
				progressed = true
			}
		}
		if !progressed {
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
	p := &Phase{Name: "jobs to COMPLETED", FirstErrors: errs.list()}
	var first, last time.Time
	var lat []time.Duration
	for _, s := range ends {
		if s.Status != "COMPLETED" || s.CreatedAt == nil || s.CompletedAt == nil {
			p.Errors++
			continue
		}
		p.Ops++
		lat = append(lat, s.CompletedAt.Sub(*s.CreatedAt))
		if first.IsZero() || s.CreatedAt.Before(first) {
			first = *s.CreatedAt
		}
		if s.CompletedAt.After(last) {
			last = *s.CompletedAt
		}
	}
	p.Errors += int64(len(pending)) + createErrors.Load()
	p.Seconds = last.Sub(first).Seconds()
	if p.Seconds > 0 {
		p.PerSecond = float64(p.Ops) / p.Seconds
	}
	p.Latency = summarize(lat)
	r.Phases = append(r.Phases, p)
	r.target("≥ 500 jobs/s to COMPLETED", p.PerSecond >= 500, "%.0f jobs/s", p.PerSecond)
	r.note("--target: jobs are created over GraphQL and polled with job(id); throughput is completed / (last completedAt − first createdAt)")
	return r, nil
}

// timeWaitSockets counts the machine's IPv4 TCP sockets in TIME_WAIT
// (/proc/net/tcp state 06): each is a connection that was closed rather
// than kept for reuse in the last minute.
func timeWaitSockets() int {
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 3 && f[3] == "06" {
			n++
		}
	}
	return n
}
