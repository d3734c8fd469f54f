package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// A webhook storm: 1,000 jobs (200 under the race detector), each of their
// deliveries sent 5 to 10 times, all shuffled and sent concurrently. Every
// job's event log has exactly one entry per state it passed through.
func TestWebhookStorm(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		// No workers: the test moves its jobs by hand, and a worker taking
		// a new job's submit task would race it.
		d := deploy(t, b, options{noWorkers: true})
		ctx := context.Background()
		n := 1000
		if raceDetector {
			n = 200
		}
		type delivery struct {
			id   string
			body []byte
		}
		var all []delivery
		ids := make([]int64, n)
		for i := range n {
			job, _, err := d.store.InsertJob(ctx, &jobs.Job{PublicID: fmt.Sprintf("00000000-0000-4000-9000-%012d", i), OwnerID: "alice",
				WorkflowType: jobs.TextToVideo, Provider: "sim", Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"},
				PromptHash: "h"}, &jobs.Prompt{KeyID: "k1", Ciphertext: []byte("x")}, "")
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = job.ID
			reqID := fmt.Sprintf("gen_storm_%d", i)
			for _, tr := range []jobs.Transition{
				{From: jobs.StatusQueued, To: jobs.StatusSubmitted, Attempt: 1},
				{From: jobs.StatusSubmitted, To: jobs.StatusSubmitted, ProviderRequestID: reqID, Type: "provider_request_created"},
			} {
				tr.JobID = job.ID
				if _, err := d.store.TransitionTx(ctx, tr); err != nil {
					t.Fatal(err)
				}
			}
			states := []map[string]any{
				{"id": reqID, "status": "processing", "progress": 25},
				{"id": reqID, "status": "processing", "progress": 50},
				{"id": reqID, "status": "processing", "progress": 75},
				{"id": reqID, "status": "failed", "progress": 75, "error": map[string]any{"code": "content_policy", "message": "refused"}},
			}
			for k, st := range states {
				body, _ := json.Marshal(st)
				msgID := fmt.Sprintf("msg_%d_%d", i, k)
				for range 5 + rand.IntN(6) {
					all = append(all, delivery{msgID, body})
				}
			}
		}
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		signer, _ := stdwebhooks.NewSigner(d.simSecret)
		work := make(chan delivery)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for dl := range work {
					// Like a provider, deliver again after a 5xx ("not
					// recorded; deliver again"), a few times.
					for try := 0; ; try++ {
						req, _ := http.NewRequest("POST", d.url+"/webhooks/sim", bytes.NewReader(dl.body))
						req.Header.Set("Content-Type", "application/json")
						signer.SetHeaders(req.Header, dl.id, time.Now(), dl.body)
						res, err := client.Do(req)
						if err != nil {
							t.Error(err)
							break
						}
						msg, _ := io.ReadAll(res.Body)
						res.Body.Close()
						mu.Lock()
						statuses[res.StatusCode]++
						mu.Unlock()
						if res.StatusCode < 500 || try == 4 {
							if res.StatusCode != 200 {
								t.Errorf("delivery %s answered %d: %s", dl.id, res.StatusCode, msg)
							}
							break
						}
						t.Logf("delivery %s answered %d (%s); delivering again", dl.id, res.StatusCode, bytes.TrimSpace(msg))
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
		start := time.Now()
		for _, dl := range all {
			work <- dl
		}
		close(work)
		wg.Wait()
		t.Logf("%d deliveries for %d jobs in %v: HTTP %v", len(all), n, time.Since(start).Round(time.Millisecond), statuses)
		if statuses[200] != len(all) {
			t.Errorf("%d deliveries answered 200 (responses %v), want all %d", statuses[200], statuses, len(all))
		}
		evs, err := d.store.EventsOf(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			count := map[string]int{}
			progress := map[string]bool{}
			for _, e := range evs[id] {
				count[e.Type]++
				if e.Type == "progress" {
					if progress[*e.Message] {
						t.Errorf("job %d: progress %s recorded twice", i, *e.Message)
					}
					progress[*e.Message] = true
				}
			}
			if count["processing"] > 1 || count["failed"] != 1 || count["progress"] > 2 {
				t.Fatalf("job %d events %v: want at most one processing, one failed, no duplicated progress", i, count)
			}
		}
	})
}
