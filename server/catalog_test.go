package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/server"
)

// recorder is the simulated provider's driver, wrapped: its catalog is
// found through Unwrap, as for the metrics and limit wrappers in
// production, and Submit records each request instead of calling the
// simulator.
type recorder struct {
	providers.Driver
	mu   sync.Mutex
	reqs []providers.Request
}

func (r *recorder) Unwrap() providers.Driver { return r.Driver }

func (r *recorder) Submit(_ context.Context, req providers.Request) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return fmt.Sprintf("gen-%d", len(r.reqs)), nil
}

func (r *recorder) requests() []providers.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// newCatalogEnv is newEnv whose "sim" provider has the simulator's
// catalog; "other" has none. allow is the pass-through setting.
func newCatalogEnv(t *testing.T, db *bun.DB, allow func(string) bool) (*env, *recorder) {
	t.Helper()
	rec := &recorder{Driver: sim.NewDriver("http://127.0.0.1:1/sim", "key", "", nil)}
	e := newEnvService(t, db, server.Config{MaxBodyBytes: 64 << 10}, nil, func(c *jobs.ServiceConfig) {
		c.Drivers = providers.NewRegistry(rec)
		c.AllowUnlistedModels = allow
	})
	return e, rec
}

const providersQuery = `{ providers { name defaultTextToVideoModel allowsUnlistedModels
  models { id name workflows durations minDurationSeconds maxDurationSeconds aspectRatios resolutions endFrame audio negativePrompt seed } } }`

func TestProvidersQuery(t *testing.T) {
	e, _ := newCatalogEnv(t, jobstest.SQLite(t), nil)
	// Any role may read it: a reviewer here.
	r := e.do(t, "rita", providersQuery, nil).ok(t)
	ps, _ := r.get("providers").([]any)
	if len(ps) != 2 {
		t.Fatalf("providers = %v, want sim and other", ps)
	}
	other, simp := ps[0].(map[string]any), ps[1].(map[string]any)
	if other["name"] != "other" || len(other["models"].([]any)) != 0 {
		t.Errorf("other = %v, want no models (its driver has no catalog)", other)
	}
	if simp["name"] != "sim" || simp["defaultTextToVideoModel"] != "sim-1" || simp["allowsUnlistedModels"] != false {
		t.Errorf("sim = %v, want default sim-1, unlisted models refused", simp)
	}
	models := simp["models"].([]any)
	if len(models) != 2 {
		t.Fatalf("sim models = %v, want sim-1 and sim-1-turbo", models)
	}
	want := map[string]any{
		"id": "sim-1", "workflows": []any{"TEXT_TO_VIDEO", "IMAGE_TO_VIDEO"}, "durations": nil,
		"minDurationSeconds": 1.0, "maxDurationSeconds": 20.0,
		"aspectRatios": []any{"16:9", "9:16", "1:1", "4:3", "3:4", "21:9"}, "resolutions": []any{"720p", "1080p", "4k"},
		"endFrame": true, "audio": true, "negativePrompt": true, "seed": true,
	}
	for k, v := range want {
		if got := models[0].(map[string]any)[k]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("sim-1 %s = %v, want %v", k, got, v)
		}
	}
	turbo := models[1].(map[string]any)
	if turbo["id"] != "sim-1-turbo" || turbo["seed"] != false || fmt.Sprint(turbo["resolutions"]) != "[720p 1080p]" {
		t.Errorf("sim-1-turbo = %v, want no seed, no 4k", turbo)
	}
	e.do(t, "", providersQuery, nil).wantError(t, "UNAUTHENTICATED", "")
}

// TestCreateWithOptionsReachesDriver creates a job with every option over
// HTTP and submits it as a worker does: the driver gets each option, the
// GraphQL job shows them, and the negative prompt is nowhere in
// video_jobs or its events.
func TestCreateWithOptionsReachesDriver(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		const negative = "rain-7c1f on the lens"
		e, rec := newCatalogEnv(t, db, nil)
		end := e.upload(t, "alice", "end.png", "image/png", encodePNG(t, 96, 64)).ok(t).str("uploadSourceAsset.id")
		r := e.do(t, "alice", `mutation($in: CreateVideoJobInput!) {
  createVideoJob(input: $in) { job { id prompt model seed audio resolution endFrameAssetId durationSeconds } } }`,
			map[string]any{"in": map[string]any{
				"workflowType": "TEXT_TO_VIDEO", "prompt": "a lighthouse at dusk", "model": "sim-1",
				"seed": 4294967295, "negativePrompt": negative, "audio": true, "resolution": "4k", "endFrameAssetId": end,
			}}).ok(t)
		want := map[string]any{"prompt": "a lighthouse at dusk", "model": "sim-1", "seed": 4294967295.0, "audio": true,
			"resolution": "4k", "endFrameAssetId": end, "durationSeconds": 5.0}
		for k, v := range want {
			if got := r.get("createVideoJob.job." + k); got != v {
				t.Errorf("job.%s = %v, want %v", k, got, v)
			}
		}
		job, err := e.store.JobByPublicID(t.Context(), r.str("createVideoJob.job.id"))
		if err != nil {
			t.Fatal(err)
		}

		submit(t, e, rec, job.ID)
		reqs := rec.requests()
		if len(reqs) != 1 {
			t.Fatalf("driver got %d requests, want 1", len(reqs))
		}
		got := reqs[0]
		if got.Model != "sim-1" || got.Seed == nil || *got.Seed != 4294967295 || got.NegativePrompt != negative ||
			got.Audio == nil || !*got.Audio || got.Resolution != "4k" || got.Prompt != "a lighthouse at dusk" || got.EndFrameURL == "" {
			t.Errorf("driver request = %+v, want every option of the job", got)
		}

		for _, table := range []string{"video_jobs", "video_job_events"} {
			var rows []map[string]any
			if err := db.NewSelect().TableExpr(table).Scan(t.Context(), &rows); err != nil {
				t.Fatal(err)
			}
			if dump := fmt.Sprintf("%v", rows); strings.Contains(dump, "rain-7c1f") || len(rows) == 0 {
				t.Errorf("%s holds the negative prompt (or nothing): %s", table, dump)
			}
		}
	})
}

// TestCreateRefusesWhatTheModelCannotDo: every refusal is BAD_USER_INPUT
// on the field, names what the model does, and stores no job.
func TestCreateRefusesWhatTheModelCannotDo(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e, _ := newCatalogEnv(t, db, nil)
		for _, tt := range []struct {
			in          map[string]any
			field, says string
		}{
			{map[string]any{"model": "sim-1-turbo", "seed": 7}, "input.seed", "sim model sim-1-turbo does not take seed (it takes no option)"},
			{map[string]any{"model": "sim-1-turbo", "negativePrompt": "fog"}, "input.negativePrompt", "does not take negativePrompt"},
			{map[string]any{"model": "sim-1-turbo", "resolution": "4k"}, "input.resolution", `makes 720p, 1080p, not "4k"`},
			{map[string]any{"durationSeconds": 25}, "input.durationSeconds", "sim-1 makes videos of 1 to 20 seconds, not 25"},
			{map[string]any{"model": "sim-9"}, "input.model", `provider sim offers sim-1, sim-1-turbo, not "sim-9"`},
			{map[string]any{"provider": "other", "audio": true}, "input.audio", "it takes no option: it is not in vidgate's catalog"},
			{map[string]any{"seed": -1}, "input.seed", "must be 0 to 4294967295"},
		} {
			tt.in["prompt"] = "a quiet harbour"
			got := e.create(t, "alice", tt.in).wantError(t, "BAD_USER_INPUT", tt.field)
			if !strings.Contains(got.Message, tt.says) {
				t.Errorf("create(%v) = %q, want it to say %q", tt.in, got.Message, tt.says)
			}
			if strings.Contains(got.Message, "fog") {
				t.Errorf("create(%v) = %q quotes the negative prompt", tt.in, got.Message)
			}
		}
		if n := countJobs(t, e.store); n != 0 {
			t.Errorf("%d jobs stored, want none", n)
		}
	})
}

// TestUnlistedModelPassThrough: a model outside the catalog is refused,
// unless the operator allows unlisted models for the provider; even then
// it may ask for no option, since nothing says it takes one.
func TestUnlistedModelPassThrough(t *testing.T) {
	e, _ := newCatalogEnv(t, jobstest.SQLite(t), func(p string) bool { return p == "sim" })
	r := e.create(t, "alice", map[string]any{"prompt": "a quiet harbour", "model": "sim-2-preview", "durationSeconds": 12}).ok(t)
	if r.str("createVideoJob.job.id") == "" {
		t.Fatalf("create = %v, want the job", r.Data)
	}
	e.create(t, "alice", map[string]any{"prompt": "a quiet harbour", "model": "sim-2-preview", "seed": 1}).
		wantError(t, "BAD_USER_INPUT", "input.seed")
	if q := e.do(t, "alice", providersQuery, nil).ok(t); q.get("providers") == nil || !strings.Contains(fmt.Sprint(q.get("providers")), "allowsUnlistedModels:true") {
		t.Errorf("providers = %v, want sim to allow unlisted models", q.get("providers"))
	}
}

// TestIdempotentReplayComparesOptions: the same request with the same key
// returns the job; the same key with another seed is a CONFLICT.
func TestIdempotentReplayComparesOptions(t *testing.T) {
	e, _ := newCatalogEnv(t, jobstest.SQLite(t), nil)
	in := func(seed int) map[string]any {
		return map[string]any{"prompt": "a quiet harbour", "idempotencyKey": "k-1", "seed": seed, "audio": false, "negativePrompt": "fog"}
	}
	first := e.create(t, "alice", in(3)).ok(t)
	again := e.create(t, "alice", in(3)).ok(t)
	if again.get("createVideoJob.created") != false || again.str("createVideoJob.job.id") != first.str("createVideoJob.job.id") {
		t.Errorf("replay = %v, want the first job, created false", again.Data)
	}
	e.create(t, "alice", in(4)).wantError(t, "CONFLICT", "input.idempotencyKey")
	other := in(3)
	other["negativePrompt"] = "smoke"
	e.create(t, "alice", other).wantError(t, "CONFLICT", "input.idempotencyKey")
}

// submit runs job id's first submit task as a worker does, with rec as
// its provider.
func submit(t *testing.T, e *env, rec *recorder, id int64) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Config{Prefix: "t", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(e.store, e.vault, q, providers.NewRegistry(rec), e.bucket, worker.Config{Logger: quiet})
	if err := w.Handle(t.Context(), queue.Task{Kind: queue.KindSubmit, JobID: id, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestRetryKeepsOptions: retryVideoJob's new job asks the driver for
// what the original asked, negative prompt included.
func TestRetryKeepsOptions(t *testing.T) {
	e, rec := newCatalogEnv(t, jobstest.SQLite(t), nil)
	r := e.create(t, "alice", map[string]any{"prompt": "a quiet harbour", "model": "sim-1", "seed": 9, "negativePrompt": "no gulls", "audio": true}).ok(t)
	id := r.str("createVideoJob.job.id")
	e.do(t, "alice", `mutation($id: ID!) { cancelVideoJob(id: $id) { status } }`, map[string]any{"id": id}).ok(t)
	retried := e.do(t, "alice", `mutation($id: ID!) { retryVideoJob(id: $id) { id prompt model seed audio } }`, map[string]any{"id": id}).ok(t)
	if retried.str("retryVideoJob.prompt") != "a quiet harbour" || retried.str("retryVideoJob.model") != "sim-1" ||
		retried.get("retryVideoJob.seed") != 9.0 || retried.get("retryVideoJob.audio") != true {
		t.Errorf("retryVideoJob = %v, want the original's prompt and options", retried.Data)
	}
	job, err := e.store.JobByPublicID(t.Context(), retried.str("retryVideoJob.id"))
	if err != nil {
		t.Fatal(err)
	}
	submit(t, e, rec, job.ID)
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].NegativePrompt != "no gulls" || reqs[0].Seed == nil || *reqs[0].Seed != 9 {
		t.Errorf("driver requests = %+v, want the retry with the original's negative prompt and seed", reqs)
	}
}
