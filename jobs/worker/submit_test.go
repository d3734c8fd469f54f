package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
)

// ledger is a vendor that honours idempotency keys the way the simulator
// does: one generation — one bill — per key, and the same generation for a
// key it saw before. after, when set, runs after the vendor started (or
// found) the generation of call n (1-based) and may lose its answer.
type ledger struct {
	mu    sync.Mutex
	gens  map[string]string // idempotency key → generation id
	calls []string          // the key of each call, in order
	after func(ctx context.Context, n int) error
	// failed is the generation the vendor reports failed on its side.
	failed string
}

func (l *ledger) Name() string                { return "ledger" }
func (l *ledger) HonorsIdempotencyKeys() bool { return true }

func (l *ledger) Submit(ctx context.Context, req providers.Request) (string, error) {
	l.mu.Lock()
	if l.gens == nil {
		l.gens = map[string]string{}
	}
	l.calls = append(l.calls, req.IdempotencyKey)
	id, ok := l.gens[req.IdempotencyKey]
	if !ok {
		id = fmt.Sprintf("gen-%d", len(l.gens)+1)
		l.gens[req.IdempotencyKey] = id
	}
	n := len(l.calls)
	l.mu.Unlock()
	if l.after != nil {
		if err := l.after(ctx, n); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (l *ledger) Status(_ context.Context, id string) (providers.Status, error) {
	if id == l.failed {
		return providers.Status{RequestID: id, State: providers.StateFailed,
			Error: providers.Errorf(providers.CodeUnavailable, "the vendor's GPU fell over")}, nil
	}
	return providers.Status{RequestID: id, State: providers.StateProcessing}, nil
}

func (l *ledger) Cancel(context.Context, string) error { return nil }

// generations returns how many generations the vendor started, and the
// keys it was called with.
func (l *ledger) generations() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.gens), append([]string(nil), l.calls...)
}

// connReset is what a submit gets when the vendor took the request and the
// connection broke before its answer came: the outcome is unknown.
var connReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// submitWorker is a worker over f's store and queue with one provider d,
// and a job of d, QUEUED with a sealed prompt it can open.
func submitWorker(t *testing.T, f *fixture, d providers.Driver) (*worker.Worker, *jobs.Job) {
	t.Helper()
	vault := jobstest.Vault(t)
	w := worker.New(f.store, vault, f.queue, providers.NewRegistry(d), f.bucket,
		worker.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	pub := fmt.Sprintf("00000000-0000-4000-8000-%012d", uuidN.Add(1))
	keyID, sealed, err := vault.Seal(pub, "a red fox in the snow")
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := f.store.InsertJob(context.Background(), &jobs.Job{PublicID: pub, OwnerID: "alice",
		WorkflowType: jobs.TextToVideo, Provider: d.Name(), PromptHash: "h",
		Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}},
		&jobs.Prompt{KeyID: keyID, Ciphertext: sealed}, "")
	if err != nil {
		t.Fatal(err)
	}
	return w, j
}

// scheduledTasks decodes the tasks of kind waiting in the queue's retry
// set.
func (f *fixture) scheduledTasks(t *testing.T, kind queue.Kind) []queue.Task {
	t.Helper()
	members, err := f.rdb.ZRange(context.Background(), "t:{q}:retry:"+string(kind), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []queue.Task
	for _, m := range members {
		var s struct {
			Fields []string `json:"f"`
		}
		if err := json.Unmarshal([]byte(m), &s); err != nil {
			t.Fatalf("retry set member %q: %v", m, err)
		}
		task := queue.Task{Kind: kind}
		for i := 0; i+1 < len(s.Fields); i += 2 {
			switch v := s.Fields[i+1]; s.Fields[i] {
			case "job":
				task.JobID, _ = strconv.ParseInt(v, 10, 64)
			case "attempt":
				task.Attempt, _ = strconv.Atoi(v)
			case "data":
				if err := json.Unmarshal([]byte(v), &task.Data); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = append(out, task)
	}
	return out
}

// The audit's double charge: a submit whose outcome is unknown is retried,
// Redis loses its data, and the reconciler rebuilds the retry from the
// database — a task that carries nothing but the job and the attempt. The
// rebuilt submit must ask the vendor with the same idempotency key, so the
// vendor starts, and bills, one generation.
func TestSubmitKeySurvivesRedisLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// lose makes call n lose its answer after the vendor started the
		// generation; cancel ends the worker's context (a worker killed
		// mid-call).
		lose func(ctx context.Context, n int, cancel func()) error
		// rebuilt is the task the reconciler enqueues once Redis is empty,
		// for the job as the database holds it (reconciler.Apply).
		rebuilt func(j *jobs.Job) queue.Task
		calls   int
	}{{
		// The submit's connection broke; the job waits in RETRYING for a
		// retry task that Redis then loses (rule "requeue").
		name: "transient failure, retry lost",
		lose: func(_ context.Context, n int, _ func()) error {
			if n == 1 {
				return connReset
			}
			return nil
		},
		rebuilt: func(j *jobs.Job) queue.Task {
			return queue.Task{Kind: queue.KindSubmit, JobID: j.ID, Attempt: j.Attempt + 1}
		},
		calls: 2,
	}, {
		// The retry reached the vendor and its worker died before it saved
		// the answer; the job stays SUBMITTED without a request id, and
		// Redis loses the unacknowledged task (rule "resubmit").
		name: "worker died during the retry",
		lose: func(ctx context.Context, n int, cancel func()) error {
			switch n {
			case 1:
				return connReset
			case 2:
				cancel()
				return ctx.Err()
			}
			return nil
		},
		rebuilt: func(j *jobs.Job) queue.Task {
			return queue.Task{Kind: queue.KindSubmit, JobID: j.ID, Attempt: j.Attempt}
		},
		calls: 3,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, worker.Config{})
			vendor := &ledger{}
			w, job := submitWorker(t, f, vendor)
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			vendor.after = func(ctx context.Context, n int) error { return tc.lose(ctx, n, cancel) }

			if err := w.Handle(cctx, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1}); err != nil {
				t.Fatalf("first submit: %v", err)
			}
			if j := f.job(t, job.ID); j.Status != jobs.StatusRetrying {
				t.Fatalf("after a submit whose connection broke: %s, want RETRYING", j.Status)
			}
			if tc.calls == 3 {
				// The retry the worker scheduled, as the queue delivers it.
				retries := f.scheduledTasks(t, queue.KindSubmit)
				if len(retries) != 1 {
					t.Fatalf("%d submit retries scheduled, want 1", len(retries))
				}
				if err := w.Handle(cctx, retries[0]); err == nil {
					t.Fatal("a submit whose worker was stopped mid-call returned nil: its task would be acknowledged")
				}
				if j := f.job(t, job.ID); j.Status != jobs.StatusSubmitted || j.ProviderRequestID != nil {
					t.Fatalf("after a worker died mid-submit: %s with request %q, want SUBMITTED without one", j.Status, deref(j.ProviderRequestID))
				}
			}

			if err := f.rdb.FlushAll(ctx).Err(); err != nil { // Redis comes back empty
				t.Fatal(err)
			}
			if err := w.Handle(ctx, tc.rebuilt(f.job(t, job.ID))); err != nil {
				t.Fatalf("rebuilt submit: %v", err)
			}

			j := f.job(t, job.ID)
			if j.Status != jobs.StatusSubmitted || j.ProviderRequestID == nil || *j.ProviderRequestID != "gen-1" {
				t.Errorf("job after the rebuilt submit: %s with request %q, want SUBMITTED with gen-1", j.Status, deref(j.ProviderRequestID))
			}
			gens, keys := vendor.generations()
			if gens != 1 || len(keys) != tc.calls {
				t.Errorf("vendor started %d generations in %d calls (keys %v), want 1 in %d: the user pays twice", gens, len(keys), keys, tc.calls)
			}
		})
	}
}

// A new attempt after the provider reported the generation failed is a
// new generation, under a new key: the old key would fetch the failed one.
func TestSubmitNewKeyAfterProviderFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, worker.Config{})
	vendor := &ledger{failed: "gen-1"}
	w, job := submitWorker(t, f, vendor)
	for _, task := range []queue.Task{
		{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1},
		{Kind: queue.KindPoll, JobID: job.ID, Attempt: 1, Data: map[string]string{"n": "1", "force": "1"}},
	} {
		if err := w.Handle(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if j := f.job(t, job.ID); j.Status != jobs.StatusRetrying {
		t.Fatalf("after a transient provider failure: %s, want RETRYING", j.Status)
	}
	if err := f.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Handle(ctx, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 2}); err != nil {
		t.Fatal(err)
	}
	j := f.job(t, job.ID)
	if gens, keys := vendor.generations(); gens != 2 || keys[0] == keys[1] {
		t.Errorf("after a failed generation: %d generations, keys %v; want a second generation under a new key", gens, keys)
	}
	if j.ProviderRequestID == nil || *j.ProviderRequestID != "gen-2" {
		t.Errorf("job's request after the new attempt = %q, want gen-2", deref(j.ProviderRequestID))
	}
}

// vendorAnswering is a simulator-like vendor API that answers every call
// with status and a JSON error carrying message. It records the
// idempotency key of each call (empty for calls without one).
func vendorAnswering(t *testing.T, status int, message string) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Key string `json:"idempotency_key"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		keys = append(keys, body.Key)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":%q}}`, message)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}
}

// A vendor's refusal that will not change — a 405 — fails the job at the
// first try, with the vendor's message, instead of being retried until it
// ends as PROVIDER_UNAVAILABLE with the real error hidden. 408, 409, 425
// and 429 mean "not now": they are retried, with the same key.
func TestSubmitVendorRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		status     int
		wantStatus jobs.Status
	}{
		{http.StatusMethodNotAllowed, jobs.StatusFailed},
		{http.StatusTeapot, jobs.StatusFailed},
		{http.StatusRequestTimeout, jobs.StatusRetrying},
		{http.StatusConflict, jobs.StatusRetrying},
		{http.StatusTooEarly, jobs.StatusRetrying},
		{http.StatusTooManyRequests, jobs.StatusRetrying},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			msg := fmt.Sprintf("vendor says %d: POST is not allowed on this route", tc.status)
			srv, calls := vendorAnswering(t, tc.status, msg)
			f := newFixture(t, worker.Config{})
			w, job := submitWorker(t, f, sim.NewDriver(srv.URL, "sim-key", "", srv.Client()))
			if err := w.Handle(ctx, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: 1}); err != nil {
				t.Fatal(err)
			}
			j := f.job(t, job.ID)
			if j.Status != tc.wantStatus || len(calls()) != 1 {
				t.Fatalf("after a %d: %s after %d vendor calls, want %s after 1", tc.status, j.Status, len(calls()), tc.wantStatus)
			}
			retries := f.scheduledTasks(t, queue.KindSubmit)
			if tc.wantStatus == jobs.StatusRetrying {
				if len(retries) != 1 || retries[0].Attempt != 2 {
					t.Fatalf("after a %d: retries %+v, want one for attempt 2", tc.status, retries)
				}
				// The retry asks for the same generation: the vendor may
				// have started it.
				if err := w.Handle(ctx, retries[0]); err != nil {
					t.Fatal(err)
				}
				if keys := calls(); len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
					t.Errorf("after a %d: idempotency keys of the submit and its retry %q, want the same", tc.status, keys)
				}
				return
			}
			if len(retries) != 0 {
				t.Errorf("after a %d: retries %+v scheduled, want none", tc.status, retries)
			}
			if j.ErrorCode == nil || *j.ErrorCode == jobs.FailProviderUnavailable {
				t.Errorf("after a %d: error code %q, want one that does not blame the provider's availability", tc.status, deref(j.ErrorCode))
			}
			if j.ErrorMessage == nil || !strings.Contains(*j.ErrorMessage, msg) {
				t.Errorf("after a %d: error message %q, want the vendor's %q", tc.status, deref(j.ErrorMessage), msg)
			}
		})
	}
}

// A poll the vendor refuses for good fails the job with its message, rather
// than polling until the job expires with the reason never told.
func TestPollVendorRefusal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const msg = "GET is not allowed on this route"
	srv, calls := vendorAnswering(t, http.StatusMethodNotAllowed, msg)
	f := newFixture(t, worker.Config{}, sim.NewDriver(srv.URL, "sim-key", "", srv.Client()))
	job := f.submittedJob(t, "sim", "gen-1")
	if err := f.w.Handle(ctx, queue.Task{Kind: queue.KindPoll, JobID: job.ID, Attempt: 1, Data: map[string]string{"n": "1", "force": "1"}}); err != nil {
		t.Fatal(err)
	}
	j := f.job(t, job.ID)
	if j.Status != jobs.StatusFailed || len(calls()) != 1 {
		t.Fatalf("after a 405 to a poll: %s after %d calls, want FAILED after 1", j.Status, len(calls()))
	}
	if j.ErrorMessage == nil || !strings.Contains(*j.ErrorMessage, msg) {
		t.Errorf("error message %q, want the vendor's %q", deref(j.ErrorMessage), msg)
	}
	if n := len(f.scheduled(t, queue.KindPoll)); n != 0 {
		t.Errorf("%d polls scheduled after a refusal, want none", n)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
