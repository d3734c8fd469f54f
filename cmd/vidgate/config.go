package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vidgate/vidgate/blob/clamd"
	"github.com/vidgate/vidgate/blob/imgcheck"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers/setup"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// config is every setting of `vidgate` and `vidgate serve`.
type config struct {
	Addr             string
	PublicURL        string
	DataDir          string
	DatabaseURL      string
	BucketURL        string
	LogLevel         string
	MaxBodyBytes     int64
	MaxJobAge        time.Duration
	DownloadURLTTL   time.Duration
	ShutdownGrace    time.Duration
	DefaultProvider  string
	Fallback         string
	AllowedOrigins   string
	CORSOrigins      string
	TrustedProxies   string
	MaxSubscriptions int
	MaxConnsPerIdent int
	CreateRate       int
	MaxActiveJobs    int
	ReviewClaimTTL   time.Duration
	RedisURL         string
	RedisPrefix      string

	// Source image uploads.
	MaxUploadBytes int64
	SourceAssetTTL time.Duration
	MinImageSide   int
	MaxImageSide   int

	// Upload memory and quotas (issue #16).
	UploadDecodeMemory int64
	UploadDecodes      int
	UploadDecodeWait   time.Duration
	DailyUploads       int
	DailyUploadBytes   int64

	// Bearer tokens: an identity provider's JWKS, and the claims read.
	JWKSURL         string
	JWKSRefresh     time.Duration
	JWTIssuer       string
	JWTAudience     string
	JWTSubjectClaim string
	JWTRoleClaim    string

	// Workers.
	Concurrency      string
	MaxAttempts      int
	PollAfter        time.Duration
	MaxArtifactBytes int64
	Reconcile        bool
	MetricsAddr      string
	MetricsToken     string
	Retention        time.Duration
	Visibility       time.Duration
	ClamdAddr        string

	// The reconciler's periods (reconciler.Config).
	ReconcileInterval     time.Duration
	ReconcileQueuedAfter  time.Duration
	ReconcileSubmitAfter  time.Duration
	ReconcileStaleAfter   time.Duration
	ReconcileCancelWindow time.Duration
	ReconcileLease        time.Duration

	// The outbox relay's loop (jobs.RelayConfig).
	OutboxInterval time.Duration
	OutboxGrace    time.Duration

	// The simulated provider.
	EnableSim    bool
	MountSim     bool
	SimURL       string
	SimLatency   time.Duration
	SimMaxOutput int64

	secrets
}

// secrets are the keys vidgate needs. The embedded default generates them
// once into <data-dir>/secrets.json; `serve` takes them from flags or the
// environment only.
type secrets struct {
	JWTSecret     string `json:"jwt_secret"`      // raw, at least 32 characters
	PromptKeys    string `json:"prompt_keys"`     // id:base64(32 bytes)[,…], first one seals
	PromptHashKey string `json:"prompt_hash_key"` // base64, at least 32 bytes
	URLSigningKey string `json:"url_signing_key"` // base64, at least 32 bytes
	SimAPIKey     string `json:"sim_api_key"`
	SimWebhookKey string `json:"sim_webhook_secret"` // whsec_…
}

// role says which parts of vidgate a command runs.
type role int

const (
	roleEmbedded role = iota // everything, with local defaults
	roleServe                // the API
	roleWorker               // the workers
)

func (c *config) register(fs *flagSet, r role) {
	fs.footer = providersHelp
	embedded := r == roleEmbedded
	if r != roleWorker {
		fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address the HTTP server listens on")
	}
	fs.StringVar(&c.PublicURL, "public-url", "", "URL clients and providers reach the API at, for download links and webhooks (default http://<addr>)")
	if embedded {
		fs.StringVar(&c.DataDir, "data-dir", "./vidgate-data", "where the embedded default keeps its SQLite file, bucket and generated secrets")
	}
	dbUsage, bucketUsage := "database: postgres://user@host:5432/db or sqlite:PATH (required)", "object storage: file:///dir, s3://bucket, gs://bucket, azblob://container (required)"
	if embedded {
		dbUsage, bucketUsage = "database (default sqlite:<data-dir>/vidgate.db)", "object storage (default file://<data-dir>/bucket)"
	}
	fs.StringVar(&c.DatabaseURL, "database-url", "", dbUsage)
	fs.StringVar(&c.BucketURL, "bucket-url", "", bucketUsage)
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	redisUsage := "Redis: redis://host:6379/0, or host:port,host:port for Redis Cluster (required)"
	if embedded {
		redisUsage = "Redis (default: an in-process Redis-protocol server)"
	}
	fs.StringVar(&c.RedisURL, "redis-url", "", redisUsage)
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "vg", "prefix of every Redis key and channel, so deployments can share a Redis")
	if r != roleWorker {
		fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest GraphQL request body accepted, in bytes")
		fs.DurationVar(&c.MaxJobAge, "max-job-age", 24*time.Hour, "how long a job may stay unfinished before it expires")
		fs.DurationVar(&c.DownloadURLTTL, "download-url-ttl", 15*time.Minute, "how long signed download URLs stay valid")
		fs.StringVar(&c.DefaultProvider, "default-provider", "", "provider for jobs that name none (default: sim when --enable-sim, else the first configured provider)")
		fs.StringVar(&c.Fallback, "fallback-providers", "", "providers new jobs go to, in order, while the default's circuit breaker is open (comma separated)")
		fs.BoolVar(&c.MountSim, "sim", true, "with --enable-sim: serve the simulated provider under /sim")
		fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "browser origins allowed to open WebSockets, comma separated (https://app.example.com, or *); empty: same origin only")
		fs.StringVar(&c.MetricsToken, "metrics-token", "", "bearer token a Prometheus scraper sends to GET /metrics (admins' tokens work too)")
		fs.IntVar(&c.CreateRate, "create-rate", 60, "jobs an owner may create per minute, across every API process (0: no limit)")
		fs.IntVar(&c.MaxActiveJobs, "max-active-jobs", 100, "an owner's jobs still generating at once (0: no cap)")
		fs.DurationVar(&c.ReviewClaimTTL, "review-claim-ttl", jobs.DefaultReviewClaimTTL, "how long a reviewer's claim on a job (claimReview) lasts unless renewed; the review dashboard renews it every third of this")
		fs.IntVar(&c.MaxSubscriptions, "max-subscriptions", 20, "subscriptions one WebSocket connection may hold at once")
		fs.IntVar(&c.MaxConnsPerIdent, "max-connections-per-identity", 20, "WebSockets and SSE subscription streams one identity (subject) may hold open at once, per API process (0: no cap)")
		fs.StringVar(&c.CORSOrigins, "cors-origins", "", "browser origins allowed to call /graphql over HTTP (CORS), comma separated exact origins, or * for any (tokens travel in headers, never cookies); empty: the --allowed-origins list")
		fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "proxies (CIDR prefixes, comma separated) whose X-Forwarded-For names the client's IP in the audit trail; empty: the peer address is the client")
		fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", imgcheck.DefaultMaxBytes, "largest source image accepted by uploadSourceAsset, in bytes")
		fs.DurationVar(&c.SourceAssetTTL, "source-asset-ttl", jobs.DefaultSourceAssetTTL, "how long an uploaded source image no job has used is kept")
		fs.IntVar(&c.MinImageSide, "source-image-min-side", imgcheck.DefaultMinSide, "smallest width or height of a source image, in pixels")
		fs.IntVar(&c.MaxImageSide, "source-image-max-side", imgcheck.DefaultMaxSide, "largest width or height of a source image, in pixels")
		// Upload memory and quotas.
		fs.Int64Var(&c.UploadDecodeMemory, "upload-decode-memory", imgcheck.DefaultMaxDecodedBytes, "most memory decoding one source image may take, in bytes, computed from its header before decoding (the default fits a 4096x4096 8-bit RGBA image, not a 16-bit one)")
		fs.IntVar(&c.UploadDecodes, "upload-decodes", 2, "source images decoded at once per API process; decode memory is at most this times --upload-decode-memory")
		fs.DurationVar(&c.UploadDecodeWait, "upload-decode-wait", 3*time.Second, "how long an upload waits for a decode slot before it is refused as RATE_LIMITED")
		fs.IntVar(&c.DailyUploads, "daily-uploads", 100, "source images one identity may upload in any 24 hours, across every API process (0: no limit)")
		fs.Int64Var(&c.DailyUploadBytes, "daily-upload-bytes", 1<<30, "bytes of source images one identity may upload in any 24 hours, across every API process (0: no limit)")
	}
	fs.IntVar(&c.MaxAttempts, "max-attempts", 5, "submissions of a job before a transient provider failure becomes permanent")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 15*time.Second, "how long a shutdown waits for in-flight requests and tasks")
	if r != roleServe {
		fs.StringVar(&c.Concurrency, "concurrency", "8", "tasks handled at once per task kind: N for every kind, or kind=N,… (kinds: submit, poll, ingest, cancel)")
		fs.DurationVar(&c.PollAfter, "poll-after", 30*time.Second, "first poll of a job whose provider sends webhooks: the safety net for lost webhooks")
		fs.Int64Var(&c.MaxArtifactBytes, "max-artifact-bytes", 2<<30, "largest provider output copied into the bucket")
		fs.StringVar(&c.SimURL, "sim-url", "", "base URL of the simulated provider (default <public-url>/sim)")
		fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "workers: serve GET /metrics on this address (bind it to a private interface); empty: off")
		fs.BoolVar(&c.Reconcile, "reconcile", true, "take part in reconciling lost and stalled work (one process leads at a time)")
		fs.DurationVar(&c.Retention, "artifact-retention", 7*24*time.Hour, "how long videos that were not approved are kept (0: forever)")
		fs.DurationVar(&c.Visibility, "visibility-timeout", 30*time.Second, "how long a task may sit untouched before another worker takes it over (a live worker touches its tasks every third of this)")
		// The reconciler's periods: the defaults are reconciler.Config's.
		fs.DurationVar(&c.ReconcileInterval, "reconcile-interval", 2*time.Second, "time between the reconciler's passes: also how soon a Redis that lost its data is noticed and every live job's task rebuilt")
		fs.DurationVar(&c.ReconcileQueuedAfter, "reconcile-queued-after", time.Minute, "a job QUEUED this long (or RETRYING this long past its retry) without a worker on it is queued again")
		fs.DurationVar(&c.ReconcileSubmitAfter, "reconcile-submit-after", 2*time.Minute, "a job SUBMITTED this long without a provider request id is submitted again (with the same idempotency key) or failed")
		fs.DurationVar(&c.ReconcileStaleAfter, "reconcile-stale-after", 10*time.Minute, "a job waiting on its provider with no news this long is polled: keep it above the longest poll backoff (5m)")
		fs.DurationVar(&c.ReconcileCancelWindow, "reconcile-cancel-window", time.Hour, "when Redis lost its data, jobs canceled or expired this recently have their provider cancel sent again")
		fs.DurationVar(&c.ReconcileLease, "reconcile-lease", 30*time.Second, "how long the leading reconciler's lease lasts without renewal: how soon another process takes over from one that died")
		// The outbox relay: the defaults are jobs.RelayConfig's.
		fs.DurationVar(&c.OutboxInterval, "outbox-interval", time.Second, "time between the outbox relay's passes, which queue the tasks their writers could not (Redis unreachable, or the process died after the commit)")
		fs.DurationVar(&c.OutboxGrace, "outbox-grace", 2*time.Second, "how old a task in the outbox must be before the relay queues it: younger ones are their writer's to queue right after its commit")
		fs.StringVar(&c.ClamdAddr, "clamd-addr", "", "ClamAV clamd (host:port, or unix:/path) that scans every output before its job completes; a finding fails the job with ARTIFACT_QUARANTINED; empty: no scan")
	}
	fs.BoolVar(&c.EnableSim, "enable-sim", false, "offer the simulated provider \"sim\" to every client, with its [sim …] prompt directives: for development and load tests, never for production (default: on for the embedded default without --database-url, off otherwise)")
	fs.DurationVar(&c.SimLatency, "sim-latency", 8*time.Second, "how long the simulated provider takes per video")
	fs.Int64Var(&c.SimMaxOutput, "sim-max-output-size", sim.DefaultMaxOutputSize, "largest output a [sim output_size=…] directive may ask for, in bytes (at most 16GiB)")
	secretHint := " (generate: openssl rand -base64 32)"
	if embedded {
		secretHint = " (default: generated into <data-dir>/secrets.json)"
	}
	if r != roleWorker {
		fs.StringVar(&c.JWKSURL, "jwks-url", "", "identity provider's JWKS URL (https://idp.example.com/.well-known/jwks.json): bearer tokens signed RS256 or ES256 are verified with its keys")
		fs.DurationVar(&c.JWKSRefresh, "jwks-refresh", 15*time.Minute, "how often the JWKS is fetched again (also on a token with an unknown kid, at most every 15s)")
		fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "when set, bearer tokens' iss claim must equal it")
		fs.StringVar(&c.JWTAudience, "jwt-audience", "", "when set, bearer tokens' aud claim must contain it")
		fs.StringVar(&c.JWTSubjectClaim, "jwt-subject-claim", "sub", "claim of bearer tokens that names the caller")
		fs.StringVar(&c.JWTRoleClaim, "jwt-role-claim", "role", "claim of bearer tokens that holds the caller's role: user, reviewer or admin")
	}
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret that verifies bearer tokens, at least 32 characters; optional with --jwks-url"+secretHint)
	fs.StringVar(&c.PromptKeys, "prompt-keys", "", "AES-256 keys that encrypt prompts: id:base64key[,id:base64key…], the first encrypts"+secretHint)
	fs.StringVar(&c.PromptHashKey, "prompt-hash-key", "", "base64 key of the prompt HMAC"+secretHint)
	fs.StringVar(&c.URLSigningKey, "url-signing-key", "", "base64 key that signs download URLs"+secretHint)
	fs.StringVar(&c.SimAPIKey, "sim-api-key", "", "API key of the simulated provider (default: none required)")
	fs.StringVar(&c.SimWebhookKey, "sim-webhook-secret", "", "Standard Webhooks secret (whsec_…) of the simulated provider"+strings.Replace(secretHint, "openssl rand -base64 32", "echo whsec_$(openssl rand -base64 32)", 1))
	fs.markSecret("metrics-token", "jwt-secret", "prompt-keys", "prompt-hash-key", "url-signing-key", "sim-api-key", "sim-webhook-secret")
}

// defaultSim turns the simulated provider on when --enable-sim was given
// neither on the command line nor in the environment: on for the embedded
// default on its own database (no --database-url), off for everything
// else. Call it before fillEmbedded fills the database URL in.
func (c *config) defaultSim(fs *flagSet, r role) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "enable-sim" })
	if !given {
		c.EnableSim = r == roleEmbedded && c.DatabaseURL == ""
	}
}

// fillEmbedded completes c with the embedded default's local choices.
func (c *config) fillEmbedded() error {
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The data dir holds the database, every video and the secrets: only
	// its owner may read them, whatever mode an existing dir or file had.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	c.DataDir = dir
	if c.DatabaseURL == "" {
		db := filepath.Join(dir, "vidgate.db")
		if err := ownerOnly(db, true); err != nil {
			return err
		}
		// SQLite gives its -wal and -shm files the database file's mode;
		// ones left by an earlier run keep theirs unless told.
		for _, f := range []string{db + "-wal", db + "-shm", filepath.Join(dir, "secrets.json")} {
			if err := ownerOnly(f, false); err != nil {
				return err
			}
		}
		c.DatabaseURL = "sqlite:" + db
	}
	if c.BucketURL == "" {
		c.BucketURL = "file://" + filepath.ToSlash(filepath.Join(dir, "bucket"))
	}
	stored, err := loadOrCreateSecrets(filepath.Join(dir, "secrets.json"))
	if err != nil {
		return err
	}
	c.fillSecrets(stored)
	return nil
}

// fillSecrets takes each secret not set by a flag or the environment from
// stored.
func (c *config) fillSecrets(stored secrets) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&c.JWTSecret, stored.JWTSecret)
	fill(&c.PromptKeys, stored.PromptKeys)
	fill(&c.PromptHashKey, stored.PromptHashKey)
	fill(&c.URLSigningKey, stored.URLSigningKey)
	fill(&c.SimAPIKey, stored.SimAPIKey)
	fill(&c.SimWebhookKey, stored.SimWebhookKey)
}

// ownerOnly makes path readable and writable by its owner only, creating it
// empty when create is set (SQLite then uses the file it finds).
func ownerOnly(path string, create bool) error {
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		f.Close()
	}
	if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// check reports every missing or malformed setting at once.
func (c *config) check(r role) error {
	var errs []error
	need := func(v, flag string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s / $%s is required", flag, envName(flag)))
		}
	}
	need(c.DatabaseURL, "database-url")
	need(c.BucketURL, "bucket-url")
	if r != roleEmbedded {
		need(c.RedisURL, "redis-url")
	}
	need(c.SimWebhookKey, "sim-webhook-secret")
	if r != roleWorker && c.JWTSecret == "" && c.JWKSURL == "" {
		errs = append(errs, fmt.Errorf("--jwks-url / $%s or --jwt-secret / $%s is required", envName("jwks-url"), envName("jwt-secret")))
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--jwks-url %q: want an absolute http(s) URL", c.JWKSURL))
		}
	}
	need(c.PromptKeys, "prompt-keys")
	need(c.PromptHashKey, "prompt-hash-key")
	need(c.URLSigningKey, "url-signing-key")
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("--jwt-secret must be at least 32 characters"))
	}
	for flag, v := range map[string]string{"prompt-hash-key": c.PromptHashKey, "url-signing-key": c.URLSigningKey} {
		if v == "" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(v); err != nil || len(b) < 32 {
			errs = append(errs, fmt.Errorf("--%s must be base64 of at least 32 bytes", flag))
		}
	}
	if c.PromptKeys != "" {
		if _, err := jobs.ParseVaultKeys(c.PromptKeys); err != nil {
			errs = append(errs, fmt.Errorf("--prompt-keys: %w", err))
		}
	}
	if r != roleWorker {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("--addr %q: want host:port", c.Addr))
		}
	}
	if _, err := server.ParseCIDRs(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	if c.MaxConnsPerIdent < 0 {
		errs = append(errs, fmt.Errorf("--max-connections-per-identity %d: want 0 (no cap) or more", c.MaxConnsPerIdent))
	}
	if r != roleWorker {
		if c.MaxUploadBytes < 1 {
			errs = append(errs, fmt.Errorf("--max-upload-bytes %d: want at least 1", c.MaxUploadBytes))
		}
		if c.MinImageSide < 1 || c.MaxImageSide < c.MinImageSide {
			errs = append(errs, fmt.Errorf("--source-image-min-side %d, --source-image-max-side %d: want 1 <= min <= max", c.MinImageSide, c.MaxImageSide))
		}
		if c.SourceAssetTTL <= 0 {
			errs = append(errs, fmt.Errorf("--source-asset-ttl %s: want a positive duration", c.SourceAssetTTL))
		}
		if c.ReviewClaimTTL <= 0 {
			errs = append(errs, fmt.Errorf("--review-claim-ttl %s: want a positive duration", c.ReviewClaimTTL))
		}
		// Upload memory and quotas.
		if c.UploadDecodeMemory < 1 {
			errs = append(errs, fmt.Errorf("--upload-decode-memory %d: want at least 1", c.UploadDecodeMemory))
		}
		if c.UploadDecodes < 1 || c.UploadDecodeWait < 0 {
			errs = append(errs, fmt.Errorf("--upload-decodes %d, --upload-decode-wait %s: want at least 1 and a duration of 0 or more", c.UploadDecodes, c.UploadDecodeWait))
		}
		if c.DailyUploads < 0 {
			errs = append(errs, fmt.Errorf("--daily-uploads %d: want 0 (no limit) or more", c.DailyUploads))
		}
		if c.DailyUploadBytes != 0 && c.DailyUploadBytes < c.MaxUploadBytes {
			errs = append(errs, fmt.Errorf("--daily-upload-bytes %d: want 0 (no limit) or at least --max-upload-bytes (%d)", c.DailyUploadBytes, c.MaxUploadBytes))
		}
	}
	if r != roleServe {
		for flag, d := range map[string]time.Duration{"reconcile-interval": c.ReconcileInterval, "reconcile-queued-after": c.ReconcileQueuedAfter,
			"reconcile-submit-after": c.ReconcileSubmitAfter, "reconcile-stale-after": c.ReconcileStaleAfter,
			"reconcile-cancel-window": c.ReconcileCancelWindow, "reconcile-lease": c.ReconcileLease,
			"outbox-interval": c.OutboxInterval, "outbox-grace": c.OutboxGrace} {
			if d <= 0 {
				errs = append(errs, fmt.Errorf("--%s %s: want a positive duration", flag, d))
			}
		}
	}
	if _, err := c.concurrency(); err != nil {
		errs = append(errs, err)
	}
	if c.ClamdAddr != "" {
		if _, err := clamd.New(clamd.Config{Addr: c.ClamdAddr}); err != nil {
			errs = append(errs, fmt.Errorf("--clamd-addr: %w", err))
		}
	}
	if c.SimMaxOutput < 0 || c.SimMaxOutput > 16<<30 {
		errs = append(errs, fmt.Errorf("--sim-max-output-size %d: want 0 to 16GiB", c.SimMaxOutput))
	}
	if c.SimWebhookKey != "" && !strings.HasPrefix(c.SimWebhookKey, "whsec_") {
		errs = append(errs, errors.New("--sim-webhook-secret must start with whsec_"))
	}
	return errors.Join(errs...)
}

// auth returns the Authenticator settings: the JWKS and the claims to read,
// the HS256 secret when one is set, and keys to check API keys with.
func (c *config) auth(keys auth.KeyChecker, log *slog.Logger) auth.Config {
	cfg := auth.Config{
		JWKSURL: c.JWKSURL, JWKSRefresh: c.JWKSRefresh, Log: log,
		Issuer: c.JWTIssuer, Audience: c.JWTAudience,
		SubjectClaim: c.JWTSubjectClaim, RoleClaim: c.JWTRoleClaim,
		Keys: keys,
	}
	if c.JWTSecret != "" {
		cfg.HS256Secret = []byte(c.JWTSecret)
	}
	return cfg
}

// publicURL is where clients reach this server.
func (c *config) publicURL(listenAddr string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(listenAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func mustDecode(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s) // check() validated it
	return b
}

func loadOrCreateSecrets(path string) (secrets, error) {
	var s secrets
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		if s.SimWebhookKey == "" { // written by an older vidgate
			s.SimAPIKey = "sim_" + base64.RawURLEncoding.EncodeToString(randomBytes(24))
			s.SimWebhookKey = "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32))
			return s, writeSecrets(path, s)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	s = secrets{
		JWTSecret:     base64.RawURLEncoding.EncodeToString(randomBytes(32)),
		PromptKeys:    "k1:" + base64.StdEncoding.EncodeToString(randomBytes(32)),
		PromptHashKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
		URLSigningKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
		SimAPIKey:     "sim_" + base64.RawURLEncoding.EncodeToString(randomBytes(24)),
		SimWebhookKey: "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32)),
	}
	return s, writeSecrets(path, s)
}

func writeSecrets(path string, s secrets) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

// concurrency parses --concurrency: "8" for every kind, or "submit=8,ingest=2"
// (kinds not named get 8).
func (c *config) concurrency() (map[queue.Kind]int, error) {
	out := map[queue.Kind]int{}
	for _, k := range queue.Kinds {
		out[k] = 8
	}
	spec := strings.TrimSpace(c.Concurrency)
	if spec == "" {
		return out, nil
	}
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 {
			return nil, fmt.Errorf("--concurrency %d: want at least 1", n)
		}
		for k := range out {
			out[k] = n
		}
		return out, nil
	}
	for _, part := range strings.Split(spec, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || !queue.Kind(name).Valid() {
			return nil, fmt.Errorf("--concurrency %q: want N or kind=N,… with kinds submit, poll, ingest, cancel (0 turns a kind off)", spec)
		}
		out[queue.Kind(name)] = n
		if n == 0 {
			out[queue.Kind(name)] = -1
		}
	}
	return out, nil
}

func (c *config) allowedOrigins() []string { return splitList(c.AllowedOrigins) }

// corsOrigins is --cors-origins, or the WebSocket list when it is empty: one
// setting serves both for most deployments.
func (c *config) corsOrigins() []string {
	if strings.TrimSpace(c.CORSOrigins) == "" {
		return c.allowedOrigins()
	}
	return splitList(c.CORSOrigins)
}

// connCap is --max-connections-per-identity as server.Config takes it.
func (c *config) connCap() int {
	if c.MaxConnsPerIdent == 0 {
		return -1 // no cap
	}
	return c.MaxConnsPerIdent
}

func (c *config) trustedProxies() []netip.Prefix {
	p, _ := server.ParseCIDRs(c.TrustedProxies) // check() validated it
	return p
}

// providersHelp ends --help with the real providers' settings.
func providersHelp(w io.Writer) {
	fmt.Fprintln(w, "\nProviders (offered when their API key is set; each variable also as <NAME>_FILE):")
	for _, p := range setup.Describe() {
		fmt.Fprintf(w, "  %s: %s\n", p.Name, p.Updates())
		for _, v := range p.Variables {
			fmt.Fprintf(w, "      $%s  %s\n", v.Name, v.Usage)
		}
	}
}
