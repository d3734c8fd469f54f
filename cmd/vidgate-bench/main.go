// Command vidgate-bench is vidgate's load tool. Each scenario starts a
// vidgate deployment in this process (or targets a running one, where the
// scenario allows), drives one path of it, and prints throughput, latency
// percentiles, errors, and the server's CPU and memory:
//
//	vidgate-bench create       createVideoJob over HTTP, and the same work through jobs.Service
//	vidgate-bench webhooks     signed, duplicated, reordered webhook deliveries; no double transitions
//	vidgate-bench pipeline     jobs/s from QUEUED to COMPLETED through the workers and the simulated provider
//	vidgate-bench subscribers  many WebSocket subscriptions; delivery latency and memory per connection
//
// Every scenario takes --smoke (tiny sizes, a few seconds, non-zero exit on
// any error) and --json out.json. BENCHMARKS.md holds the numbers and the
// commands that produced them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vidgate-bench:", err)
		os.Exit(1)
	}
}

const usage = `vidgate-bench — load scenarios for vidgate.

Usage:
  vidgate-bench create [flags]       createVideoJob over HTTP vs. the same work through jobs.Service
  vidgate-bench webhooks [flags]     signed webhook deliveries with duplicates and reordering
  vidgate-bench pipeline [flags]     end-to-end jobs/s through the workers (simulated provider, no latency)
  vidgate-bench subscribers [flags]  WebSocket subscriptions: delivery latency, memory per connection

Every scenario takes --smoke (tiny sizes, exits non-zero on any error) and
--json FILE. Run 'vidgate-bench <scenario> --help' for its flags.
`

// scenario runs one scenario and returns its report (also on error, when
// something was measured).
type scenario func(ctx context.Context, cfg *config) (*Report, error)

var scenarios = map[string]scenario{
	"create":      runCreate,
	"webhooks":    runWebhooks,
	"pipeline":    runPipeline,
	"subscribers": runSubscribers,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	name := args[0]
	if name == clientCommand {
		return runClient(ctx, args[1:], os.Stdin, stdout)
	}
	fn, ok := scenarios[name]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown scenario %q", name)
	}
	cfg, err := parseConfig(name, args[1:], stderr)
	if err != nil {
		return err
	}
	if cfg.logFile != "" {
		f, err := os.Create(cfg.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.logOut = f
	}
	if cfg.waitIdle > 0 {
		if busy, ok := waitIdle(ctx, cfg.waitIdle); !ok {
			fmt.Fprintf(stderr, "vidgate-bench %s: the machine is still busy (%.2f CPUs in use by others) after --wait-idle %s; running anyway\n", name, busy, cfg.waitIdle)
		}
	}
	fmt.Fprintf(stderr, "vidgate-bench %s: running (%s)…\n", name, cfg.describe())
	if cfg.profileDir != "" {
		stop, err := startCPUProfile(cfg.profileDir)
		if err != nil {
			return err
		}
		defer stop()
	}
	report, err := fn(ctx, cfg)
	if report != nil {
		report.Smoke = cfg.smoke
		if cfg.smoke && len(report.Targets) > 0 {
			report.Targets = nil // smoke sizes say nothing about them
			report.note("--smoke: tiny sizes; the performance targets are not evaluated")
		}
		report.Print(stdout)
		if cfg.jsonPath != "" {
			if werr := report.WriteJSON(cfg.jsonPath); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: interrupted", name)
	}
	return report.Failed()
}

// config holds every scenario's flags; each scenario registers its own.
type config struct {
	scenario string
	args     []string
	given    map[string]bool

	duration    time.Duration
	warmup      time.Duration
	concurrency int
	backend     string
	databaseURL string
	redis       string
	jsonPath    string
	smoke       bool
	target      string
	token       string
	logLevel    string
	logFile     string
	logOut      io.Writer
	seed        uint64
	waitIdle    time.Duration
	profileDir  string

	// create
	users int
	// webhooks and pipeline
	jobs int
	// webhooks
	steps      int
	duplicates float64
	reorder    bool
	// pipeline
	workers           int
	workerConcurrency string
	pollAfter         time.Duration
	backlog           int
	timeout           time.Duration
	// subscribers
	subs            int
	owners          int
	subscription    string
	rate            int
	publish         string
	publishers      int
	dialConcurrency int
}

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func parseConfig(name string, args []string, stderr io.Writer) (*config, error) {
	cfg := &config{scenario: name, args: append([]string{name}, args...), logOut: io.Discard}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vidgate-bench %s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long to measure (per phase); webhooks: the longest to spend delivering (default 5m)")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load before the measured window, not counted")
	fs.StringVar(&cfg.backend, "backend", "sqlite", "database of the in-process deployment: sqlite or postgres")
	fs.StringVar(&cfg.databaseURL, "database-url", defaultDatabaseURL, "PostgreSQL server for --backend postgres; a fresh schema is created and dropped after")
	fs.StringVar(&cfg.redis, "redis", "embedded", "embedded (in-process miniredis) or a redis:// URL, used under a random key prefix deleted after")
	fs.StringVar(&cfg.jsonPath, "json", "", "write the report as JSON to this file")
	fs.BoolVar(&cfg.smoke, "smoke", false, "tiny sizes, a few seconds; exit non-zero on any error (for CI)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "the deployment logs JSON at this level, as vidgate does: debug, info, warn, error, or off")
	fs.StringVar(&cfg.logFile, "log-file", "", "write the deployment's logs here (default: formatted, then discarded)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the random choices (which deliveries repeat, their order)")
	fs.StringVar(&cfg.profileDir, "profile", "", "write profiles into this directory: cpu.pprof (the whole run); heap.pprof, block.pprof, mutex.pprof and goroutines.txt at the end of the measured load")
	fs.DurationVar(&cfg.waitIdle, "wait-idle", 0, "first wait up to this long for the machine to be idle (under 0.15 CPUs busy over 3s), for measurements on a shared machine")

	switch name {
	case "create":
		fs.IntVar(&cfg.concurrency, "concurrency", 32, "requests in flight")
		fs.IntVar(&cfg.users, "users", 100, "distinct users the jobs belong to")
		fs.StringVar(&cfg.target, "target", "", "base URL of a running vidgate (http://host:port): measure its HTTP path only (start it with --create-rate 0 --max-active-jobs 0, or its per-owner limits answer RATE_LIMITED)")
		fs.StringVar(&cfg.token, "token", "", "a user's bearer token for --target")
	case "webhooks":
		fs.IntVar(&cfg.concurrency, "concurrency", 32, "deliveries in flight")
		fs.IntVar(&cfg.jobs, "jobs", 5000, "jobs in PROCESSING that the deliveries are about")
		fs.IntVar(&cfg.steps, "steps", 4, "distinct deliveries per job: steps-1 progress updates, then succeeded")
		fs.Float64Var(&cfg.duplicates, "duplicates", 0.5, "share of all deliveries that repeat an earlier one (same webhook-id)")
		fs.BoolVar(&cfg.reorder, "reorder", false, "shuffle each job's deliveries (the final one included) instead of sending them in order")
	case "pipeline":
		fs.IntVar(&cfg.concurrency, "concurrency", 8, "job creations in flight")
		fs.IntVar(&cfg.jobs, "jobs", 0, "create exactly this many jobs and wait for all (0: create for --duration)")
		fs.IntVar(&cfg.workers, "workers", 2, "worker processes (queue consumers), each with --worker-concurrency")
		fs.StringVar(&cfg.workerConcurrency, "worker-concurrency", "8", "tasks at once per kind per worker: N, or kind=N,… (vidgate's default: 8)")
		fs.DurationVar(&cfg.pollAfter, "poll-after", 30*time.Second, "workers' first safety-net poll of a job with webhooks (vidgate's default)")
		fs.IntVar(&cfg.backlog, "backlog", 2000, "with --duration: at most this many jobs created and not yet finished")
		fs.DurationVar(&cfg.timeout, "timeout", 3*time.Minute, "give up waiting for the last jobs after this long")
		fs.StringVar(&cfg.target, "target", "", "base URL of a running vidgate: create over GraphQL and poll job(id) there (start it with --create-rate 0 --max-active-jobs 0)")
		fs.StringVar(&cfg.token, "token", "", "a user's bearer token for --target")
	case "subscribers":
		fs.IntVar(&cfg.subs, "subs", 10000, "WebSocket connections, one subscription each")
		fs.IntVar(&cfg.owners, "owners", 0, "distinct users the connections belong to (0: one user per connection)")
		fs.StringVar(&cfg.subscription, "subscription", "myJobs", "myJobs (the owner's channel) or jobStatus (the job's channel)")
		fs.IntVar(&cfg.rate, "rate", 1000, "status changes per second")
		fs.StringVar(&cfg.publish, "publish", "store", "store: real transitions through jobs.Store (published on commit); broker: jobs.LiveUpdate payloads through broker.Publish")
		fs.IntVar(&cfg.publishers, "publishers", 32, "goroutines making the changes")
		fs.IntVar(&cfg.dialConcurrency, "dial-concurrency", 64, "connections being opened at once")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { cfg.given[f.Name] = true })
	if name == "webhooks" && !cfg.given["duration"] {
		// A fixed set of deliveries: --duration only bounds the time.
		cfg.duration = 5 * time.Minute
	}
	if !slices.Contains([]string{"sqlite", "postgres"}, cfg.backend) {
		return nil, fmt.Errorf("--backend %q: want sqlite or postgres", cfg.backend)
	}
	if cfg.target != "" {
		if !strings.HasPrefix(cfg.target, "http://") && !strings.HasPrefix(cfg.target, "https://") {
			return nil, fmt.Errorf("--target %q: want http://host:port", cfg.target)
		}
		cfg.target = strings.TrimRight(cfg.target, "/")
		if cfg.token == "" {
			return nil, errors.New("--target needs --token (a user's bearer token)")
		}
	}
	if cfg.smoke {
		cfg.applySmoke()
	}
	return cfg, nil
}

// applySmoke shrinks every size to what finishes in a few seconds. Flags
// given explicitly are kept.
func (c *config) applySmoke() {
	set := func(name string, apply func()) {
		if !c.given[name] {
			apply()
		}
	}
	set("duration", func() {
		if c.scenario == "webhooks" {
			c.duration = 30 * time.Second // a bound: the deliveries are fixed
		} else {
			c.duration = time.Second
		}
	})
	set("warmup", func() { c.warmup = 0 })
	set("concurrency", func() { c.concurrency = min(c.concurrency, 4) })
	set("users", func() { c.users = 3 })
	set("jobs", func() {
		if c.scenario == "pipeline" {
			c.jobs = 8
		} else {
			c.jobs = 20
		}
	})
	set("workers", func() { c.workers = 1 })
	set("worker-concurrency", func() { c.workerConcurrency = "4" })
	set("poll-after", func() { c.pollAfter = time.Second })
	set("timeout", func() { c.timeout = 30 * time.Second })
	set("subs", func() { c.subs = 20 })
	set("owners", func() { c.owners = 5 })
	set("rate", func() { c.rate = 50 })
	set("publishers", func() { c.publishers = 4 })
}

func (c *config) describe() string {
	if c.target != "" {
		return "target " + c.target
	}
	return c.backend + ", redis " + redactURL(c.redis)
}

func (c *config) deployOptions() deployOptions {
	return deployOptions{
		backend: c.backend, databaseURL: c.databaseURL, redis: c.redis,
		pollAfter: c.pollAfter, simLatency: 8 * time.Second,
		logLevel: c.logLevel, logOut: c.logOut,
	}
}

// redactURL hides a password in a URL, so it can be printed.
func redactURL(s string) string {
	if i := strings.Index(s, "@"); i > 0 {
		if j := strings.Index(s, "://"); j > 0 && j < i {
			if k := strings.Index(s[j+3:i], ":"); k >= 0 {
				return s[:j+3+k] + ":xxxxx" + s[i:]
			}
		}
	}
	return s
}

// waitIdle waits, up to limit, until the machine's CPUs are nearly idle
// over a few seconds. It returns the last busy share seen, and whether it
// was idle.
func waitIdle(ctx context.Context, limit time.Duration) (float64, bool) {
	deadline := time.Now().Add(limit)
	busy := 0.0
	for ctx.Err() == nil {
		before := readCPUStat()
		if !sleepCtx(ctx, 3*time.Second) {
			break
		}
		busy = readCPUStat().busyCoresSince(before)
		if busy < 0.15 {
			return busy, true
		}
		if time.Now().After(deadline) {
			break
		}
	}
	return busy, false
}
