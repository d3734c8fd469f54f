package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vidgate/vidgate/jobs"
)

// runSubscribers opens --subs WebSocket connections (graphql-transport-ws),
// one subscription each, from a child process, then makes --rate status
// changes per second for --duration and measures how long each takes to
// reach its subscribers, from the change's updatedAt (stamped when the
// change is made) to the client reading it. The server's memory per
// connection is the growth of its heap and stacks (after a full GC) from
// before the connections to after, over their number.
func runSubscribers(ctx context.Context, cfg *config) (*Report, error) {
	if cfg.target != "" {
		return nil, errNoDeployment
	}
	if cfg.subscription != "myJobs" && cfg.subscription != "jobStatus" {
		return nil, fmt.Errorf("--subscription %q: want myJobs or jobStatus", cfg.subscription)
	}
	if cfg.publish != "store" && cfg.publish != "broker" {
		return nil, fmt.Errorf("--publish %q: want store or broker", cfg.publish)
	}
	owners := cfg.owners
	if owners <= 0 || owners > cfg.subs {
		owners = cfg.subs
	}
	r := newReport("subscribers", cfg.args)
	for k, v := range map[string]any{"subs": cfg.subs, "owners": owners, "subscription": cfg.subscription, "rate": cfg.rate,
		"publish": cfg.publish, "duration": cfg.duration.String(), "publishers": cfg.publishers} {
		r.Params[k] = v
	}
	if err := raiseFileLimit(uint64(cfg.subs) + 1024); err != nil {
		return nil, err
	}
	d, err := deploy(ctx, cfg.deployOptions())
	if err != nil {
		return nil, err
	}
	defer d.close()
	r.Deployment = d.label

	// One job per owner for myJobs (each connection sees its owner's job
	// change), one per connection for jobStatus.
	njobs := owners
	if cfg.subscription == "jobStatus" {
		njobs = cfg.subs
	}
	ownerName := func(i int) string { return fmt.Sprintf("bench-owner-%d", i%owners) }
	setupStart := time.Now()
	bjobs, err := setupProcessing(ctx, d, njobs, 16, ownerName)
	if err != nil {
		return r, fmt.Errorf("set up jobs: %w", err)
	}
	r.metric("setup: jobs in PROCESSING", float64(len(bjobs)), fmt.Sprintf("in %.1fs", time.Since(setupStart).Seconds()))

	ccfg := clientConfig{URL: "ws" + strings.TrimPrefix(d.url, "http") + "/graphql", Field: cfg.subscription, DialConcurrency: cfg.dialConcurrency}
	for i := range owners {
		tok, err := d.token(ownerName(i))
		if err != nil {
			return r, err
		}
		ccfg.Tokens = append(ccfg.Tokens, tok)
	}
	// subsOf counts the subscriptions that see a job's changes.
	subsOf := make([]int, len(bjobs))
	const fields = `id status version progress updatedAt`
	for i := range cfg.subs {
		s := clientSub{Token: i % owners}
		if cfg.subscription == "myJobs" {
			s.Query = `subscription { myJobs { ` + fields + ` } }`
			s.Jobs = []string{bjobs[i%owners].publicID}
			subsOf[i%owners]++
		} else {
			s.Query = `subscription($id: ID!) { jobStatus(id: $id) { ` + fields + ` } }`
			s.Vars = map[string]any{"id": bjobs[i].publicID}
			s.Jobs = []string{bjobs[i].publicID}
			subsOf[i]++
		}
		ccfg.Subs = append(ccfg.Subs, s)
	}

	before := measureLive()
	child, err := startClient(ctx, ccfg)
	if err != nil {
		return r, err
	}
	defer child.stop()
	ready, err := child.next(ctx, "ready", 10*time.Minute)
	if err != nil {
		return r, err
	}
	after := measureLive()
	if err := cfg.snapshotProfiles(); err != nil {
		return r, err
	}
	connect := &Phase{Name: "connect + subscribe", Ops: int64(ready.Subscribed), Errors: int64(ready.Failed),
		Seconds: ready.Seconds, Latency: ready.Connect, FirstErrors: ready.FirstErrors}
	if ready.Seconds > 0 {
		connect.PerSecond = float64(ready.Subscribed) / ready.Seconds
	}
	r.Phases = append(r.Phases, connect)
	n := max(ready.Subscribed, 1)
	grown := int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse)
	perConn := float64(grown) / float64(n) / 1024
	r.metric("server heap+stack in use before connections", mib(before.HeapInuse+before.StackInuse), "MiB")
	r.metric("server heap+stack in use with every subscription open", mib(after.HeapInuse+after.StackInuse), "MiB")
	r.metric("server memory per connection (heap+stack in use)", perConn, "KiB")
	r.metric("  of which stacks", float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(n)/1024, "KiB")
	r.metric("  live heap objects only (HeapAlloc)", float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n)/1024, "KiB")
	r.metric("server goroutines per connection", float64(after.Goroutines-before.Goroutines)/float64(n), "")

	// The changes: job k goes to publisher k % P, so each job's changes
	// are made one after another and its versions stay in order.
	pub := newPublisher(d, bjobs, cfg.publish)
	since := time.Now()
	if err := child.send(clientCmd{Cmd: "measure", Since: since.UnixNano()}); err != nil {
		return r, err
	}
	smp := startSampler("process: server and the change publisher (clients run in a child process)")
	expected := pub.run(ctx, cfg.rate, cfg.duration, cfg.publishers, subsOf)
	publishSeconds := time.Since(since).Seconds()
	sleepCtx(ctx, time.Second) // let the last changes arrive
	res := smp.stop()
	if err := child.send(clientCmd{Cmd: "report", Final: pub.finalVersions()}); err != nil {
		return r, err
	}
	rep, err := child.next(ctx, "report", time.Minute)
	if err != nil {
		return r, err
	}
	changes := pub.done.Load()
	deliveries := &Phase{Name: "deliveries", Ops: rep.Received, Errors: rep.Disconnects + rep.Errors + pub.failed.Load(),
		Seconds: publishSeconds, Latency: rep.Latency, Resources: res, FirstErrors: append(rep.FirstErrors, pub.errs.list()...)}
	deliveries.PerSecond = float64(rep.Received) / publishSeconds
	r.Phases = append(r.Phases, deliveries)
	r.metric("status changes made", float64(changes), fmt.Sprintf("(%.0f/s, asked %d/s)", float64(changes)/publishSeconds, cfg.rate))
	r.metric("deliveries expected (changes × subscribers of the job)", float64(expected), "")
	r.metric("deliveries received", float64(rep.Received), fmt.Sprintf("(%d coalesced into a newer version or missing)", expected-rep.Received))
	child.stop()
	r.metric("client process CPU (child)", childrenCPU().Seconds(), "s")

	r.check("every subscription opened", ready.Failed == 0, "%d of %d", ready.Subscribed, cfg.subs)
	r.check("every subscription holds each job's final version", rep.Stale == 0, "%d subscriptions behind", rep.Stale)
	r.check("no connection dropped or subscription ended", rep.Disconnects == 0 && rep.Errors == 0, "%d disconnects, %d ended", rep.Disconnects, rep.Errors)
	achieved := float64(changes) / publishSeconds
	r.target("10,000 subscriptions", ready.Subscribed >= 10000, "%d open", ready.Subscribed)
	r.target("1,000 changes/s made", achieved >= 990, "%.0f/s", achieved)
	r.target("delivery p99 < 100 ms", rep.Latency.P99 < 100, "p99 %.1f ms", rep.Latency.P99)
	r.target("< 32 KiB server memory per connection", perConn < 32, "%.1f KiB", perConn)
	r.note("changes are published by %s", map[string]string{
		"store":  "guarded transitions through jobs.Store (PROCESSING→PROCESSING progress), published after commit by jobs.PublishChanges: the real path",
		"broker": "jobs.PublishChanges with synthetic jobs (no database write): jobs.LiveUpdate payloads on the job's and the owner's channels through broker.Publish",
	}[cfg.publish])
	r.note("latency is the client's receive time minus the update's updatedAt, stamped when the change is made; clients and server share one clock")
	return r, nil
}

// publisher makes status changes to the bench jobs.
type publisher struct {
	d      *deployment
	jobs   []benchJob
	mode   string
	done   atomic.Int64
	failed atomic.Int64
	errs   *errorLog

	// versions[k] and progress[k] are job k's, written only by its
	// publisher goroutine.
	versions []int64
	progress []int
}

func newPublisher(d *deployment, bjobs []benchJob, mode string) *publisher {
	p := &publisher{d: d, jobs: bjobs, mode: mode, errs: newErrorLog(),
		versions: make([]int64, len(bjobs)), progress: make([]int, len(bjobs))}
	for k, j := range bjobs {
		p.versions[k] = j.version
	}
	return p
}

// run makes rate changes per second for duration, round robin over the
// jobs, and returns how many deliveries they call for.
func (p *publisher) run(ctx context.Context, rate int, duration time.Duration, workers int, subsOf []int) int64 {
	queues := make([]chan int, workers)
	var wg sync.WaitGroup
	var expected atomic.Int64
	for w := range queues {
		queues[w] = make(chan int, 1024)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range queues[w] {
				if err := p.change(ctx, k); err != nil {
					p.failed.Add(1)
					p.errs.add(err)
					continue
				}
				p.done.Add(1)
				expected.Add(int64(subsOf[k]))
			}
		}()
	}
	start := time.Now()
	issued := 0
	for ctx.Err() == nil {
		elapsed := time.Since(start)
		if elapsed >= duration {
			break
		}
		for due := int(elapsed.Seconds() * float64(rate)); issued < due; issued++ {
			k := issued % len(p.jobs)
			select {
			case queues[k%workers] <- k:
			case <-ctx.Done():
			}
		}
		time.Sleep(time.Millisecond)
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return expected.Load()
}

// change makes one change to job k.
func (p *publisher) change(ctx context.Context, k int) error {
	j := p.jobs[k]
	t := jobs.Transition{JobID: j.id, From: jobs.StatusProcessing, To: jobs.StatusProcessing, Type: "bench_update",
		ExpectAttempt: 1, Source: jobs.SourceWebhook}
	if p.progress[k] < 99 {
		next := p.progress[k] + 1
		t.Type, t.Progress, t.Message = "progress", &next, fmt.Sprintf("%d%%", next)
	}
	if p.mode == "store" {
		job, err := p.d.store.TransitionTx(ctx, t)
		if err != nil {
			return err
		}
		p.versions[k], p.progress[k] = job.Version, job.Progress
		return nil
	}
	// broker: the same payload the store's hook would publish, for a job
	// that changed only here.
	v, prog := p.versions[k]+1, p.progress[k]
	if t.Progress != nil {
		prog = *t.Progress
	}
	from := jobs.StatusProcessing
	job := &jobs.Job{ID: j.id, PublicID: j.publicID, OwnerID: j.owner, Status: jobs.StatusProcessing, Version: v,
		Progress: prog, Attempt: 1, UpdatedAt: p.d.store.Now()}
	jobs.PublishChanges(p.d.broker, p.d.log)(ctx, []jobs.Change{{Job: job, From: &from}})
	p.versions[k], p.progress[k] = v, prog
	return nil
}

// finalVersions returns the last version of every job, by public id. Call
// it after run.
func (p *publisher) finalVersions() map[string]int64 {
	out := make(map[string]int64, len(p.jobs))
	for k, j := range p.jobs {
		out[j.publicID] = p.versions[k]
	}
	return out
}

// childClient is the running child process.
type childClient struct {
	cmd    *exec.Cmd
	stdin  *json.Encoder
	closer func() error
	events chan clientEvent
	dir    string
	once   sync.Once
	// exited is closed once the child has exited, with exitErr set.
	exited  chan struct{}
	exitErr error
}

// startClient starts this binary in client mode with cfg.
func startClient(ctx context.Context, cfg clientConfig) (*childClient, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run its client mode: %w", err)
	}
	dir, err := os.MkdirTemp("", "vidgate-bench-client-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "client.json")
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(exe, clientCommand, path)
	cmd.Env = append(os.Environ(), clientEnv+"="+path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start client process: %w", err)
	}
	c := &childClient{cmd: cmd, stdin: json.NewEncoder(in), closer: in.Close, events: make(chan clientEvent, 4), dir: dir, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var ev clientEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type != "" {
				c.events <- ev
			}
		}
		c.exitErr = cmd.Wait()
		close(c.exited)
		close(c.events)
	}()
	return c, nil
}

func (c *childClient) send(cmd clientCmd) error {
	if err := c.stdin.Encode(cmd); err != nil {
		return fmt.Errorf("client process: %w", err)
	}
	return nil
}

// next waits for the child's next event, of type typ.
func (c *childClient) next(ctx context.Context, typ string, timeout time.Duration) (clientEvent, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ev, ok := <-c.events:
		if !ok {
			<-c.exited
			return ev, fmt.Errorf("client process exited before %q: %v", typ, c.exitErr)
		}
		if ev.Type != typ {
			return ev, fmt.Errorf("client process said %q, want %q", ev.Type, typ)
		}
		return ev, nil
	case <-t.C:
		return clientEvent{}, fmt.Errorf("client process: no %q within %s", typ, timeout)
	case <-ctx.Done():
		return clientEvent{}, ctx.Err()
	}
}

// stop closes the child's stdin (it then closes its connections and
// exits), and kills it if it has not exited within 30s.
func (c *childClient) stop() {
	c.once.Do(func() {
		c.closer()
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
		}
		for range c.events {
		}
		os.RemoveAll(c.dir)
	})
}

// raiseFileLimit raises this process's open-file limit (which the client
// process inherits) to at least n, as far as the hard limit allows.
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	if lim.Max < n {
		return fmt.Errorf("%d connections need %d open files, but the hard limit is %d: raise it (ulimit -Hn) or lower --subs", n-1024, n, lim.Max)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return errors.Join(errors.New("raise RLIMIT_NOFILE"), err)
	}
	return nil
}
