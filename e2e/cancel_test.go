package e2e

import (
	"testing"
	"time"
)

const (
	cancelMutation = `mutation($id: ID!) { cancelVideoJob(id: $id) { id status statusCopy error { code } } }`
	retryMutation  = `mutation($id: ID!) { retryVideoJob(id: $id) { id status parentId workflowType durationSeconds prompt } }`
)

// An owner cancels a running job: it is CANCELED at once, the provider is
// told to stop, and the provider's late webhooks change nothing. Retrying it
// makes a new job with the same inputs, linked to the original.
func TestCancelAndRetry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		alice := d.as("alice")
		id := d.create(t, "a slow sunrise [sim hold]")
		reqID := requestID(t, d, id)

		alice.Do(t, retryMutation, map[string]any{"id": id}).WantError(t, "CONFLICT", "")
		d.as("bob").Do(t, cancelMutation, map[string]any{"id": id}).WantError(t, "NOT_FOUND", "")
		r := alice.Do(t, cancelMutation, map[string]any{"id": id}).OK(t)
		if r.Str("cancelVideoJob.status") != "CANCELED" || r.Str("cancelVideoJob.statusCopy") != "Canceled" {
			t.Fatalf("cancelVideoJob = %v, want CANCELED", r.Data)
		}
		alice.Do(t, cancelMutation, map[string]any{"id": id}).WantError(t, "CONFLICT", "")

		// The provider hears of it; its final webhook finds the job canceled.
		deadline := time.Now().Add(10 * time.Second)
		for {
			rs, _ := d.store.ReceiptsOf(t.Context(), "sim", reqID)
			if len(rs) > 0 && rs[len(rs)-1].Outcome == "stale" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no stale receipt for the canceled generation's webhook: %+v", rs)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := d.job(t, id).Str("job.status"); got != "CANCELED" {
			t.Errorf("after the provider's webhook the job is %s, want CANCELED", got)
		}

		r = alice.Do(t, retryMutation, map[string]any{"id": id}).OK(t)
		if r.Str("retryVideoJob.parentId") != id || r.Str("retryVideoJob.prompt") != "a slow sunrise [sim hold]" || r.Str("retryVideoJob.id") == id {
			t.Errorf("retryVideoJob = %v, want a new job with parentId %s and the same prompt", r.Data, id)
		}
		requestID(t, d, r.Str("retryVideoJob.id")) // the new job is submitted
	})
}
