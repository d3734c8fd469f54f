package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob/imgcheck"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/migrations"
	"github.com/vidgate/vidgate/jobs/ratelimit"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/resolvers"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// runServer runs the HTTP API until ctx ends. The embedded default also
// runs the workers and the simulated provider in the same process, fills
// every missing setting with a local default, migrates at start, and prints
// the IDE URL and ready-to-use tokens.
func runServer(ctx context.Context, args []string, embedded bool, stdout, stderr io.Writer) error {
	r, name, summary := roleServe, "serve", "Run the vidgate API against the configured database, Redis and bucket.\nThe database must be migrated first: vidgate migrate."
	if embedded {
		r, name, summary = roleEmbedded, "", "Run vidgate in one process with embedded defaults: API, workers and the simulated\nprovider, a SQLite file, a local bucket and an in-process Redis under --data-dir."
	}
	var cfg config
	fs := newFlagSet(name, summary, stderr)
	cfg.register(fs, r)
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg.defaultSim(fs, r)
	if embedded {
		if err := cfg.fillEmbedded(); err != nil {
			return err
		}
	}
	if err := cfg.check(r); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	base := cfg.publicURL(ln.Addr().String())
	a, err := openApp(ctx, &cfg, r, base, log)
	if err != nil {
		return err
	}
	defer a.close()

	authn, err := auth.New(cfg.auth(a.store, log))
	if err != nil {
		return err
	}
	svc, err := jobs.NewService(a.store, a.vault, jobs.ServiceConfig{
		Providers: a.reg.Names(), DefaultProvider: cfg.DefaultProvider, MaxJobAge: cfg.MaxJobAge,
		Choose: a.choose, Logger: log, MaxActiveJobs: cfg.MaxActiveJobs,
		ReviewClaimTTL: cfg.ReviewClaimTTL,
		Drivers:        a.reg, AllowUnlistedModels: a.vendors.AllowsUnlistedModels,
		CreateLimit: ratelimit.New(a.rdb, cfg.RedisPrefix, "create", cfg.CreateRate, time.Minute),
		Files:       a.bucket, SourceAssetTTL: cfg.SourceAssetTTL,
		Uploads: imgcheck.Limits{MaxBytes: cfg.MaxUploadBytes, MinSide: cfg.MinImageSide, MaxSide: cfg.MaxImageSide,
			MaxDecodedBytes: cfg.UploadDecodeMemory},
		Decodes:      imgcheck.NewGate(cfg.UploadDecodes, cfg.UploadDecodeWait),
		DailyUploads: cfg.DailyUploads, DailyUploadBytes: cfg.DailyUploadBytes,
	})
	if err != nil {
		return err
	}
	mount := map[string]http.Handler{
		"POST /webhooks/{provider}": worker.NewIntake(a.store, a.reg, a.queue, a.workerConfig()),
		"GET /metrics":              metricsAuth(authn, cfg.MetricsToken, a.metrics.Handler()),
	}
	if cfg.EnableSim && cfg.MountSim {
		simsrv := sim.New(sim.Config{
			Prefix: "/sim", APIKey: cfg.SimAPIKey, WebhookSecret: cfg.SimWebhookKey, PublicURL: base,
			Defaults: sim.Behavior{Latency: cfg.SimLatency}, MaxOutputSize: cfg.SimMaxOutput, Logger: log,
		})
		defer simsrv.Close()
		mount["/sim/"] = simsrv
	}
	handler := server.New(svc, a.bucket, authn, server.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, MaxUploadBytes: cfg.MaxUploadBytes, DownloadURLTTL: cfg.DownloadURLTTL, Mount: mount, Logger: log, Metrics: a.metrics,
		Broker: a.broker, AllowedOrigins: cfg.allowedOrigins(), MaxSubscriptions: cfg.MaxSubscriptions,
		CORSOrigins: cfg.corsOrigins(), TrustedProxies: cfg.trustedProxies(),
		MaxConnectionsPerIdentity: cfg.connCap(),
	})

	a.metrics.WatchConnections(handler.OpenConnections, resolvers.ActiveSubscriptions)

	// The broker outlives the HTTP server: on shutdown WebSockets are
	// closed first (1001, their subscriptions not completed, so clients
	// subscribe again elsewhere), then the broker stops. The other way
	// round, its end would complete every subscription before the close.
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBroker()
	var workers sync.WaitGroup
	workers.Add(1)
	go func() {
		defer workers.Done()
		if err := a.broker.Run(brokerCtx); err != nil {
			log.Error("live updates stopped", "err", err)
		}
	}()
	if embedded {
		workers.Add(1)
		go func() {
			defer workers.Done()
			if err := a.runWorkers(ctx); err != nil {
				log.Error("workers stopped", "err", err)
			}
		}()
		if err := printBanner(stdout, base, cfg.DataDir, cfg.EnableSim, authn); err != nil {
			return err
		}
	}
	log.Info("vidgate listening", "addr", ln.Addr().String(), "public_url", base, "embedded", embedded, "sim", cfg.EnableSim)
	err = serveHTTP(ctx, ln, handler, cfg.ShutdownGrace, log, handler.CloseConnections)
	stopBroker()
	workers.Wait()
	return err
}

// runWorker runs the workers until ctx ends.
func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg config
	fs := newFlagSet("worker", "Run vidgate workers: they consume the Redis streams and own all traffic to the providers.\nRun as many as you like against one database, Redis and bucket.", stderr)
	cfg.register(fs, roleWorker)
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg.defaultSim(fs, roleWorker)
	if err := cfg.check(roleWorker); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	a, err := openApp(ctx, &cfg, roleWorker, base, log)
	if err != nil {
		return err
	}
	defer a.close()
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		go serveHTTP(ctx, mln, mux, time.Second, log)
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	log.Info("vidgate worker running", "consumer", a.queue.Consumer(), "public_url", base)
	err = a.runWorkers(ctx)
	log.Info("vidgate worker stopped")
	return err
}

// prepareSchema migrates the embedded default's database; a served
// database must already be migrated, so that N processes starting at once
// never race a schema change mid-deploy.
func prepareSchema(ctx context.Context, db *bun.DB, embedded bool, log *slog.Logger) error {
	if embedded {
		applied, err := migrations.Migrate(ctx, db)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			log.Info("migrated database", "applied", applied)
		}
		return nil
	}
	pending, err := migrations.Pending(ctx, db)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database needs migrations %s: run `vidgate migrate` first", strings.Join(pending, ", "))
	}
	return nil
}

// serveHTTP serves until ctx ends, then stops accepting, runs onShutdown
// (closing WebSockets) and gives in-flight requests up to grace to finish.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log *slog.Logger, onShutdown ...func()) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	// Shutdown runs these on goroutines of their own, once the listener is
	// closed, and does not wait for them; the caller may stop what they
	// depend on once serveHTTP returns, so it waits.
	var closing sync.WaitGroup
	for _, fn := range onShutdown {
		closing.Add(1)
		srv.RegisterOnShutdown(func() { defer closing.Done(); fn() })
	}
	err := srv.Shutdown(sctx)
	closing.Wait()
	if err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func printBanner(w io.Writer, base, dataDir string, simOn bool, authn *auth.Authenticator) error {
	user, err := authn.Issue("alice", jobs.RoleUser, 7*24*time.Hour)
	if err != nil {
		return err
	}
	reviewer, err := authn.Issue("rita", jobs.RoleReviewer, 7*24*time.Hour)
	if err != nil {
		return err
	}
	simLine := "off (--enable-sim turns it on)"
	if simOn {
		simLine = "on: any client may pick provider sim (--enable-sim=false turns it off)"
	}
	_, err = fmt.Fprintf(w, `
vidgate is running with embedded defaults (data in %s)

  GraphQL IDE   %s/
  GraphQL API   %s/graphql
  Review dashboard  %s/review  (sign in with the reviewer token)
  Simulated provider  %s

  User token (alice, user; valid 7 days):
    %s

  Reviewer token (rita, reviewer; valid 7 days):
    %s

  Try it in a shell:
    export USER_TOKEN=%s
    curl -s %s/graphql -H "Authorization: Bearer $USER_TOKEN" -H 'Content-Type: application/json' \
      -d '{"query":"{ viewer { id role } }"}'

`, dataDir, base, base, base, simLine, user, reviewer, user, base)
	return err
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(server.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))), nil
}

// metricsAuth lets a scraper in with the metrics token, or an admin with
// their bearer token: metrics show volumes and failure rates, which are not
// for every caller.
func metricsAuth(authn *auth.Authenticator, token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		bearer, ok := strings.CutPrefix(h, "Bearer ")
		if ok && token != "" && subtle.ConstantTimeCompare([]byte(bearer), []byte(token)) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if actor, err := authn.FromRequest(r); err == nil && actor.Role == jobs.RoleAdmin {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="vidgate metrics"`)
		http.Error(w, "metrics need the metrics token or an admin's bearer token", http.StatusUnauthorized)
	})
}
