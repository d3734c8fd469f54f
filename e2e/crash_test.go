package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/providers/sim"
)

// A worker process killed with SIGKILL at each step of a job — before the
// provider is called, after it answered but before its request id was
// saved, and halfway through copying the output — loses nothing: a second
// worker takes the dead one's tasks over once they have been untouched for
// the visibility timeout, every job completes exactly once, the provider
// started one generation per job (the resubmit reuses the idempotency key),
// no event log holds a transition twice, and every stored video is whole.
func TestWorkerKilled(t *testing.T) {
	for _, step := range []string{"submit.before-provider", "submit.after-provider", "ingest.mid-copy"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, clusterOptions{sim: sim.Behavior{OutputSize: 4 << 20}})
			const n = 6
			var ids []string
			for i := range n {
				ids = append(ids, c.create(fmt.Sprintf("a lighthouse at dusk, take %d", i)))
			}
			w1 := c.worker("w1", step)
			w1.waitFor("CRASHPOINT "+step, 60e9)
			w1.kill()
			c.worker("w2", "")

			for id, r := range c.waitTerminal(ids, 90e9) {
				if s := r.Str("job.status"); s != "COMPLETED" {
					t.Errorf("job %s ended %s (%v), want COMPLETED; events %v", id, s, r.Get("job.error"), eventTypes(r))
					continue
				}
				checkOneWay(t, id, r)
				if subs, gens := c.sim.KeyCounts(fmt.Sprintf("%s-%d", id, 1)); gens != 1 {
					t.Errorf("job %s: the provider started %d generations for its key (%d submissions), want 1", id, gens, subs)
				}
				arts := r.List("job.artifacts")
				if len(arts) != 1 {
					t.Errorf("job %s has %d artifacts, want 1", id, len(arts))
					continue
				}
				status, body := get(t, arts[0]["downloadUrl"].(string))
				sum := sha256.Sum256(body)
				if status != 200 || hex.EncodeToString(sum[:]) != arts[0]["sha256"] || len(body) != 4<<20 {
					t.Errorf("job %s: download is HTTP %d, %d bytes, sha256 %x; artifact says %v", id, status, len(body), sum[:6], arts[0])
				}
			}
			if g := c.sim.Generations(); g != n {
				t.Errorf("the provider started %d generations for %d jobs", g, n)
			}
		})
	}
}

// checkOneWay fails the test if a job's event log entered any status twice
// or reached more than one terminal status.
func checkOneWay(t *testing.T, id string, r interface{ List(string) []map[string]any }) {
	t.Helper()
	seen := map[string]int{}
	terminal := 0
	for _, e := range r.List("job.events") {
		to, _ := e["newStatus"].(string)
		from, _ := e["previousStatus"].(string)
		if to == "" || to == from {
			continue
		}
		if seen[to]++; seen[to] > 1 {
			t.Errorf("job %s entered %s twice: %v", id, to, r.List("job.events"))
		}
		if jobs.Status(to).Terminal() || to == "COMPLETED" {
			terminal++
		}
	}
	if terminal != 1 {
		t.Errorf("job %s reached %d terminal states", id, terminal)
	}
}
