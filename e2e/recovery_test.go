package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
)

// Redis loses everything with 200 jobs in flight — queued, submitted,
// generating, being copied: every job still reaches a terminal state (here
// COMPLETED), rebuilt from the database by the reconciler and the workers.
func TestRedisFlushedMidRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{reconcile: true, simLatency: 300 * time.Millisecond})
		const n = 200
		ids := make([]string, n)
		for i := range ids {
			ids[i] = d.create(t, fmt.Sprintf("job %d", i))
			if i == n/2 {
				deleteKeys(d.rdb, d.prefix) // the flush, with half the jobs created
			}
		}
		time.Sleep(200 * time.Millisecond)
		deleteKeys(d.rdb, d.prefix) // and again, with work in every stage
		d.waitAllCompleted(t, ids, 90*time.Second)
		// Nothing ran twice: one submission and one completion per job.
		for _, id := range ids[:20] {
			r := d.job(t, id)
			counts := map[string]int{}
			for _, ty := range eventTypes(r) {
				counts[ty]++
			}
			if counts["completed"] != 1 || counts["provider_request_created"] != 1 {
				t.Errorf("job %s events %v: want one provider request and one completion", id, eventTypes(r))
			}
		}
	})
}

// waitAllCompleted waits until every job in ids is COMPLETED, reading the
// database; after patience it logs the stragglers and fails the test.
func (d *deployment) waitAllCompleted(t *testing.T, ids []string, patience time.Duration) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		done, stuck := 0, map[jobs.Status]int{}
		for _, id := range ids {
			j, err := d.store.JobByPublicID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status == jobs.StatusCompleted {
				done++
			} else {
				stuck[j.Status]++
			}
		}
		if done == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			for _, id := range ids {
				if j, _ := d.store.JobByPublicID(context.Background(), id); j.Status != jobs.StatusCompleted {
					t.Logf("job %s (%s, attempt %d, request %v, updated %s ago): events %v", id, j.Status, j.Attempt, j.ProviderRequestID,
						time.Since(j.UpdatedAt).Round(time.Second), eventTypes(d.job(t, id)))
				}
			}
			t.Fatalf("%d of %d jobs COMPLETED after %v; the rest: %v", done, len(ids), patience, stuck)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
