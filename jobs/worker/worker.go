package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// Config configures a Worker.
type Config struct {
	// WebhookBaseURL is the public URL webhooks reach the API at; a provider
	// with webhooks gets WebhookBaseURL + "/webhooks/" + its name. Empty
	// means no webhooks: every job is polled.
	WebhookBaseURL string
	// MaxAttempts is how many times a job is submitted before a transient
	// failure becomes permanent (default 5).
	MaxAttempts int
	// PollAfter is when the first poll of a job with webhooks happens: the
	// safety net for lost webhooks (default 30s). PollEvery is the first
	// poll interval for providers without webhooks (default 5s). Both back
	// off exponentially up to PollMax (default 5m). A provider that asks for
	// a minimum wait between polls (providers.PollPacer) is never polled
	// sooner than that, whatever these say.
	PollAfter time.Duration
	PollEvery time.Duration
	PollMax   time.Duration
	// ProviderTimeout bounds one call to a provider (default 30s).
	ProviderTimeout time.Duration
	// MaxArtifactBytes caps a copied output (default 2 GiB).
	MaxArtifactBytes int64
	// IngestPartBytes is the size of the parts an output is copied in
	// (default 64 MiB): each part is stored as it completes, so a worker
	// that takes over a dead one's ingest continues after the last whole
	// part instead of downloading the output again.
	IngestPartBytes int64
	// ArtifactRetention is how long unapproved artifacts are kept (0: forever).
	ArtifactRetention time.Duration
	// SourceURLTTL is how long the signed source-image URL given to a
	// provider stays valid (default 1h).
	SourceURLTTL time.Duration
	// HTTPClient downloads outputs (default: a client with sane timeouts).
	HTTPClient *http.Client
	// Scanner, when set, checks every stored output before its job
	// completes (see blob.Scanner): a positive verdict fails the job with
	// ARTIFACT_QUARANTINED and deletes the file; a scanner error retries
	// the ingest. Nil: outputs are only checked to be MP4s.
	Scanner blob.Scanner
	// OnWebhook and OnArtifact, when set, hear of each webhook outcome and
	// each stored artifact (metrics).
	OnWebhook  func(provider, outcome string)
	OnArtifact func(kind string, bytes int64)
	Logger     *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.PollAfter <= 0 {
		c.PollAfter = 30 * time.Second
	}
	if c.PollEvery <= 0 {
		c.PollEvery = 5 * time.Second
	}
	if c.PollMax <= 0 {
		c.PollMax = 5 * time.Minute
	}
	if c.ProviderTimeout <= 0 {
		c.ProviderTimeout = 30 * time.Second
	}
	if c.MaxArtifactBytes <= 0 {
		c.MaxArtifactBytes = 2 << 30
	}
	if c.IngestPartBytes <= 0 {
		c.IngestPartBytes = 64 << 20
	}
	if c.SourceURLTTL <= 0 {
		c.SourceURLTTL = time.Hour
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: time.Minute,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
		}}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnWebhook == nil {
		c.OnWebhook = func(string, string) {}
	}
	if c.OnArtifact == nil {
		c.OnArtifact = func(string, int64) {}
	}
}

// Worker handles the queue's tasks.
type Worker struct {
	rules
	store     *jobs.Store
	vault     *jobs.Vault
	queue     *queue.Queue
	providers *providers.Registry
	bucket    *blob.Bucket
	cfg       Config
	log       *slog.Logger
}

// New returns a Worker.
func New(store *jobs.Store, vault *jobs.Vault, q *queue.Queue, reg *providers.Registry, bucket *blob.Bucket, cfg Config) *Worker {
	cfg.defaults()
	return &Worker{
		rules: rules{store: store, queue: q, maxAttempts: cfg.MaxAttempts},
		store: store, vault: vault, queue: q, providers: reg, bucket: bucket, cfg: cfg, log: cfg.Logger,
	}
}

// Run consumes tasks until ctx ends, then gives in-flight tasks up to grace
// to finish; unfinished ones stay unacknowledged for another worker.
func (w *Worker) Run(ctx context.Context, grace time.Duration) error {
	return w.queue.Run(ctx, grace, w.Handle, w.DeadLetter)
}

// Handle processes one task. It returns nil once the database reflects the
// outcome (the queue then acknowledges the task), and an error to have the
// task delivered again.
func (w *Worker) Handle(ctx context.Context, t queue.Task) error {
	job, err := w.store.JobByID(ctx, t.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		w.log.WarnContext(ctx, "task for a job that does not exist", "kind", t.Kind, "job", t.JobID)
		return nil
	}
	if err != nil {
		return err
	}
	if rid := t.Data["request_id"]; rid != "" {
		ctx = jobs.WithRequestID(ctx, rid) // the request this work follows from, on every log line
	}
	log := w.log.With("job_id", job.PublicID, "task", string(t.Kind), "attempt", t.Attempt, "delivery", t.Deliveries)
	ctx = withLogger(ctx, log)
	switch t.Kind {
	case queue.KindSubmit:
		return w.submit(ctx, job, t)
	case queue.KindPoll:
		return w.poll(ctx, job, t)
	case queue.KindIngest:
		return w.ingest(ctx, job, t)
	case queue.KindCancel:
		return w.cancel(ctx, job, t)
	}
	log.ErrorContext(ctx, "unknown task kind: dropped")
	return nil
}

// DeadLetter fails the job of a task that could not be processed after the
// queue's maximum number of deliveries.
func (w *Worker) DeadLetter(ctx context.Context, t queue.Task) error {
	job, err := w.store.JobByID(ctx, t.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if job.Status.Terminal() || job.Status == jobs.StatusCompleted {
		return nil
	}
	_, err = w.store.TransitionTx(ctx, jobs.Transition{
		JobID: job.ID, From: job.Status, To: jobs.StatusFailed, Source: jobs.SourceWorker,
		ErrorCode:    jobs.FailTooManyAttempts,
		ErrorMessage: fmt.Sprintf("the %s task failed %d times and was moved to the dead-letter queue", t.Kind, t.Deliveries),
	})
	var guard *jobs.GuardError
	if errors.As(err, &guard) {
		return nil // moved on meanwhile
	}
	if err == nil {
		w.log.WarnContext(ctx, "job failed: task dead-lettered", "job_id", job.PublicID, "task", string(t.Kind), "deliveries", t.Deliveries)
	}
	return err
}

func (w *Worker) driver(name string) (providers.Driver, error) {
	d, ok := w.providers.Get(name)
	if !ok {
		return nil, fmt.Errorf("provider %q is not configured on this worker", name)
	}
	return d, nil
}

func (w *Worker) webhookURL(d providers.Driver) string {
	if _, ok := d.(providers.WebhookVerifier); !ok || w.cfg.WebhookBaseURL == "" {
		return ""
	}
	return w.cfg.WebhookBaseURL + "/webhooks/" + d.Name()
}

// jobWebhookURL is the callback URL of one job attempt: the intake's URL
// with the job and attempt in its query, so that a delivery that arrives
// before the submit saved the provider's request id (providers start work,
// and send webhooks, before they answer the submit) can still find its job.
func (w *Worker) jobWebhookURL(d providers.Driver, job *jobs.Job) string {
	base := w.webhookURL(d)
	if base == "" {
		return ""
	}
	return base + "?" + url.Values{callbackJob: {job.PublicID}, callbackAttempt: {strconv.Itoa(job.Attempt)}}.Encode()
}

// schedule writes a task that follows no change of this worker's to the
// outbox, due at at (zero: at once), and sends it: the row outlives a Redis
// fault, so the task is queued by the outbox's relay once Redis answers,
// rather than lost with the task being handled. A task that follows a
// change is written in the change's transaction instead (AddTask,
// TransitionThen). An error means not even the database has it: the
// handler returns it, and the task being handled is delivered again.
func (w *Worker) schedule(ctx context.Context, t queue.Task, at time.Time) error {
	return w.store.AddTask(ctx, w.store.DB(), t, at)
}

// pollDelay is the wait before poll number n (1-based) of a job: the
// configured interval, backing off up to PollMax, and never less than the
// minimum its provider asks for between two polls (providers.PollPacer),
// which wins over PollMax too.
func (w *Worker) pollDelay(d providers.Driver, n int) time.Duration {
	base := w.cfg.PollEvery
	if w.webhookURL(d) != "" {
		base = w.cfg.PollAfter
	}
	delay := base
	for i := 1; i < n && delay < w.cfg.PollMax; i++ {
		delay *= 2
	}
	return max(min(delay, w.cfg.PollMax), providers.MinPollInterval(d))
}

func pollTask(job *jobs.Job, n int) queue.Task {
	return queue.Task{Kind: queue.KindPoll, JobID: job.ID, Attempt: job.Attempt, Data: map[string]string{"n": strconv.Itoa(n)}}
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

func logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// isGuard reports whether err is a failed guard: the job moved on, and the
// task or delivery is stale.
func isGuard(err error) bool {
	var g *jobs.GuardError
	return errors.As(err, &g)
}

func newID() string { return uuid.NewString() }
