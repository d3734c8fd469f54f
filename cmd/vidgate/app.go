package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/clamd"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/metrics"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/reconciler"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/router"
	"github.com/vidgate/vidgate/providers/setup"
	"github.com/vidgate/vidgate/providers/sim"
)

// app holds what every role shares: the database, the bucket, the vault,
// Redis and its queue, the providers. Whatever it opens, close releases.
type app struct {
	cfg     *config
	log     *slog.Logger
	base    string // the public URL of the API
	db      *bun.DB
	store   *jobs.Store
	vault   *jobs.Vault
	bucket  *blob.Bucket
	rdb     redis.UniversalClient
	queue   *queue.Queue
	relay   *jobs.Relay
	broker  *broker.Broker
	metrics *metrics.Metrics
	reg     *providers.Registry
	router  *router.Router
	// vendors are the providers' settings, as read from the environment.
	vendors setup.Settings
	closers []func()
}

func openApp(ctx context.Context, cfg *config, r role, base string, log *slog.Logger) (a *app, err error) {
	a = &app{cfg: cfg, log: log, base: base}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.db, err = jobs.OpenDB(ctx, cfg.DatabaseURL); err != nil {
		return a, err
	}
	a.closers = append(a.closers, func() { a.db.Close() })
	if err := prepareSchema(ctx, a.db, r == roleEmbedded, log); err != nil {
		return a, err
	}
	a.store = jobs.NewStore(a.db, nil)
	keys, _ := jobs.ParseVaultKeys(cfg.PromptKeys) // check() validated them
	if a.vault, err = jobs.NewVault(keys, mustDecode(cfg.PromptHashKey)); err != nil {
		return a, err
	}
	if a.bucket, err = blob.Open(ctx, cfg.BucketURL, blob.Options{SigningKey: mustDecode(cfg.URLSigningKey), BaseURL: base}); err != nil {
		return a, err
	}
	a.closers = append(a.closers, func() { a.bucket.Close() })
	if a.rdb, err = a.openRedis(ctx); err != nil {
		return a, err
	}
	concurrency, _ := cfg.concurrency() // check() validated it
	for k := range concurrency {
		if r == roleServe {
			concurrency[k] = -1 // the API enqueues; it consumes nothing
		}
	}
	if a.queue, err = queue.New(a.rdb, queue.Config{Prefix: cfg.RedisPrefix, Concurrency: concurrency, VisibilityTimeout: cfg.Visibility, Logger: log}); err != nil {
		return a, err
	}
	// Every process queues the tasks its commits write to the outbox (the
	// relay's fast path); worker processes also run the relay's loop.
	a.relay = jobs.NewRelay(a.store, a.queue, jobs.RelayConfig{Interval: cfg.OutboxInterval, Grace: cfg.OutboxGrace, Logger: log})
	a.closers = append(a.closers, func() { a.relay.Flush(context.Background()) }) // before the database closes
	// Every process publishes the changes it commits; API processes also
	// run the broker's subscriber connection (see runServer).
	a.broker = broker.New(a.rdb, broker.Config{Prefix: cfg.RedisPrefix, Logger: log})
	a.store.OnCommit(jobs.PublishChanges(a.broker, log))
	a.metrics = metrics.New()
	a.store.OnCommit(a.metrics.OnCommit)
	a.metrics.WatchQueue(a.queue)
	a.metrics.WatchStuck(a.store, 10*time.Minute)
	simURL := cfg.SimURL
	if simURL == "" {
		simURL = base + "/sim"
	}
	// Real providers are offered when their API keys are configured
	// (VIDGATE_<PROVIDER>_API_KEY); the simulated provider only with
	// --enable-sim, since any client may pick it and steer it by prompt.
	settings, err := setup.FromEnv(os.LookupEnv)
	if err != nil {
		return a, err
	}
	a.vendors = settings
	vendors, err := settings.Drivers()
	if err != nil {
		return a, err
	}
	var drivers []providers.Driver
	if cfg.EnableSim {
		drivers = append(drivers, a.metrics.WrapDriver(sim.NewDriver(simURL, cfg.SimAPIKey, cfg.SimWebhookKey, nil)))
	}
	for _, d := range vendors {
		drivers = append(drivers, a.metrics.WrapDriver(d))
	}
	if len(drivers) == 0 && r != roleWorker { // workers and operator tools may start empty
		return a, errors.New("no provider is configured: set a provider's API key (see --help) or, for development, --enable-sim")
	}
	if cfg.DefaultProvider == "" && r != roleWorker {
		cfg.DefaultProvider = drivers[0].Name() // sim when enabled, else the first vendor
	}
	// Circuit breakers live in Redis, so that the provider failures the
	// workers see steer the jobs every API process creates (in-process
	// Redis for the embedded default: one process, the same code).
	rcfg := router.Config{Fallback: splitList(cfg.Fallback), Shared: &router.SharedConfig{
		Client: a.rdb, Prefix: cfg.RedisPrefix, Logger: log,
	}}
	if cfg.DefaultProvider != "" { // API processes choose; workers only route calls
		rcfg.Default = map[providers.Workflow]string{
			providers.WorkflowTextToVideo:  cfg.DefaultProvider,
			providers.WorkflowImageToVideo: cfg.DefaultProvider,
		}
	}
	a.router, err = router.New(providers.NewRegistry(drivers...), rcfg)
	if err != nil {
		return a, fmt.Errorf("providers: %w", err)
	}
	a.reg = a.router.Registry()
	a.metrics.Known(a.reg.Names()...)
	return a, nil
}

// openRedis connects to VIDGATE_REDIS_URL, or starts the embedded default's
// in-process Redis-protocol server when there is none.
func (a *app) openRedis(ctx context.Context) (redis.UniversalClient, error) {
	redis.SetLogger(&redisLogger{log: a.log, interval: 10 * time.Second})
	var rdb redis.UniversalClient
	switch url := a.cfg.RedisURL; {
	case url == "":
		var err error
		if rdb, err = a.startEmbeddedRedis(); err != nil {
			return nil, err
		}
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		rdb = redis.NewClient(opts)
	default:
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(url, ",")})
	}
	a.closers = append(a.closers, func() { rdb.Close() })
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return rdb, nil
}

func (a *app) workerConfig() worker.Config {
	var scanner blob.Scanner
	if a.cfg.ClamdAddr != "" {
		// check() validated the address; clamd is not dialed until a scan.
		if s, err := clamd.New(clamd.Config{Addr: a.cfg.ClamdAddr}); err == nil {
			scanner = s
		}
	}
	return worker.Config{
		Scanner:           scanner,
		WebhookBaseURL:    a.base,
		MaxAttempts:       a.cfg.MaxAttempts,
		PollAfter:         a.cfg.PollAfter,
		MaxArtifactBytes:  a.cfg.MaxArtifactBytes,
		ArtifactRetention: a.cfg.Retention,
		OnWebhook:         a.metrics.Webhook,
		OnArtifact:        a.metrics.ArtifactStored,
		Logger:            a.log,
	}
}

func (a *app) newReconciler() *reconciler.Reconciler {
	return reconciler.New(a.store, a.queue, a.reg, a.bucket, a.rdb, reconciler.Config{Prefix: a.cfg.RedisPrefix,
		SourceAssetRetention: a.cfg.Retention, Logger: a.log,
		Interval: a.cfg.ReconcileInterval, QueuedAfter: a.cfg.ReconcileQueuedAfter, SubmitAfter: a.cfg.ReconcileSubmitAfter,
		StaleAfter: a.cfg.ReconcileStaleAfter, CancelWindow: a.cfg.ReconcileCancelWindow, Lease: a.cfg.ReconcileLease})
}

// runWorkers runs the workers, the outbox relay's loop, and the reconciler
// where configured, until ctx ends.
func (a *app) runWorkers(ctx context.Context) error {
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		a.relay.Run(ctx)
	}()
	defer func() { <-relayed }()
	if a.cfg.Reconcile {
		rec := a.newReconciler()
		done := make(chan struct{})
		go func() {
			defer close(done)
			rec.Run(ctx)
		}()
		defer func() { <-done }()
	}
	return a.newWorker().Run(ctx, a.cfg.ShutdownGrace)
}

func (a *app) newWorker() *worker.Worker {
	return worker.New(a.store, a.vault, a.queue, a.reg, a.bucket, a.workerConfig())
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// choose is the Service's provider choice: the router's.
func (a *app) choose(workflow, requested string) (string, string, error) {
	return a.router.Choose(providers.Workflow(workflow), requested)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
