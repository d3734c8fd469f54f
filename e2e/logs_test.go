package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// One request id ties a job's log lines together from the API through the
// stream to the worker; and the raw prompt appears in no log line, no event,
// no error and no operational table — only, sealed, in video_job_prompts.
func TestLogsCorrelateAndNeverHoldPrompts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		var logs lockedBuffer
		d := deploy(t, b, options{logTo: &logs})
		const prompt = "Confidential launch of ACME Rocket Skates for Wile E. Coyote"
		// The negative prompt is user text too, kept out of the same places.
		const negative = "no Anvil Drop from above"
		body, _ := json.Marshal(map[string]any{
			"query":     `mutation($p: String!, $n: String) { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: $p, negativePrompt: $n}) { job { id } } }`,
			"variables": map[string]any{"p": prompt + " [sim duplicate=2]", "n": negative},
		})
		req, _ := http.NewRequest("POST", d.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+d.tokens["alice"])
		req.Header.Set("X-Request-Id", "req-trace-42")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Data struct {
				CreateVideoJob struct{ Job struct{ ID string } }
			}
		}
		json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		id := out.Data.CreateVideoJob.Job.ID
		r := d.waitFor(t, id, 15*time.Second, "COMPLETED")
		// A failed job's error too: refused for content policy.
		failed := d.create(t, prompt+" [sim fail=content_policy]")
		f := d.waitFor(t, failed, 15*time.Second, "FAILED")

		// Correlation: the worker's lines about this job carry the API request's id.
		var workerLines, correlated int
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["job_id"] != id || rec["task"] == nil {
				continue
			}
			workerLines++
			if rec["request_id"] == "req-trace-42" {
				correlated++
			}
		}
		if workerLines == 0 || correlated == 0 {
			t.Errorf("worker log lines for the job: %d, with the API's request id: %d; want both > 0", workerLines, correlated)
		}

		// The prompt and the negative prompt are nowhere they should not be.
		if id == "" || r.Data == nil {
			t.Fatalf("the job with a negative prompt was not created and completed")
		}
		for _, needle := range []string{"Rocket Skates", "Anvil Drop"} {
			if strings.Contains(logs.String(), needle) {
				t.Errorf("the raw prompt %q appears in the logs", needle)
			}
			for _, resp := range []any{r.Data, f.Data} {
				raw, _ := json.Marshal(resp)
				// The owner may read their prompt through the API (job.prompt is not in jobFields).
				if strings.Contains(string(raw), needle) {
					t.Errorf("the raw prompt appears in events or errors: %s", raw)
				}
			}
			for _, table := range []string{"video_jobs", "video_job_events", "provider_webhook_receipts", "video_artifacts", "video_reviews"} {
				rows, err := d.db.QueryContext(t.Context(), "SELECT * FROM "+table)
				if err != nil {
					t.Fatal(err)
				}
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					for i, v := range vals {
						var s string
						switch x := v.(type) {
						case string:
							s = x
						case []byte:
							s = string(x)
						}
						if strings.Contains(s, needle) {
							t.Errorf("the raw prompt appears in %s.%s", table, cols[i])
						}
					}
				}
				rows.Close()
			}
			var sealed []byte
			if err := d.db.QueryRowContext(t.Context(), "SELECT ciphertext FROM video_job_prompts LIMIT 1").Scan(&sealed); err != nil || bytes.Contains(sealed, []byte(needle)) {
				t.Errorf("video_job_prompts holds the prompt in the clear (or could not be read: %v)", err)
			}
		}
	})
}
