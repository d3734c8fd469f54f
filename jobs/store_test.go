package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

// The store conformance suite: every test runs on SQLite, and on PostgreSQL
// when VIDGATE_TEST_DATABASE_URL is set.

func newJob(owner, key string) *jobs.Job {
	j := &jobs.Job{
		PublicID: uuidFor(owner, key), OwnerID: owner, WorkflowType: jobs.TextToVideo, Provider: "sim",
		Params:     jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"},
		PromptHash: "h-" + key,
	}
	if key != "" {
		j.IdempotencyKey = &key
	}
	return j
}

var uuidMu sync.Mutex
var uuidN int

func uuidFor(string, string) string {
	uuidMu.Lock()
	defer uuidMu.Unlock()
	uuidN++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", uuidN)
}

func insert(t *testing.T, s *jobs.Store, owner, key string) (*jobs.Job, bool) {
	t.Helper()
	job, existing, err := s.InsertJob(context.Background(), newJob(owner, key), &jobs.Prompt{KeyID: "k1", Ciphertext: []byte("sealed")}, "")
	if err != nil {
		t.Fatalf("InsertJob: %v", err)
	}
	return job, existing
}

func events(t *testing.T, s *jobs.Store, id int64) []*jobs.Event {
	t.Helper()
	m, err := s.EventsOf(context.Background(), []int64{id})
	if err != nil {
		t.Fatal(err)
	}
	return m[id]
}

func TestStoreInsertJob(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		s := jobs.NewStore(db, nil)
		job, existing := insert(t, s, "alice", "")
		if existing {
			t.Fatal("InsertJob existing = true for a new job")
		}
		if job.ID == 0 || job.Status != jobs.StatusQueued || job.Version != 1 {
			t.Errorf("InsertJob = id %d %s v%d, want id>0 QUEUED v1", job.ID, job.Status, job.Version)
		}
		got, err := s.JobByPublicID(context.Background(), job.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != job.ID || got.OwnerID != "alice" || got.Params.AspectRatio != "16:9" || !got.CreatedAt.Equal(job.CreatedAt) {
			t.Errorf("JobByPublicID = %+v, want the inserted job %+v", got, job)
		}
		evs := events(t, s, job.ID)
		if len(evs) != 1 || evs[0].Type != "queued" || evs[0].Version != 1 || evs[0].NewStatus != jobs.StatusQueued || evs[0].PreviousStatus != nil {
			t.Errorf("events = %+v, want one queued event at version 1", evs)
		}
		p, err := s.PromptOf(context.Background(), job.ID)
		if err != nil || string(p.Ciphertext) != "sealed" || p.KeyID != "k1" {
			t.Errorf("PromptOf = %+v, %v, want the sealed prompt", p, err)
		}
		if _, err := s.JobByPublicID(context.Background(), "00000000-0000-4000-8000-999999999999"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("JobByPublicID(missing) error = %v, want ErrNotFound", err)
		}
	})
}

func TestStoreIdempotencyKey(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		s := jobs.NewStore(db, nil)
		first, _ := insert(t, s, "alice", "key-1")
		again, existing := insert(t, s, "alice", "key-1")
		if !existing || again.ID != first.ID {
			t.Errorf("second insert with the same key = job %d existing=%v, want job %d existing=true", again.ID, existing, first.ID)
		}
		other, existing := insert(t, s, "bob", "key-1")
		if existing || other.ID == first.ID {
			t.Errorf("another owner's insert with the same key = job %d existing=%v, want a new job", other.ID, existing)
		}
		// Racing creates with one key make one job.
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				job, _, err := s.InsertJob(context.Background(), newJob("carol", "race"), &jobs.Prompt{KeyID: "k1", Ciphertext: []byte("x")}, "")
				if err != nil {
					t.Errorf("InsertJob: %v", err)
					return
				}
				ids[i] = job.ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("racing inserts made jobs %v, want one", ids)
			}
		}
		if evs := events(t, s, ids[0]); len(evs) != 1 {
			t.Errorf("racing inserts left %d events, want 1", len(evs))
		}
	})
}

func TestStoreTransitionGuard(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		job, _ := insert(t, s, "alice", "")
		tr := jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Source: jobs.SourceWorker}
		moved, err := s.Transition(ctx, db, tr)
		if err != nil {
			t.Fatalf("Transition: %v", err)
		}
		if moved.Status != jobs.StatusSubmitted || moved.Version != 2 || moved.SubmittedAt == nil {
			t.Errorf("Transition = %s v%d submitted_at=%v, want SUBMITTED v2 with submitted_at", moved.Status, moved.Version, moved.SubmittedAt)
		}
		// The same transition again is a duplicate: refused, nothing written.
		_, err = s.Transition(ctx, db, tr)
		var guard *jobs.GuardError
		if !errors.As(err, &guard) || guard.Actual != jobs.StatusSubmitted {
			t.Fatalf("repeated Transition error = %v, want a GuardError with actual SUBMITTED", err)
		}
		// A pair the state machine forbids is refused before any SQL.
		if _, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusQueued}); err == nil {
			t.Error("Transition SUBMITTED → QUEUED succeeded, want refused")
		}
		if _, err := s.Transition(ctx, db, jobs.Transition{JobID: 1 << 40, From: jobs.StatusQueued, To: jobs.StatusSubmitted}); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("Transition(missing job) error = %v, want ErrNotFound", err)
		}
		got, _ := s.JobByID(ctx, job.ID)
		if got.Status != jobs.StatusSubmitted || got.Version != 2 {
			t.Errorf("after refused transitions job is %s v%d, want SUBMITTED v2", got.Status, got.Version)
		}
		evs := events(t, s, job.ID)
		if len(evs) != 2 || evs[1].Type != "submitted" || *evs[1].PreviousStatus != jobs.StatusQueued || evs[1].Version != 2 {
			t.Errorf("events = %d, last %+v, want queued then submitted at version 2", len(evs), evs[len(evs)-1])
		}
		// A failure stores its code on the job and the event.
		failed, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusFailed,
			Source: jobs.SourceWorker, ErrorCode: jobs.FailContentPolicy, ErrorMessage: "refused"})
		if err != nil || failed.ErrorCode == nil || *failed.ErrorCode != jobs.FailContentPolicy {
			t.Errorf("Transition to FAILED = %+v, %v, want error code %s", failed, err, jobs.FailContentPolicy)
		}
	})
}

// Racing writers: exactly one of many identical transitions wins, and the
// event log records it once.
func TestStoreTransitionRace(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		job, _ := insert(t, s, "alice", "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, guards := 0, 0
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
					_, err := s.Transition(ctx, tx, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Source: jobs.SourceWorker})
					return err
				})
				var guard *jobs.GuardError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.As(err, &guard):
					guards++
				default:
					t.Errorf("Transition: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || guards != 9 {
			t.Errorf("10 racing transitions: %d won, %d guarded, want 1 and 9", wins, guards)
		}
		if evs := events(t, s, job.ID); len(evs) != 2 {
			t.Errorf("events after the race = %d, want 2", len(evs))
		}
	})
}

func TestStoreListJobs(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		var alice []*jobs.Job
		for i := range 25 {
			j, _ := insert(t, s, "alice", "")
			alice = append(alice, j)
			if i%2 == 0 {
				insert(t, s, "bob", "")
			}
		}
		// Page through alice's jobs, 10 at a time, while new jobs arrive.
		var seen []int64
		before := int64(0)
		for page := 0; ; page++ {
			got, err := s.ListJobs(ctx, jobs.ListFilter{OwnerID: "alice", BeforeID: before, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range got {
				if j.OwnerID != "alice" {
					t.Fatalf("ListJobs(alice) returned %s's job", j.OwnerID)
				}
				seen = append(seen, j.ID)
			}
			if len(got) < 10 {
				break
			}
			before = got[len(got)-1].ID
			insert(t, s, "alice", "") // newer than every page: must not shift them
		}
		if len(seen) != len(alice) {
			t.Fatalf("paged through %d jobs, want %d", len(seen), len(alice))
		}
		for i, id := range seen {
			if want := alice[len(alice)-1-i].ID; id != want {
				t.Fatalf("page order [%d] = job %d, want %d (newest first)", i, id, want)
			}
		}
		jobstest.Complete(t, s, alice[3].ID)
		got, err := s.ListJobs(ctx, jobs.ListFilter{Statuses: []jobs.Status{jobs.StatusCompleted}, Limit: 10})
		if err != nil || len(got) != 1 || got[0].ID != alice[3].ID {
			t.Errorf("ListJobs(status COMPLETED) = %d jobs, %v, want job %d", len(got), err, alice[3].ID)
		}
		got, _ = s.ListJobs(ctx, jobs.ListFilter{ReviewOnly: true, Limit: 100})
		if len(got) != 1 {
			t.Errorf("ListJobs(review only) = %d jobs, want 1", len(got))
		}
	})
}

func TestStoreReviewJob(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		queued, _ := insert(t, s, "alice", "")
		_, err := s.ReviewJob(ctx, queued.ID, &jobs.Review{ReviewerID: "rita", Decision: jobs.DecisionApproved})
		var guard *jobs.GuardError
		if !errors.As(err, &guard) || guard.Actual != jobs.StatusQueued {
			t.Errorf("ReviewJob(QUEUED) error = %v, want GuardError actual QUEUED", err)
		}
		done, _ := insert(t, s, "alice", "")
		jobstest.Complete(t, s, done.ID)
		note := "label is blurred"
		got, err := s.ReviewJob(ctx, done.ID, &jobs.Review{ReviewerID: "rita", Decision: jobs.DecisionRejected,
			Reasons: "LABEL_UNREADABLE,OTHER", Note: &note})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != jobs.StatusRejected || got.ReviewedAt == nil || got.Version != 5 {
			t.Errorf("ReviewJob = %s v%d reviewed_at=%v, want REJECTED v5 with reviewed_at", got.Status, got.Version, got.ReviewedAt)
		}
		revs, err := s.ReviewsOf(ctx, []int64{done.ID, queued.ID})
		if err != nil {
			t.Fatal(err)
		}
		if r := revs[done.ID]; len(r) != 1 || r[0].Reasons != "LABEL_UNREADABLE,OTHER" || *r[0].Note != note || r[0].ReviewerID != "rita" {
			t.Errorf("ReviewsOf = %+v, want the one rejection", r)
		}
		if len(revs[queued.ID]) != 0 {
			t.Errorf("a refused review was stored: %+v", revs[queued.ID])
		}
		arts, err := s.ArtifactsOf(ctx, []int64{done.ID, queued.ID})
		if err != nil || len(arts[done.ID]) != 1 || len(arts[queued.ID]) != 0 {
			t.Errorf("ArtifactsOf = %v, %v, want one artifact for the completed job only", arts, err)
		}
		evs := events(t, s, done.ID)
		last := evs[len(evs)-1]
		if last.Type != "rejected" || last.Source != jobs.SourceReviewer || *last.ActorID != "rita" {
			t.Errorf("last event = %+v, want rejected by reviewer rita", last)
		}
	})
}

func TestStoreUpdateGuards(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		job, _ := insert(t, s, "alice", "")
		var guard *jobs.GuardError
		// Attempt n moves only a job at attempt n-1.
		if _, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 2}); !errors.As(err, &guard) {
			t.Errorf("submit attempt 2 of a job at attempt 0: error %v, want GuardError", err)
		}
		j, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1})
		if err != nil || j.Attempt != 1 {
			t.Fatalf("submit attempt 1 = %+v, %v, want attempt 1", j, err)
		}
		// The provider's request id is set once.
		set := jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, Type: "provider_request_created", ProviderRequestID: "req-1"}
		j, err = s.Transition(ctx, db, set)
		if err != nil || j.ProviderRequestID == nil || *j.ProviderRequestID != "req-1" || j.Status != jobs.StatusSubmitted || j.Version != 3 {
			t.Fatalf("set request id = %+v, %v, want req-1, SUBMITTED v3", j, err)
		}
		set.ProviderRequestID = "req-2"
		if _, err := s.Transition(ctx, db, set); !errors.As(err, &guard) {
			t.Errorf("second request id: error %v, want GuardError", err)
		}
		got, err := s.JobByProviderRequest(ctx, db, "sim", "req-1")
		if err != nil || got.ID != job.ID {
			t.Errorf("JobByProviderRequest(sim, req-1) = %v, %v, want job %d", got, err, job.ID)
		}
		// Progress only goes up.
		p := func(n int) *int { return &n }
		if _, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusProcessing, Progress: p(50)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusProcessing, To: jobs.StatusProcessing, Type: "progress", Progress: p(25)}); !errors.As(err, &guard) {
			t.Errorf("progress 50 → 25: error %v, want GuardError", err)
		}
		j, err = s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusProcessing, To: jobs.StatusProcessing, Type: "progress", Progress: p(75), ExpectAttempt: 1})
		if err != nil || j.Progress != 75 {
			t.Errorf("progress 50 → 75 = %+v, %v, want 75", j, err)
		}
		if _, err := s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusProcessing, To: jobs.StatusProcessing, Type: "progress", Progress: p(80), ExpectAttempt: 2}); !errors.As(err, &guard) {
			t.Errorf("progress for another attempt: error %v, want GuardError", err)
		}
		// RETRYING records when, and leaving it clears it.
		at := s.Now().Add(time.Minute)
		j, err = s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusProcessing, To: jobs.StatusRetrying, NextAttemptAt: &at, ErrorCode: "UNAVAILABLE", ErrorMessage: "503"})
		if err != nil || j.NextAttemptAt == nil || !j.NextAttemptAt.Equal(at) || j.ErrorCode != nil {
			t.Errorf("to RETRYING = %+v, %v, want next_attempt_at %v and no error on the job", j, err, at)
		}
		j, err = s.Transition(ctx, db, jobs.Transition{JobID: job.ID, From: jobs.StatusRetrying, To: jobs.StatusSubmitted, Attempt: 2})
		if err != nil || j.NextAttemptAt != nil || j.ProviderRequestID != nil || j.Progress != 0 {
			t.Errorf("resubmit = %+v, %v, want a fresh attempt without next_attempt_at, request id or progress", j, err)
		}
		evs := events(t, s, job.ID)
		if ev := evs[len(evs)-2]; ev.Type != "retrying" || ev.ErrorCode == nil || *ev.ErrorCode != "UNAVAILABLE" {
			t.Errorf("retry event = %+v, want retrying with code UNAVAILABLE", ev)
		}
	})
}

// The idempotency key of every vendor call is stored by the move to
// SUBMITTED that precedes the call, in the same statement: a retry of a
// submit whose outcome is unknown keeps it, a new attempt after the
// provider reported the generation failed gets a new one.
func TestStoreSubmitKey(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		job, _ := insert(t, s, "alice", "")
		if job.SubmitKey != nil {
			t.Fatalf("new job's submit key = %q, want none", *job.SubmitKey)
		}
		at := s.Now().Add(time.Minute)
		want := func(step string, j *jobs.Job, err error, key string) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if j.SubmitKey == nil || *j.SubmitKey != key {
				t.Errorf("%s: transition returned submit key %s, want %q", step, keyOf(j), key)
			}
			stored, err := s.JobByID(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.SubmitKey == nil || *stored.SubmitKey != key {
				t.Errorf("%s: stored submit key %s, want %q", step, keyOf(stored), key)
			}
		}
		first := jobs.DefaultSubmitKey(job.PublicID, 1)
		j, err := s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1})
		want("submit attempt 1", j, err, first)

		// The submit failed transiently: its retry asks for the same generation.
		j, err = s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusRetrying, ExpectAttempt: 1, NextAttemptAt: &at})
		want("retry scheduled", j, err, first)
		j, err = s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusRetrying, To: jobs.StatusSubmitted, Attempt: 2})
		want("submit attempt 2", j, err, first)

		// The provider reported the generation failed: a new key for a new one.
		j, err = s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusRetrying, ExpectAttempt: 2, NextAttemptAt: &at, DropSubmitKey: true})
		if err != nil || j.SubmitKey != nil {
			t.Fatalf("retry after a failed generation = %v, %v, want no submit key", j, err)
		}
		j, err = s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusRetrying, To: jobs.StatusSubmitted, Attempt: 3})
		want("submit attempt 3", j, err, jobs.DefaultSubmitKey(job.PublicID, 3))

		// A key given by the caller (a task queued before keys were stored)
		// is stored when the job holds none, and never replaces one.
		other, _ := insert(t, s, "alice", "")
		j, err = s.TransitionTx(ctx, jobs.Transition{JobID: other.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1, SubmitKey: "legacy-key"})
		if err != nil || j.SubmitKey == nil || *j.SubmitKey != "legacy-key" {
			t.Errorf("submit with a given key = %v, %v, want legacy-key", j, err)
		}
		j, err = s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusSubmitted, To: jobs.StatusRetrying, ExpectAttempt: 3, NextAttemptAt: &at})
		if err == nil {
			j, err = s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusRetrying, To: jobs.StatusSubmitted, Attempt: 4, SubmitKey: "legacy-key"})
		}
		want("submit attempt 4 with another key", j, err, jobs.DefaultSubmitKey(job.PublicID, 3))
	})
}

func keyOf(j *jobs.Job) string {
	if j.SubmitKey == nil {
		return "none"
	}
	return fmt.Sprintf("%q", *j.SubmitKey)
}

func TestStoreReceipts(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		req := "req-9"
		r := &jobs.WebhookReceipt{Provider: "sim", ProviderEventID: "evt-1", ProviderRequestID: &req, PayloadHash: "h", Outcome: jobs.OutcomeApplied}
		if ok, err := s.InsertReceipt(ctx, db, r); !ok || err != nil {
			t.Fatalf("first InsertReceipt = %v, %v, want true", ok, err)
		}
		dup := &jobs.WebhookReceipt{Provider: "sim", ProviderEventID: "evt-1", ProviderRequestID: &req, PayloadHash: "h", Outcome: jobs.OutcomeApplied}
		if ok, err := s.InsertReceipt(ctx, db, dup); ok || err != nil {
			t.Errorf("repeated InsertReceipt = %v, %v, want false (duplicate)", ok, err)
		}
		if err := s.SetReceiptOutcome(ctx, db, r.ID, jobs.OutcomeStale); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReceiptsOf(ctx, "sim", req)
		if err != nil || len(got) != 1 || got[0].Outcome != jobs.OutcomeStale {
			t.Errorf("ReceiptsOf = %+v, %v, want one stale receipt", got, err)
		}
	})
}

// Changes are announced after they commit, never for a rolled-back
// transaction.
func TestStoreOnCommit(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		var mu sync.Mutex
		var got []string
		s.OnCommit(func(_ context.Context, cs []jobs.Change) {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range cs {
				from := "new"
				if c.From != nil {
					from = string(*c.From)
				}
				got = append(got, fmt.Sprintf("%s→%s v%d", from, c.Job.Status, c.Job.Version))
			}
		})
		job, _ := insert(t, s, "alice", "")
		err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if _, err := s.Transition(ctx, tx, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusSubmitted}); err != nil {
				return err
			}
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n != 1 {
				t.Errorf("a change was announced before its commit: %v", got)
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("Tx did not return fn's error")
		}
		if _, err := s.TransitionTx(ctx, jobs.Transition{JobID: job.ID, From: jobs.StatusQueued, To: jobs.StatusCanceled}); err != nil {
			t.Fatal(err)
		}
		want := "new→QUEUED v1,QUEUED→CANCELED v2"
		if strings.Join(got, ",") != want {
			t.Errorf("announced %v, want %s", got, want)
		}
	})
}

func TestStoreAPIKeys(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		key, k, err := s.CreateAPIKey(ctx, "partner-1", jobs.RoleUser, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(key, "vg_"+k.Prefix+"_") || strings.Contains(k.SecretHash, strings.SplitN(key, "_", 3)[2]) {
			t.Fatalf("key %q / row %+v: want vg_<prefix>_<secret> with only a hash stored", key, k)
		}
		if sum := sha256.Sum256([]byte(strings.SplitN(key, "_", 3)[2])); k.SecretHash != hex.EncodeToString(sum[:]) {
			t.Errorf("stored hash %q, want the SHA-256 of the key's secret", k.SecretHash)
		}
		got, err := s.CheckAPIKey(ctx, key)
		if err != nil || got.OwnerID != "partner-1" || got.Role != jobs.RoleUser {
			t.Errorf("CheckAPIKey(key) = %+v, %v", got, err)
		}
		for _, bad := range []string{key + "x", "vg_" + k.Prefix + "_wrong", "vg_nope", "", "bearer"} {
			if _, err := s.CheckAPIKey(ctx, bad); !errors.Is(err, jobs.ErrBadAPIKey) {
				t.Errorf("CheckAPIKey(%q) error = %v, want ErrBadAPIKey", bad, err)
			}
		}
		keys, _ := s.ListAPIKeys(ctx)
		if len(keys) != 1 || keys[0].LastUsedAt == nil {
			t.Errorf("ListAPIKeys = %+v, want one key with last_used_at set", keys)
		}
		if err := s.RevokeAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckAPIKey(ctx, key); !errors.Is(err, jobs.ErrBadAPIKey) {
			t.Errorf("CheckAPIKey after revoke error = %v, want ErrBadAPIKey", err)
		}
		if err := s.RevokeAPIKey(ctx, "nosuchkey"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("RevokeAPIKey(unknown) = %v, want ErrNotFound", err)
		}
	})
}
