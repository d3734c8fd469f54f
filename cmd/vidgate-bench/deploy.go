package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/keyspace"
	"github.com/vidgate/vidgate/jobs/migrations"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// deployOptions say what to run in-process.
type deployOptions struct {
	// backend is "sqlite" (a file in a temporary directory) or "postgres"
	// (a fresh schema of databaseURL, dropped on close).
	backend     string
	databaseURL string
	// redis is "embedded" (miniredis, as `vidgate` runs by default) or a
	// redis:// URL, used under a random key prefix that is deleted on close.
	redis string
	// workers is how many worker processes to run (each with its own
	// queue consumer); 0 runs none, so jobs stay QUEUED.
	workers     int
	concurrency map[queue.Kind]int
	pollAfter   time.Duration
	simLatency  time.Duration
	// logLevel and logOut: the deployment logs as `vidgate` does (JSON),
	// at logLevel ("off" for nothing) into logOut.
	logLevel string
	logOut   io.Writer
	// onCommit, when set, hears of every committed change (registered
	// before anything runs, as Store.OnCommit asks).
	onCommit func(ctx context.Context, changes []jobs.Change)
}

// deployment is vidgate running in this process, wired as `vidgate`
// (cmd/vidgate) wires its embedded default: API with webhook intake and
// simulated provider behind one HTTP server, a broker publishing every
// committed change, and optionally workers.
type deployment struct {
	url       string
	db        *bun.DB
	store     *jobs.Store
	vault     *jobs.Vault
	svc       *jobs.Service
	queue     *queue.Queue
	broker    *broker.Broker
	rdb       redis.UniversalClient
	prefix    string
	authn     *auth.Authenticator
	jwtSecret []byte
	simSecret string
	log       *slog.Logger
	// webhooks counts the intake's answers by HTTP status.
	webhooks *statusCounter
	// label says what runs: "in-process sqlite+embedded" and so on.
	label string

	closers []func()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func newLogger(level string, out io.Writer) (*slog.Logger, error) {
	if level == "off" {
		return slog.New(slog.DiscardHandler), nil
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn, error or off", level)
	}
	return slog.New(server.LogHandler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lv}))), nil
}

// deploy starts a deployment; close releases everything it made, also
// when deploy fails half way.
func deploy(ctx context.Context, o deployOptions) (d *deployment, err error) {
	d = &deployment{webhooks: &statusCounter{}}
	defer func() {
		if err != nil {
			d.close()
			d = nil
		}
	}()
	if d.log, err = newLogger(o.logLevel, o.logOut); err != nil {
		return d, err
	}
	if err := d.openDB(ctx, o); err != nil {
		return d, err
	}
	if err := d.openRedis(ctx, o.redis); err != nil {
		return d, err
	}
	d.label = "in-process " + o.backend + "+redis"
	if o.redis == "embedded" {
		d.label = "in-process " + o.backend + "+embedded"
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return d, fmt.Errorf("listen: %w", err)
	}
	d.closers = append(d.closers, func() { ln.Close() }) // until the server owns it
	d.url = "http://" + ln.Addr().String()

	d.store = jobs.NewStore(d.db, nil)
	if d.vault, err = jobs.NewVault([]jobs.VaultKey{{ID: "bench", Key: randomBytes(32)}}, randomBytes(32)); err != nil {
		return d, err
	}
	tmp, err := os.MkdirTemp("", "vidgate-bench-bucket-")
	if err != nil {
		return d, err
	}
	d.closers = append(d.closers, func() { os.RemoveAll(tmp) })
	bucket, err := blob.Open(ctx, "file://"+filepath.ToSlash(tmp), blob.Options{SigningKey: randomBytes(32), BaseURL: d.url})
	if err != nil {
		return d, err
	}
	d.closers = append(d.closers, func() { bucket.Close() })

	// The API process enqueues and consumes nothing, as `vidgate serve`.
	apiOnly := map[queue.Kind]int{}
	for _, k := range queue.Kinds {
		apiOnly[k] = -1
	}
	if d.queue, err = queue.New(d.rdb, queue.Config{Prefix: d.prefix, Consumer: "bench-api", Concurrency: apiOnly, Logger: d.log}); err != nil {
		return d, err
	}
	// Tasks written with their commits (the outbox) go to the queue at once;
	// the relay's loop runs once, as in a worker process.
	relay := jobs.NewRelay(d.store, d.queue, jobs.RelayConfig{Logger: d.log})
	d.broker = broker.New(d.rdb, broker.Config{Prefix: d.prefix, Logger: d.log})
	d.store.OnCommit(jobs.PublishChanges(d.broker, d.log))
	if o.onCommit != nil {
		d.store.OnCommit(o.onCommit)
	}

	d.simSecret = stdwebhooks.NewSecret()
	simsrv := sim.New(sim.Config{
		Prefix: "/sim", WebhookSecret: d.simSecret, PublicURL: d.url,
		Defaults: sim.Behavior{Latency: o.simLatency}, Logger: d.log,
	})
	reg := providers.NewRegistry(sim.NewDriver(d.url+"/sim", "", d.simSecret, nil))
	wcfg := worker.Config{WebhookBaseURL: d.url, PollAfter: o.pollAfter, Logger: d.log}

	d.jwtSecret = randomBytes(32)
	if d.authn, err = auth.New(auth.Config{HS256Secret: d.jwtSecret}); err != nil {
		return d, err
	}
	if d.svc, err = jobs.NewService(d.store, d.vault, jobs.ServiceConfig{Providers: reg.Names(), Logger: d.log}); err != nil {
		return d, err
	}
	handler := server.New(d.svc, bucket, d.authn, server.Config{
		// The subscribers scenario opens thousands of connections for a few
		// owners: the per-identity cap is not what it measures.
		Broker: d.broker, Logger: d.log, MaxConnectionsPerIdentity: -1,
		Mount: map[string]http.Handler{
			"POST /webhooks/{provider}": d.webhooks.wrap(worker.NewIntake(d.store, reg, d.queue, wcfg)),
			"/sim/":                     simsrv,
		},
	})

	// Everything that runs stops on one context; close cancels it and waits.
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		srv.Serve(ln)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.broker.Run(rctx)
	}()
	go func() {
		defer wg.Done()
		relay.Run(rctx)
	}()
	for i := range o.workers {
		q, err := queue.New(d.rdb, queue.Config{Prefix: d.prefix, Consumer: fmt.Sprintf("bench-w%d", i+1), Concurrency: o.concurrency, Logger: d.log})
		if err != nil {
			stop()
			handler.CloseConnections()
			srv.Close()
			wg.Wait()
			return d, err
		}
		w := worker.New(d.store, d.vault, q, reg, bucket, wcfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(rctx, 5*time.Second)
		}()
	}
	d.closers = append(d.closers, func() {
		stop()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		handler.CloseConnections() // WebSockets are hijacked: Shutdown does not close them
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		simsrv.Close()
		wg.Wait()
	})
	return d, nil
}

// openDB opens and migrates the database of o.backend.
func (d *deployment) openDB(ctx context.Context, o deployOptions) error {
	var dsn string
	switch o.backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "vidgate-bench-db-")
		if err != nil {
			return err
		}
		d.closers = append(d.closers, func() { os.RemoveAll(dir) })
		dsn = "sqlite:" + filepath.Join(dir, "vidgate.db")
	case "postgres":
		admin, err := jobs.OpenDB(ctx, o.databaseURL)
		if err != nil {
			return err
		}
		schema := "vgbench_" + randomHex(6)
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			admin.Close()
			return fmt.Errorf("create schema: %w", err)
		}
		d.closers = append(d.closers, func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := admin.ExecContext(cctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				fmt.Fprintf(os.Stderr, "vidgate-bench: drop schema %s: %v\n", schema, err)
			}
			admin.Close()
		})
		u, err := url.Parse(o.databaseURL)
		if err != nil {
			return fmt.Errorf("--database-url: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn = u.String()
	default:
		return fmt.Errorf("--backend %q: want sqlite or postgres", o.backend)
	}
	db, err := jobs.OpenDB(ctx, dsn)
	if err != nil {
		return err
	}
	d.db = db
	d.closers = append(d.closers, func() { db.Close() })
	if _, err := migrations.Migrate(ctx, db); err != nil {
		return err
	}
	return nil
}

// openRedis connects to Redis, or starts miniredis for "embedded".
func (d *deployment) openRedis(ctx context.Context, spec string) error {
	d.prefix = "vgbench-" + randomHex(4)
	if spec == "embedded" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start in-process redis: %w", err)
		}
		d.closers = append(d.closers, mr.Close)
		d.rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
		d.closers = append(d.closers, func() { d.rdb.Close() })
		return nil
	}
	if !strings.HasPrefix(spec, "redis://") && !strings.HasPrefix(spec, "rediss://") {
		return fmt.Errorf("--redis %q: want embedded or a redis:// URL", spec)
	}
	opts, err := redis.ParseURL(spec)
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	rdb := redis.NewClient(opts)
	d.rdb = rdb
	d.closers = append(d.closers, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := deleteKeys(cctx, rdb, d.prefix); err != nil {
			fmt.Fprintf(os.Stderr, "vidgate-bench: delete redis keys %s:*: %v\n", d.prefix, err)
		}
		rdb.Close()
	})
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("connect to redis: %w", err)
	}
	return nil
}

// deleteKeys deletes every key under prefix.
func deleteKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	iter := rdb.Scan(ctx, 0, keyspace.New(prefix).Match(), 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Del(ctx, batch...).Err()
	}
	return nil
}

func (d *deployment) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// token issues a bearer token for a user.
func (d *deployment) token(subject string) (string, error) {
	return d.authn.Issue(subject, jobs.RoleUser, 2*time.Hour)
}

// statusCounter counts a handler's answers by HTTP status.
type statusCounter struct {
	mu     sync.Mutex
	counts map[int]int64
	total  atomic.Int64
}

func (c *statusCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		c.total.Add(1)
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[int]int64{}
		}
		c.counts[rec.status]++
		c.mu.Unlock()
	})
}

func (c *statusCounter) get(status int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[status]
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// errStatus is an HTTP answer that was not the one expected.
type errStatus struct {
	status int
	body   string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

var errNoDeployment = errors.New("this scenario needs an in-process deployment (it sets jobs up through the store): drop --target")
