package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
)

// fixture is a worker over SQLite, a queue on miniredis (key prefix "t")
// and a mem:// bucket (newFixtureOn: another), with a clock that stands
// still at now.
type fixture struct {
	store *jobs.Store
	queue *queue.Queue
	// outage makes the outbox relay's queue calls fail while it is set
	// (Redis unreachable for the relay; the worker's own queue is intact).
	outage atomic.Bool
	relay  *jobs.Relay
	rdb    redis.UniversalClient
	bucket *blob.Bucket
	vault  *jobs.Vault
	w      *worker.Worker
	now    time.Time
}

func newFixture(t *testing.T, cfg worker.Config, drivers ...providers.Driver) *fixture {
	t.Helper()
	return newFixtureOn(t, "mem://", cfg, drivers...)
}

// newFixtureOn is newFixture with the bucket at bucketURL.
func newFixtureOn(t *testing.T, bucketURL string, cfg worker.Config, drivers ...providers.Driver) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	f.store = jobs.NewStore(jobstest.SQLite(t), func() time.Time { return f.now })
	f.rdb = redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { f.rdb.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	if f.queue, err = queue.New(f.rdb, queue.Config{Prefix: "t", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if f.bucket, err = blob.Open(ctx, bucketURL, blob.Options{SigningKey: []byte(strings.Repeat("k", 32)), BaseURL: "http://vidgate.test"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.bucket.Close() })
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	// The worker's process sends the tasks its commits write to the outbox
	// at once, through a queue the test can make unreachable.
	f.relay = jobs.NewRelay(f.store, flaky{f.queue, &f.outage}, jobs.RelayConfig{Logger: quiet})
	f.vault = jobstest.Vault(t)
	f.w = worker.New(f.store, f.vault, f.queue, providers.NewRegistry(drivers...), f.bucket, cfg)
	return f
}

// another returns a second worker on the fixture's database, queue and
// bucket: another process of the same deployment.
func (f *fixture) another(cfg worker.Config, drivers ...providers.Driver) *worker.Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return worker.New(f.store, f.vault, f.queue, providers.NewRegistry(drivers...), f.bucket, cfg)
}

var uuidN atomic.Int64

// submittedJob inserts a job of provider and moves it to SUBMITTED at
// attempt 1 with provider request id rid, as a submit would.
func (f *fixture) submittedJob(t *testing.T, provider, rid string) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	j, _, err := f.store.InsertJob(ctx, &jobs.Job{PublicID: fmt.Sprintf("00000000-0000-4000-8000-%012d", uuidN.Add(1)),
		OwnerID: "alice", WorkflowType: jobs.TextToVideo, Provider: provider,
		Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}, PromptHash: "h"},
		&jobs.Prompt{KeyID: "k1", Ciphertext: []byte("x")}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []jobs.Transition{
		{From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1, Source: jobs.SourceWorker},
		{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, Type: "provider_request_created", ExpectAttempt: 1, ProviderRequestID: rid, Source: jobs.SourceWorker},
	} {
		tr.JobID = j.ID
		if j, err = f.store.TransitionTx(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// scheduled returns the due times of the tasks of kind waiting in the
// queue's retry set, earliest first.
func (f *fixture) scheduled(t *testing.T, kind queue.Kind) []time.Time {
	t.Helper()
	zs, err := f.rdb.ZRangeWithScores(context.Background(), "t:{q}:retry:"+string(kind), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]time.Time, len(zs))
	for i, z := range zs {
		out[i] = time.UnixMilli(int64(z.Score)).UTC()
	}
	return out
}

// clear empties the retry set of kind.
func (f *fixture) clear(t *testing.T, kind queue.Kind) {
	t.Helper()
	if err := f.rdb.Del(context.Background(), "t:{q}:retry:"+string(kind)).Err(); err != nil {
		t.Fatal(err)
	}
}

// job reads job id back.
func (f *fixture) job(t *testing.T, id int64) *jobs.Job {
	t.Helper()
	j, err := f.store.JobByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// errOutage is what a queue call returns during a fixture's outage.
var errOutage = fmt.Errorf("dial tcp 127.0.0.1:6379: connect: connection refused")

// flaky is a queue whose calls fail while down is set.
type flaky struct {
	q    *queue.Queue
	down *atomic.Bool
}

func (f flaky) Enqueue(ctx context.Context, t queue.Task) (string, error) {
	if f.down.Load() {
		return "", errOutage
	}
	return f.q.Enqueue(ctx, t)
}

func (f flaky) Schedule(ctx context.Context, t queue.Task, at time.Time) error {
	if f.down.Load() {
		return errOutage
	}
	return f.q.Schedule(ctx, t, at)
}
