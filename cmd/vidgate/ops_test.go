package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
)

// opsEnv points the operator commands at a migrated SQLite database and a
// test Redis, and returns the Redis prefix.
func opsEnv(t *testing.T) (dbURL, prefix, redisURL string) {
	dir := t.TempDir()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	dbURL = "sqlite:" + filepath.Join(dir, "ops.db")
	prefix = fmt.Sprintf("vgtest-ops-%d", time.Now().UnixNano())
	t.Setenv("VIDGATE_DATABASE_URL", dbURL)
	t.Setenv("VIDGATE_BUCKET_URL", "file://"+filepath.Join(dir, "bucket"))
	t.Setenv("VIDGATE_PROMPT_KEYS", "k1:"+key)
	t.Setenv("VIDGATE_PROMPT_HASH_KEY", key)
	t.Setenv("VIDGATE_URL_SIGNING_KEY", key)
	redisURL = testRedisURL(t)
	t.Setenv("VIDGATE_REDIS_URL", redisURL)
	t.Cleanup(func() {
		opts, _ := redis.ParseURL(redisURL)
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		keys, _ := rdb.Keys(context.Background(), prefix+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	t.Setenv("VIDGATE_REDIS_PREFIX", prefix)
	t.Setenv("VIDGATE_SIM_WEBHOOK_SECRET", "whsec_"+key)
	if err := run(context.Background(), []string{"migrate"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	return dbURL, prefix, redisURL
}

func TestJobsStuck(t *testing.T) {
	dbURL, _, _ := opsEnv(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"jobs", "stuck"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "nothing is stuck") {
		t.Fatalf("jobs stuck on an empty database = %q, %v", out.String(), err)
	}
	ctx := context.Background()
	db, err := jobs.OpenDB(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := jobs.NewStore(db, func() time.Time { return time.Now().Add(-time.Hour) })
	job, _, err := store.InsertJob(ctx, &jobs.Job{PublicID: "00000000-0000-4000-8000-000000000042", OwnerID: "alice", WorkflowType: jobs.TextToVideo,
		Provider: "sim", Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}, PromptHash: "h"},
		&jobs.Prompt{KeyID: "k1", Ciphertext: []byte("x")}, "")
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"jobs", "stuck"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RULE", "requeue", job.PublicID, "QUEUED", "no worker on it"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("jobs stuck output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(ctx, []string{"jobs", "nope"}, io.Discard, io.Discard); err == nil {
		t.Error("jobs nope: no error")
	}
}

func TestDLQ(t *testing.T) {
	_, prefix, redisURL := opsEnv(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"dlq", "list"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "no dead letters") {
		t.Fatalf("dlq list on an empty queue = %q, %v", out.String(), err)
	}
	// Make a dead letter the way production does: a task that keeps failing.
	opts, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	q, err := queue.New(rdb, queue.Config{Prefix: prefix, MaxDeliveries: 1, VisibilityTimeout: 100 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, queue.Task{Kind: queue.KindIngest, JobID: 7, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	dead, stopped := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(stopped)
		q.Run(rctx, 0, func(context.Context, queue.Task) error { return errors.New("boom") },
			func(context.Context, queue.Task) error { once.Do(func() { close(dead) }); return nil })
	}()
	select {
	case <-dead:
	case <-time.After(10 * time.Second):
		t.Fatal("the task was not dead-lettered")
	}
	// The entry moves to the dead letters after the callback, in its
	// handler's goroutine, which has ended when Run returns.
	stop()
	<-stopped // nothing consumes the stream from here on
	if st, err := q.Stats(ctx); err != nil || st[queue.KindIngest].DeadLetters != 1 {
		t.Fatalf("Stats() = %+v, %v after Run returned; want one ingest dead letter", st[queue.KindIngest], err)
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "list"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ingest") {
		t.Fatalf("dlq list = %q, %v, want the ingest dead letter", out.String(), err)
	}
	if err := run(ctx, []string{"dlq", "replay", "1-0"}, io.Discard, io.Discard); err == nil {
		t.Error("dlq replay of an unknown entry: no error")
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "replay", "--all"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "replayed 1 ingest") {
		t.Errorf("dlq replay --all = %q, %v", out.String(), err)
	}
	stats, _ := q.Stats(ctx)
	if stats[queue.KindIngest].DeadLetters != 0 || stats[queue.KindIngest].Length != 1 {
		t.Errorf("after replay: %+v, want the task back on its stream", stats[queue.KindIngest])
	}
}
