package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/worker"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/router"
	"github.com/vidgate/vidgate/providers/setup"
)

// runwayRunning is a Runway API whose every task is RUNNING.
func runwayRunning(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer rw-key" {
			http.Error(w, `{"error":"unexpected call"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + r.URL.Path[len("/v1/tasks/"):] + `","status":"RUNNING","createdAt":"2026-11-27T11:59:00Z","progress":0.25}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// steady is a provider without a minimum poll interval whose every request
// is processing.
type steady struct{}

func (steady) Name() string { return "steady" }
func (steady) Submit(context.Context, providers.Request) (string, error) {
	return "", providers.Errorf(providers.CodeUnimplemented, "no submits")
}
func (steady) Status(_ context.Context, id string) (providers.Status, error) {
	return providers.Status{RequestID: id, State: providers.StateProcessing, Progress: 10}, nil
}
func (steady) Cancel(context.Context, string) error { return nil }

// Runway asks to be polled at most every 5 s: with a configured interval
// of 1 s, no poll of a Runway job — the first after submit or any later
// one — is scheduled sooner than 5 s after the last, even through the
// wrappers production puts around the driver (a concurrency limit, the
// router's breaker). A provider without a minimum keeps the 1 s.
func TestPollHonoursMinPollInterval(t *testing.T) {
	t.Parallel()
	srv := runwayRunning(t)
	vendors, err := setup.Settings{Runway: setup.RunwaySettings{APIKey: "rw-key", BaseURL: srv.URL, Concurrency: 2}}.Drivers()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := router.New(providers.NewRegistry(append(vendors, steady{})...), router.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := rt.Registry()
	rw, _ := reg.Get("runway")
	st, _ := reg.Get("steady")
	if got := providers.MinPollInterval(rw); got != 5*time.Second {
		t.Fatalf("MinPollInterval(wrapped runway) = %s, want 5s", got)
	}
	f := newFixture(t, worker.Config{PollEvery: time.Second, PollMax: 4 * time.Second}, rw, st)
	ctx := context.Background()

	for _, tc := range []struct {
		provider string
		want     func(n int) time.Duration // the wait before poll n+1
	}{
		{"runway", func(int) time.Duration { return 5 * time.Second }},
		{"steady", func(n int) time.Duration { return min(time.Second<<n, 4*time.Second) }},
	} {
		job := f.submittedJob(t, tc.provider, "task-"+tc.provider)
		// Poll 0 stands for the submit, which schedules poll 1 the same way.
		for n := range 5 {
			f.clear(t, queue.KindPoll)
			task := queue.Task{Kind: queue.KindPoll, JobID: job.ID, Attempt: 1, Data: map[string]string{"n": strconv.Itoa(n)}}
			if err := f.w.Handle(ctx, task); err != nil {
				t.Fatalf("%s poll %d: %v", tc.provider, n, err)
			}
			due := f.scheduled(t, queue.KindPoll)
			if len(due) != 1 {
				t.Fatalf("%s poll %d scheduled %d polls, want 1", tc.provider, n, len(due))
			}
			if got := due[0].Sub(f.now); got != tc.want(n) {
				t.Errorf("%s poll %d: next poll in %s, want %s", tc.provider, n, got, tc.want(n))
			}
			if tc.provider == "runway" && due[0].Sub(f.now) < 5*time.Second {
				t.Errorf("runway poll %d: next poll %s after the last, sooner than Runway's 5s", n, due[0].Sub(f.now))
			}
		}
		if j := f.job(t, job.ID); j.Status != "PROCESSING" {
			t.Errorf("%s job after polls: %s, want PROCESSING", tc.provider, j.Status)
		}
	}
}
