package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs/queue"
)

// A job goes from QUEUED to COMPLETED by itself, its video is stored with
// metadata read from the file, a reviewer approves it, and its events tell
// the whole story.
func TestHappyPathToApproved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		id := d.create(t, "a paper boat drifting down a rainy street")
		r := d.waitFor(t, id, 15*time.Second, "COMPLETED")

		arts := r.List("job.artifacts")
		if len(arts) != 1 {
			t.Fatalf("artifacts = %v, want one video", arts)
		}
		a := arts[0]
		if a["kind"] != "VIDEO" || a["mimeType"] != "video/mp4" || a["width"] != 1280.0 || a["height"] != 720.0 {
			t.Errorf("artifact = %v, want a 1280x720 video/mp4 (the default 720p 16:9)", a)
		}
		if a["durationSeconds"] != 5.0 {
			t.Errorf("artifact duration = %v s, want the default 5", a["durationSeconds"])
		}
		status, body := get(t, a["downloadUrl"].(string))
		sum := sha256.Sum256(body)
		if status != 200 || hex.EncodeToString(sum[:]) != a["sha256"] || float64(len(body)) != a["sizeBytes"] {
			t.Errorf("GET downloadUrl = %d, %d bytes, sha256 %x; want 200 and the artifact's %v bytes, sha256 %v",
				status, len(body), sum, a["sizeBytes"], a["sha256"])
		}

		rv := d.as("rita").Do(t, `mutation($id: ID!) { approveVideoJob(id: $id) { status events { type } } }`, map[string]any{"id": id}).OK(t)
		if rv.Str("approveVideoJob.status") != "APPROVED" {
			t.Fatalf("approve = %v", rv.Data)
		}
		r = d.job(t, id)
		got := strings.Join(dedupe(eventTypes(r)), ",")
		want := "queued,submitted,provider_request_created,processing,progress,provider_completed,artifact_stored,completed,approved"
		if got != want {
			t.Errorf("events = %s, want %s", got, want)
		}
		checkVersions(t, r)
	})
}

// dedupe folds runs of the same event type (progress, progress) into one.
func dedupe(types []string) []string {
	var out []string
	for _, s := range types {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// checkVersions asserts the event log has one event per version, in order,
// and never moves a status backwards.
func checkVersions(t *testing.T, r interface {
	List(string) []map[string]any
	Get(string) any
}) {
	t.Helper()
	evs := r.List("job.events")
	rank := map[string]int{"QUEUED": 0, "SUBMITTED": 1, "PROCESSING": 2, "RETRYING": 1, "COMPLETED": 3}
	for i, e := range evs {
		if v := e["version"].(float64); v != float64(i+1) {
			t.Errorf("event %d (%s) has version %v, want %d", i, e["type"], v, i+1)
		}
		if i > 0 {
			prev, cur := evs[i-1]["newStatus"].(string), e["newStatus"].(string)
			if pr, ok := rank[prev]; ok {
				if cr, ok := rank[cur]; ok && cr < pr && cur != "RETRYING" && !(prev == "RETRYING" && cur == "SUBMITTED") {
					t.Errorf("status moved backwards: %s → %s at event %d", prev, cur, i)
				}
			}
		}
	}
	if v := r.Get("job.version").(float64); v != float64(len(evs)) {
		t.Errorf("job version = %v, want %d (one per event)", v, len(evs))
	}
}

// Ten copies of every webhook make one transition each.
func TestDuplicateWebhooks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		id := d.create(t, "a lighthouse [sim duplicate=10]")
		r := d.waitFor(t, id, 15*time.Second, "COMPLETED")
		counts := map[string]int{}
		for _, ty := range eventTypes(r) {
			counts[ty]++
		}
		for _, ty := range []string{"processing", "provider_completed", "artifact_stored", "completed"} {
			if counts[ty] != 1 {
				t.Errorf("%d %q events, want exactly 1 (events %v)", counts[ty], ty, eventTypes(r))
			}
		}
		if counts["progress"] > 2 {
			t.Errorf("%d progress events for 3 distinct progress webhooks after processing, want at most 2", counts["progress"])
		}
		checkVersions(t, r)
		receipts, err := d.store.ReceiptsOf(t.Context(), "sim", requestID(t, d, id))
		if err != nil {
			t.Fatal(err)
		}
		if len(receipts) != 4 {
			t.Errorf("receipts = %d, want 4 (one per distinct delivery, duplicates refused)", len(receipts))
		}
	})
}

// Webhooks in the wrong order never move a job backwards.
func TestReorderedWebhooks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		id := d.create(t, "a kite [sim reorder]")
		r := d.waitFor(t, id, 15*time.Second, "COMPLETED")
		checkVersions(t, r)
		if r.Get("job.progress") != 100.0 {
			t.Errorf("progress = %v, want 100", r.Get("job.progress"))
		}
		// The late progress webhooks arrive after completion: recorded stale.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			receipts, _ := d.store.ReceiptsOf(t.Context(), "sim", requestID(t, d, id))
			stale := 0
			for _, rc := range receipts {
				if rc.Outcome == "stale" {
					stale++
				}
			}
			if stale >= 3 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("late progress webhooks were not all recorded as stale")
	})
}

// Without webhooks, polling carries the job through.
func TestDroppedWebhooksArePolled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{pollAfter: 300 * time.Millisecond})
		id := d.create(t, "a comet [sim drop_webhooks]")
		r := d.waitFor(t, id, 15*time.Second, "COMPLETED")
		for _, e := range r.List("job.events") {
			if e["source"] == "WEBHOOK" {
				t.Errorf("event %v came from a webhook, want none", e)
			}
		}
		checkVersions(t, r)
	})
}

// requestID returns the provider's id for the job, waiting for the worker
// to record it.
func requestID(t *testing.T, d *deployment, id string) string {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		j, err := d.store.JobByPublicID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.ProviderRequestID != nil {
			return *j.ProviderRequestID
		}
	}
	t.Fatalf("job %s has no provider request after 10s", id)
	return ""
}

// Permanent failures fail at once with a code and a next step; transient
// ones retry and then succeed.
func TestFailuresAndRetries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{providerTimeout: time.Second})
		tests := []struct {
			prompt, status, code string
			attempts             float64
		}{
			{"a fox [sim fail=content_policy]", "FAILED", "CONTENT_POLICY", 1},
			{"a fox [sim submit_error=503:2]", "COMPLETED", "", 3},
			{"a fox [sim submit_error=429:1 retry_after=1s]", "COMPLETED", "", 2},
			// The provider accepts the work but answers after the worker's
			// 1s timeout, and sends no webhooks that could bind the job
			// early (TestWebhookBeforeSubmitAnswer): the submit is retried
			// with the same key, so still one generation.
			{"a fox [sim slow_submit=3s:1 drop_webhooks]", "COMPLETED", "", 2},
			{"a fox [sim fail=server_error]", "FAILED", "PROVIDER_UNAVAILABLE", 3},
			{"a fox [sim submit_error=500]", "FAILED", "PROVIDER_UNAVAILABLE", 3},
			{"a fox [sim corrupt_output]", "FAILED", "ARTIFACT_INVALID", 1},
			{"a fox [sim output_expires_after=0s]", "FAILED", "ARTIFACT_UNAVAILABLE", 1},
		}
		ids := make([]string, len(tests))
		for i, tt := range tests {
			ids[i] = d.create(t, tt.prompt)
		}
		for i, tt := range tests {
			r := d.waitFor(t, ids[i], 20*time.Second, tt.status)
			if got := r.Str("job.error.code"); got != tt.code {
				t.Errorf("%s: error code = %q, want %q (events %v)", tt.prompt, got, tt.code, eventTypes(r))
			}
			if got := r.Get("job.attempt"); got != tt.attempts {
				t.Errorf("%s: attempts = %v, want %v", tt.prompt, got, tt.attempts)
			}
			if tt.status == "FAILED" && r.Str("job.nextStep") == "" {
				t.Errorf("%s: FAILED without a nextStep", tt.prompt)
			}
			if tt.attempts > 1 && !strings.Contains(strings.Join(eventTypes(r), ","), "retrying") {
				t.Errorf("%s: no retrying event in %v", tt.prompt, eventTypes(r))
			}
			checkVersions(t, r)
		}
		if r := d.job(t, ids[0]); !strings.Contains(r.Str("job.nextStep"), "content policy") {
			t.Errorf("content policy nextStep = %q", r.Str("job.nextStep"))
		}
		if submits, gens := d.sim.KeyCounts(ids[3] + "-1"); submits != 2 || gens != 1 {
			t.Errorf("timed-out submit: %d submissions and %d generations for its key, want 2 and 1", submits, gens)
		}
		// One generation per idempotency key, whatever the retries.
		for i, tt := range tests {
			j, _ := d.store.JobByPublicID(t.Context(), ids[i])
			for a := 1; a <= j.Attempt; a++ {
				if _, gens := d.sim.KeyCounts(fmt.Sprintf("%s-%d", j.PublicID, a)); gens > 1 {
					t.Errorf("%s: attempt %d started %d generations, want at most 1", tt.prompt, a, gens)
				}
			}
		}
	})
}

// The same submit task delivered several times starts one generation and
// records one submission.
func TestDuplicateSubmitTasks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		id := d.create(t, "a windmill")
		j, err := d.store.JobByPublicID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := d.queue.Enqueue(t.Context(), queue.Task{Kind: queue.KindSubmit, JobID: j.ID, Attempt: 1}); err != nil {
				t.Fatal(err)
			}
		}
		r := d.waitFor(t, id, 15*time.Second, "COMPLETED")
		n := 0
		for _, ty := range eventTypes(r) {
			if ty == "submitted" || ty == "provider_request_created" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("events %v: want one submitted and one provider_request_created", eventTypes(r))
		}
		if _, gens := d.sim.KeyCounts(j.PublicID + "-1"); gens != 1 {
			t.Errorf("generations for the job = %d, want 1", gens)
		}
	})
}
