package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/ratelimit"
	"github.com/vidgate/vidgate/jobs/reconciler"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
	"github.com/vidgate/vidgate/server/gqltest"
)

// backend is one database and one Redis.
type backend struct {
	name  string
	db    func(t *testing.T) *bun.DB
	redis func(t *testing.T) redis.UniversalClient
}

// backends are SQLite with an in-process Redis always, and PostgreSQL with
// real Redis when both test URLs are set (CI sets them).
func backends(t *testing.T) []backend {
	b := []backend{{"sqlite+miniredis", func(t *testing.T) *bun.DB { return jobstest.SQLite(t) }, miniRedis}}
	pg, rd := os.Getenv(jobstest.EnvDatabaseURL), os.Getenv("VIDGATE_TEST_REDIS_URL")
	switch {
	case pg != "" && rd != "":
		b = append(b, backend{"postgres+redis", func(t *testing.T) *bun.DB { return jobstest.Postgres(t) }, realRedis})
	case os.Getenv("CI") == "true":
		t.Fatal("CI must set VIDGATE_TEST_DATABASE_URL and VIDGATE_TEST_REDIS_URL")
	}
	return b
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func miniRedis(t *testing.T) redis.UniversalClient {
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func realRedis(t *testing.T) redis.UniversalClient {
	opts, err := redis.ParseURL(os.Getenv("VIDGATE_TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// deployment is vidgate running in the test: API, webhook intake,
// simulated provider and two workers behind one HTTP server.
type deployment struct {
	url    string
	db     *bun.DB
	rdb    redis.UniversalClient
	prefix string
	vault  *jobs.Vault
	authn  *auth.Authenticator
	reg    *providers.Registry
	log    *slog.Logger
	ctx    context.Context // ends when the test does
	store  *jobs.Store
	sim    *sim.Server
	bucket *blob.Bucket
	queue  *queue.Queue
	tokens map[string]string
	// simSecret signs the simulated provider's webhooks.
	simSecret string
	opts      options
}

type options struct {
	// simLatency is the simulated provider's default latency.
	simLatency time.Duration
	// pollAfter is the first safety-net poll of a job with webhooks.
	pollAfter time.Duration
	// maxAttempts caps submissions.
	maxAttempts int
	// logTo, when set, receives every log line as JSON.
	logTo io.Writer
	// createRate and maxActive limit each owner (0: no limit).
	createRate, maxActive int
	// reconcile runs the reconciler, with thresholds of about a second;
	// reconcileDefaults with its production defaults instead.
	reconcile, reconcileDefaults bool
	// providerTimeout bounds each call to the provider (default 30s).
	providerTimeout time.Duration
	// onRelay hears of every pass of the outbox relay's loop.
	onRelay func(sent int, err error)
	// noWorkers leaves the task streams unconsumed: for tests that drive
	// jobs by hand (a job's submit task still goes out to its stream).
	noWorkers bool
}

func deploy(t *testing.T, b backend, o options) *deployment {
	t.Helper()
	ctx := context.Background()
	if o.simLatency == 0 {
		o.simLatency = 30 * time.Millisecond
	}
	if o.pollAfter == 0 {
		o.pollAfter = 2 * time.Second
	}
	if o.maxAttempts == 0 {
		o.maxAttempts = 3
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.logTo != nil {
		log = slog.New(server.LogHandler(slog.NewJSONHandler(o.logTo, &slog.HandlerOptions{Level: slog.LevelDebug})))
	} else if os.Getenv("VIDGATE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d := &deployment{tokens: map[string]string{}, opts: o}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	d.url = ts.URL

	var err error
	d.db = b.db(t)
	d.store = jobs.NewStore(d.db, nil)
	vault := jobstest.Vault(t)
	d.vault, d.log = vault, log
	d.bucket, err = blob.Open(ctx, "file://"+t.TempDir(), blob.Options{SigningKey: randomBytes(32), BaseURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.bucket.Close() })
	rdb := b.redis(t)
	prefix := "vgtest-" + hex.EncodeToString(randomBytes(4))
	d.rdb, d.prefix = rdb, prefix
	t.Cleanup(func() { deleteKeys(rdb, prefix) })
	qcfg := func(consumer string, consume bool) queue.Config {
		c := queue.Config{
			Prefix: prefix, Consumer: consumer, Block: 100 * time.Millisecond, PollInterval: 25 * time.Millisecond,
			VisibilityTimeout: 3 * time.Second, BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Logger: log,
		}
		if !consume {
			c.Concurrency = map[queue.Kind]int{}
			for _, k := range queue.Kinds {
				c.Concurrency[k] = -1
			}
		}
		return c
	}
	d.queue, err = queue.New(rdb, qcfg("api", false))
	if err != nil {
		t.Fatal(err)
	}

	secret := stdwebhooks.NewSecret()
	d.simSecret = secret
	d.sim = sim.New(sim.Config{
		Prefix: "/sim", WebhookSecret: secret, PublicURL: ts.URL,
		Defaults: sim.Behavior{Latency: o.simLatency}, WebhookBackoff: 50 * time.Millisecond, Logger: log,
		MaxOutputSize: 1 << 30, // TestLargeArtifactBoundedMemory copies a 200 MB output
	})
	t.Cleanup(d.sim.Close)
	reg := providers.NewRegistry(sim.NewDriver(ts.URL+"/sim", "", secret, nil))
	d.reg = reg
	wctx, stop := context.WithCancel(ctx)
	d.ctx = wctx
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	wcfg := worker.Config{WebhookBaseURL: ts.URL, MaxAttempts: o.maxAttempts, PollAfter: o.pollAfter,
		PollEvery: 200 * time.Millisecond, ProviderTimeout: o.providerTimeout, Logger: log}

	authn, err := auth.New(auth.Config{HS256Secret: randomBytes(32)})
	if err != nil {
		t.Fatal(err)
	}
	d.authn = authn
	mux.Handle("/", d.apiHandler(t, wctx, d.store, &wg, map[string]http.Handler{
		"POST /webhooks/{provider}": worker.NewIntake(d.store, reg, d.queue, wcfg),
		"/sim/":                     d.sim,
	}))

	// The outbox relay's loop, as the worker processes run it, with the
	// defaults of vidgate's flags.
	relay := jobs.NewRelay(d.store, d.queue, jobs.RelayConfig{Logger: log, OnPass: o.onRelay})
	wg.Add(1)
	go func() {
		defer wg.Done()
		relay.Run(wctx)
	}()

	// Two workers, as two processes would run them.
	workers := []string{"w1", "w2"}
	if o.noWorkers {
		workers = nil
	}
	for _, name := range workers {
		q, err := queue.New(rdb, qcfg(name, true))
		if err != nil {
			t.Fatal(err)
		}
		w := worker.New(d.store, vault, q, reg, d.bucket, wcfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(wctx, time.Second)
		}()
	}
	if o.reconcile {
		rcfg := reconciler.Config{
			Prefix: prefix, Interval: 200 * time.Millisecond, QueuedAfter: time.Second, SubmitAfter: time.Second,
			StaleAfter: 1500 * time.Millisecond, Lease: 3 * time.Second, Logger: log,
		}
		if o.reconcileDefaults {
			rcfg = reconciler.Config{Prefix: prefix, Logger: log}
		}
		rec := reconciler.New(d.store, d.queue, reg, d.bucket, rdb, rcfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec.Run(wctx)
		}()
	}

	for who, role := range map[string]jobs.Role{"alice": jobs.RoleUser, "bob": jobs.RoleUser, "rita": jobs.RoleReviewer, "ada": jobs.RoleAdmin} {
		d.tokens[who], _ = authn.Issue(who, role, time.Hour)
	}
	return d
}

// apiHandler builds an API server over store with its own broker, as one
// API process has: the changes it commits are published through its broker,
// and its subscriptions listen through it.
func (d *deployment) apiHandler(t *testing.T, ctx context.Context, store *jobs.Store, wg *sync.WaitGroup, mount map[string]http.Handler) http.Handler {
	t.Helper()
	b := broker.New(d.rdb, broker.Config{Prefix: d.prefix, Logger: d.log})
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Run(ctx)
	}()
	store.OnCommit(jobs.PublishChanges(b, d.log))
	jobs.NewRelay(store, d.queue, jobs.RelayConfig{Logger: d.log}) // its commits' tasks: at once
	svc, err := jobs.NewService(store, d.vault, jobs.ServiceConfig{Providers: d.reg.Names(), Drivers: d.reg, Logger: d.log,
		CreateLimit: ratelimit.New(d.rdb, d.prefix, "create", d.opts.createRate, time.Minute), MaxActiveJobs: d.opts.maxActive})
	if err != nil {
		t.Fatal(err)
	}
	return server.New(svc, d.bucket, d.authn, server.Config{Logger: d.log, Broker: b, Mount: mount, MaxSubscriptions: 5})
}

// addAPI starts a second API process: its own HTTP server, store and
// broker, sharing the database and Redis. It returns its URL.
func (d *deployment) addAPI(t *testing.T) string {
	t.Helper()
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(d.ctx)
	ts := httptest.NewServer(d.apiHandler(t, ctx, jobs.NewStore(d.db, nil), &wg, nil))
	t.Cleanup(func() { ts.Close(); stop(); wg.Wait() })
	return ts.URL
}

func (d *deployment) as(who string) gqltest.Client {
	return gqltest.Client{URL: d.url + "/graphql", Token: d.tokens[who]}
}

const jobFields = `id status statusCopy nextStep version progress attempt nextAttemptAt error { code message }
  events { version type previousStatus newStatus source message errorCode }
  artifacts { id kind mimeType sizeBytes sha256 durationSeconds width height downloadUrl }
  reviews { decision reasons }`

// create makes a job with prompt as alice and returns its id.
func (d *deployment) create(t *testing.T, prompt string) string {
	t.Helper()
	r := d.as("alice").Do(t, `mutation($p: String!) { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: $p}) { job { id status } } }`,
		map[string]any{"p": prompt}).OK(t)
	if s := r.Str("createVideoJob.job.status"); s != "QUEUED" {
		t.Fatalf("createVideoJob status = %s, want QUEUED", s)
	}
	return r.Str("createVideoJob.job.id")
}

// job reads a job as alice.
func (d *deployment) job(t *testing.T, id string) gqltest.Response {
	t.Helper()
	return d.as("alice").Do(t, `query($id: ID!) { job(id: $id) { `+jobFields+` } }`, map[string]any{"id": id}).OK(t)
}

// waitFor polls the job until its status is one of want, and fails the test
// if it ends in another terminal status or takes longer than patience.
func (d *deployment) waitFor(t *testing.T, id string, patience time.Duration, want ...string) gqltest.Response {
	t.Helper()
	deadline := time.Now().Add(patience)
	var r gqltest.Response
	for time.Now().Before(deadline) {
		r = d.job(t, id)
		status := r.Str("job.status")
		for _, w := range want {
			if status == w {
				return r
			}
		}
		if jobs.Status(status).Terminal() {
			t.Fatalf("job %s ended %s (%v), want %v; events %v", id, status, r.Get("job.error"), want, eventTypes(r))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s is %s after %v, want %v; events %v", id, r.Str("job.status"), patience, want, eventTypes(r))
	return r
}

func eventTypes(r gqltest.Response) []string {
	var out []string
	for _, e := range r.List("job.events") {
		out = append(out, e["type"].(string))
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func deleteKeys(rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

// get downloads url.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}
