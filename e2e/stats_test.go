package e2e

import (
	"testing"
	"time"
)

const statsQuery = `query($since: Time!) { stats(since: $since) {
  jobsCreated timeToCompleted { count averageSeconds p50Seconds p95Seconds }
  failureRates { provider workflowType finished failed rate }
  reviews rejectionReasons { reason count rate }
  duplicateWebhooks stuck { id } storage { kind artifacts bytes } } }`

// The stats query answers from the database what operators ask daily.
func TestStats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		ok := d.create(t, "fine [sim duplicate=3]")
		bad := d.create(t, "meh")
		failed := d.create(t, "nope [sim fail=content_policy]")
		d.waitFor(t, ok, 15*time.Second, "COMPLETED")
		d.waitFor(t, bad, 15*time.Second, "COMPLETED")
		d.waitFor(t, failed, 15*time.Second, "FAILED")
		d.as("rita").Do(t, `mutation($id: ID!) { approveVideoJob(id: $id) { status } }`, map[string]any{"id": ok}).OK(t)
		d.as("rita").Do(t, `mutation($id: ID!) { rejectVideoJob(id: $id, reasons: [LABEL_UNREADABLE, FACE_OR_HAND_DISTORTED]) { status } }`, map[string]any{"id": bad}).OK(t)

		d.as("alice").Do(t, statsQuery, map[string]any{"since": since}).WantError(t, "FORBIDDEN", "")
		r := d.as("ada").Do(t, statsQuery, map[string]any{"since": since}).OK(t)
		if r.Get("stats.jobsCreated") != 3.0 || r.Get("stats.reviews") != 2.0 {
			t.Errorf("jobsCreated %v, reviews %v; want 3 and 2", r.Get("stats.jobsCreated"), r.Get("stats.reviews"))
		}
		ttc := r.Get("stats.timeToCompleted").(map[string]any)
		if ttc["count"] != 2.0 || ttc["p50Seconds"].(float64) <= 0 || ttc["p95Seconds"].(float64) < ttc["p50Seconds"].(float64) {
			t.Errorf("timeToCompleted = %v, want 2 jobs with 0 < p50 <= p95", ttc)
		}
		rates := r.List("stats.failureRates")
		if len(rates) != 1 || rates[0]["finished"] != 3.0 || rates[0]["failed"] != 1.0 {
			t.Errorf("failureRates = %v, want sim: 3 finished, 1 failed", rates)
		}
		if rs := r.List("stats.rejectionReasons"); len(rs) != 2 || rs[0]["rate"] != 0.5 {
			t.Errorf("rejectionReasons = %v, want two reasons at 0.5 per review", rs)
		}
		if n := r.Get("stats.duplicateWebhooks").(float64); n < 4 {
			t.Errorf("duplicateWebhooks = %v, want the redeliveries of the duplicate=3 job (>= 4)", n)
		}
		if st := r.List("stats.storage"); len(st) != 1 || st[0]["kind"] != "VIDEO" || st[0]["artifacts"] != 2.0 || st[0]["bytes"].(float64) <= 0 {
			t.Errorf("storage = %v, want two videos", st)
		}
	})
}
