package queue

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/keyspace"
)

// Kind names what a task asks a worker to do about a job. Each kind has its
// own stream, retry set and dead-letter stream.
type Kind string

const (
	// KindSubmit sends a job to its provider.
	KindSubmit Kind = "submit"
	// KindPoll asks the provider for a submitted job's status (for providers
	// without webhooks, and when webhooks are late).
	KindPoll Kind = "poll"
	// KindIngest copies a finished job's files into object storage.
	KindIngest Kind = "ingest"
	// KindCancel asks the provider to stop a job.
	KindCancel Kind = "cancel"
)

// Kinds lists every kind, in a fixed order.
var Kinds = []Kind{KindSubmit, KindPoll, KindIngest, KindCancel}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return slices.Contains(Kinds, k) }

var (
	// ErrUnknownKind is returned for a Kind that is not in Kinds.
	ErrUnknownKind = errors.New("unknown task kind")
	// ErrNotFound is returned by Replay for a dead letter that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRunning is returned by Run while another Run of the same Queue is
	// going on: they would share a consumer name and each other's entries.
	ErrRunning = errors.New("queue is already running")
)

// Task is one unit of work about a job.
type Task struct {
	Kind  Kind
	JobID int64
	// Attempt is the job attempt the task belongs to; a handler drops a task
	// whose attempt is older than the job's.
	Attempt int
	// Data holds small extra fields (e.g. the provider's request id); optional.
	Data map[string]string

	// Set on delivery:

	// ID is the stream entry id.
	ID string
	// Deliveries is how many times this entry has been delivered, this
	// delivery included: 1 the first time.
	Deliveries int64
}

// Jitter chooses how Backoff randomizes its delays.
type Jitter int

const (
	// JitterEqual waits between half the exponential delay and all of it:
	// retries spread out, and each wait is still at least half the last
	// one's ceiling. The default.
	JitterEqual Jitter = iota
	// JitterFull waits anywhere between zero and the exponential delay.
	JitterFull
	// JitterNone waits exactly the exponential delay (for tests and tools).
	JitterNone
)

// Config configures a Queue. The zero value of each field means its default.
type Config struct {
	// Prefix starts every key, so deployments and tests can share a Redis;
	// default "vg".
	Prefix string
	// Group is the consumer group every worker joins; default "workers".
	Group string
	// Consumer names this process in the group; default
	// hostname-pid-random. It must be unique per process: two processes
	// with one name would refresh and acknowledge each other's entries.
	Consumer string
	// Concurrency is how many handlers run at once per kind: 0 or absent
	// means 4, a negative number means this process does not consume the kind.
	Concurrency map[Kind]int
	// VisibilityTimeout is how long an entry may stay pending, untouched,
	// before another consumer takes it over; default 30s. Running handlers
	// refresh their entries every third of it.
	VisibilityTimeout time.Duration
	// MaxDeliveries is how many deliveries an entry gets; one delivered more
	// often goes to the dead-letter stream; default 5.
	MaxDeliveries int64
	// Block is how long one XREADGROUP waits for new entries (at most until
	// the next PollInterval tick); default 2s. Run notices that its context
	// is done only between reads, so it takes up to that long to stop reading.
	Block time.Duration
	// PollInterval is how often due retries are moved to their streams and
	// stale entries taken over; default 1s.
	PollInterval time.Duration
	// MaxLen caps each stream, approximately (XADD MAXLEN ~); default
	// 100000. Acknowledged entries are deleted, so only a backlog this long
	// gets trimmed, and the reconciler rebuilds what was trimmed.
	MaxLen int64
	// BackoffBase is Backoff's first delay; default 1s.
	BackoffBase time.Duration
	// BackoffMax caps Backoff's exponential delay; default 5m.
	BackoffMax time.Duration
	// Jitter randomizes Backoff; default JitterEqual.
	Jitter Jitter
	// Now tells the time where time decides behaviour (due retries, the
	// dead letters' time, ages in Stats); default time.Now.
	Now func() time.Time
	// Logger receives Run's errors and warnings; default slog.Default().
	Logger *slog.Logger
}

const (
	defaultGroup             = "workers"
	defaultConcurrency       = 4
	defaultVisibilityTimeout = 30 * time.Second
	defaultMaxDeliveries     = 5
	defaultBlock             = 2 * time.Second
	defaultPollInterval      = time.Second
	defaultMaxLen            = 100000
	defaultBackoffBase       = time.Second
	defaultBackoffMax        = 5 * time.Minute

	// moveBatch is how many due retries of a kind one script call moves.
	moveBatch = 100
)

func (c Config) withDefaults() (Config, error) {
	if c.Prefix == "" {
		c.Prefix = keyspace.DefaultPrefix
	}
	if err := keyspace.Check(c.Prefix); err != nil {
		return c, fmt.Errorf("prefix %q: %w", c.Prefix, err)
	}
	if c.Group == "" {
		c.Group = defaultGroup
	}
	if c.Consumer == "" {
		c.Consumer = defaultConsumer()
	}
	conc := make(map[Kind]int, len(Kinds))
	for k, n := range c.Concurrency {
		if !k.Valid() {
			return c, fmt.Errorf("concurrency of %q: %w", k, ErrUnknownKind)
		}
		conc[k] = n
	}
	for _, k := range Kinds {
		if conc[k] == 0 {
			conc[k] = defaultConcurrency
		}
	}
	c.Concurrency = conc
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = defaultVisibilityTimeout
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = defaultMaxDeliveries
	}
	if c.Block == 0 {
		c.Block = defaultBlock
	}
	if c.PollInterval == 0 {
		c.PollInterval = defaultPollInterval
	}
	if c.MaxLen == 0 {
		c.MaxLen = defaultMaxLen
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = defaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = defaultBackoffMax
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	// Redis counts idle time in milliseconds, and the heartbeat runs every
	// third of the timeout.
	case c.VisibilityTimeout < 30*time.Millisecond:
		return c, fmt.Errorf("visibility timeout %v is under 30ms", c.VisibilityTimeout)
	case c.MaxDeliveries < 1:
		return c, fmt.Errorf("max deliveries %d is under 1", c.MaxDeliveries)
	case c.Block < time.Millisecond:
		return c, fmt.Errorf("block %v is under 1ms", c.Block)
	case c.PollInterval < time.Millisecond:
		return c, fmt.Errorf("poll interval %v is under 1ms", c.PollInterval)
	case c.MaxLen < 1:
		return c, fmt.Errorf("max len %d is under 1", c.MaxLen)
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return c, fmt.Errorf("backoff base %v, max %v: want 0 < base <= max", c.BackoffBase, c.BackoffMax)
	case c.Jitter < JitterEqual || c.Jitter > JitterNone:
		return c, fmt.Errorf("unknown jitter %d", c.Jitter)
	}
	return c, nil
}

func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(4))
}

func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// Queue is a durable task queue on Redis streams. It is safe for concurrent
// use; Run may be going on in one goroutine while others Enqueue.
type Queue struct {
	rdb     redis.UniversalClient
	cfg     Config
	keys    keyspace.Keyspace
	log     *slog.Logger
	running atomic.Bool
}

// New returns a Queue over rdb (a client, a failover client or a cluster
// client) and makes sure every kind's stream has the consumer group (XGROUP
// CREATE … MKSTREAM from the start of the stream; an existing group is kept).
// It fails if Redis cannot be reached or cfg is invalid.
func New(rdb redis.UniversalClient, cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("queue config: %w", err)
	}
	q := &Queue{
		rdb:  rdb,
		cfg:  cfg,
		keys: keyspace.New(cfg.Prefix),
		log:  cfg.Logger.With("component", "queue", "consumer", cfg.Consumer),
	}
	ctx := context.Background()
	for _, k := range Kinds {
		if err := q.ensureGroup(ctx, k); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// Consumer is this Queue's consumer name in the group.
func (q *Queue) Consumer() string { return q.cfg.Consumer }

// ensureGroup creates kind's stream and the group if either is missing: at
// start, and again when Redis has lost them (FLUSHALL, a restart without
// persistence). The group starts at the beginning of the stream, so entries
// added while it was missing are delivered too.
func (q *Queue) ensureGroup(ctx context.Context, kind Kind) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.keys.Stream(string(kind)), q.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create group %s on %s: %w", q.cfg.Group, kind, err)
	}
	return nil
}

// Enqueue adds t to its kind's stream now and returns the entry's id. The
// Task's ID and Deliveries are ignored.
func (q *Queue) Enqueue(ctx context.Context, t Task) (string, error) {
	if !t.Kind.Valid() {
		return "", fmt.Errorf("enqueue %q: %w", t.Kind, ErrUnknownKind)
	}
	id, err := q.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: q.keys.Stream(string(t.Kind)),
		MaxLen: q.cfg.MaxLen,
		Approx: true,
		Values: t.fields(),
	}).Result()
	if err != nil {
		return "", fmt.Errorf("enqueue %s job %d: %w", t.Kind, t.JobID, err)
	}
	return id, nil
}

// scheduled is a member of a retry set. The nonce keeps two identical
// schedules from collapsing into one member; the kind is there for people
// reading the set, the script uses the set's own stream.
type scheduled struct {
	Nonce  string   `json:"n"`
	Kind   Kind     `json:"k"`
	Fields []string `json:"f"`
}

// Schedule adds t to its kind's retry set, due at at; Run moves it to the
// stream once Config.Now passes at (within Config.PollInterval). The Task's
// ID and Deliveries are ignored.
func (q *Queue) Schedule(ctx context.Context, t Task, at time.Time) error {
	if !t.Kind.Valid() {
		return fmt.Errorf("schedule %q: %w", t.Kind, ErrUnknownKind)
	}
	member, err := json.Marshal(scheduled{Nonce: randomHex(8), Kind: t.Kind, Fields: t.fields()})
	if err != nil {
		return fmt.Errorf("schedule %s job %d: %w", t.Kind, t.JobID, err)
	}
	err = q.rdb.ZAdd(ctx, q.keys.Retry(string(t.Kind)), redis.Z{Score: float64(at.UnixMilli()), Member: member}).Err()
	if err != nil {
		return fmt.Errorf("schedule %s job %d: %w", t.Kind, t.JobID, err)
	}
	return nil
}

// Backoff returns how long to wait before retry n (1 for the first retry):
// Config.BackoffBase doubled n-1 times, capped at Config.BackoffMax,
// randomized by Config.Jitter, and never less than retryAfter, the wait a
// provider asked for (Retry-After; 0 when it sent none), even above the cap.
func (q *Queue) Backoff(n int, retryAfter time.Duration) time.Duration {
	d, ceiling := q.cfg.BackoffBase, q.cfg.BackoffMax
	for i := 1; i < n && d < ceiling; i++ {
		if d > ceiling/2 { // doubling would pass the cap (or overflow)
			d = ceiling
			break
		}
		d *= 2
	}
	d = min(d, ceiling)
	switch q.cfg.Jitter {
	case JitterEqual:
		d = d/2 + rand.N(d/2+1)
	case JitterFull:
		d = rand.N(d + 1)
	}
	return max(d, retryAfter)
}

// fields encodes t for a stream entry.
func (t Task) fields() []string {
	f := []string{
		fieldJob, strconv.FormatInt(t.JobID, 10),
		fieldAttempt, strconv.Itoa(t.Attempt),
	}
	if len(t.Data) > 0 {
		b, _ := json.Marshal(t.Data) // a map of strings always encodes
		f = append(f, fieldData, string(b))
	}
	return f
}

// decodeTask reads a task from a stream entry's fields. It fills what it can
// even when it returns an error.
func decodeTask(kind Kind, id string, values map[string]any) (Task, error) {
	t := Task{Kind: kind, ID: id}
	str := func(name string) (string, bool) {
		s, ok := values[name].(string)
		return s, ok
	}
	var errs []error
	if s, ok := str(fieldJob); !ok {
		errs = append(errs, errors.New("no job field"))
	} else if n, err := strconv.ParseInt(s, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("job field %q: not an integer", s))
	} else {
		t.JobID = n
	}
	if s, ok := str(fieldAttempt); ok {
		if n, err := strconv.Atoi(s); err != nil {
			errs = append(errs, fmt.Errorf("attempt field %q: not an integer", s))
		} else {
			t.Attempt = n
		}
	}
	if s, ok := str(fieldData); ok {
		if err := json.Unmarshal([]byte(s), &t.Data); err != nil {
			errs = append(errs, fmt.Errorf("data field: %w", err))
		}
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("malformed %s entry %s: %w", kind, id, errors.Join(errs...))
	}
	return t, nil
}

// idTime is the time a stream entry id was made (its milliseconds part).
func idTime(id string) (time.Time, bool) {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}
