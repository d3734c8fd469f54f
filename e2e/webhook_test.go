package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// Webhook deliveries that are not what the provider signed get a clear
// HTTP status and change nothing.
func TestWebhookIntakeRefusesBadDeliveries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		id := d.create(t, "a sailboat [sim hold]")
		reqID := requestID(t, d, id)
		before := d.job(t, id)

		// A processing update for the job, as the simulator would send it.
		base, err := d.sim.WebhookRequest(reqID, d.url+"/webhooks/sim")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(base.Body)
		var gen map[string]any
		if err := json.Unmarshal(raw, &gen); err != nil {
			t.Fatal(err)
		}
		gen["status"], gen["progress"] = "processing", 50
		body, _ := json.Marshal(gen)

		signer, _ := stdwebhooks.NewSigner(d.simSecret)
		other, _ := stdwebhooks.NewSigner(stdwebhooks.NewSecret())
		send := func(path string, body []byte, sign func(h http.Header)) (int, string) {
			req, _ := http.NewRequest("POST", d.url+path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if sign != nil {
				sign(req.Header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			out, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(out)
		}
		now := time.Now()
		signed := func(s *stdwebhooks.Signer, id string, ts time.Time, b []byte) func(http.Header) {
			return func(h http.Header) { s.SetHeaders(h, id, ts, b) }
		}
		big := bytes.Repeat([]byte(" "), 2<<20)
		tests := []struct {
			name   string
			path   string
			body   []byte
			sign   func(http.Header)
			status int
		}{
			{"unsigned", "/webhooks/sim", body, nil, 401},
			{"signed with another key", "/webhooks/sim", body, signed(other, "msg_a", now, body), 401},
			{"body changed after signing", "/webhooks/sim", bytes.Replace(body, []byte("50"), []byte("99"), 1), signed(signer, "msg_b", now, body), 401},
			{"timestamp 10 minutes old", "/webhooks/sim", body, signed(signer, "msg_c", now.Add(-10*time.Minute), body), 401},
			{"timestamp 10 minutes ahead", "/webhooks/sim", body, signed(signer, "msg_d", now.Add(10*time.Minute), body), 401},
			{"signed but not JSON", "/webhooks/sim", []byte("not json"), signed(signer, "msg_e", now, []byte("not json")), 400},
			{"too large", "/webhooks/sim", big, signed(signer, "msg_f", now, big), 413},
			{"unknown provider", "/webhooks/acme", body, signed(signer, "msg_g", now, body), 404},
		}
		for _, tt := range tests {
			status, out := send(tt.path, tt.body, tt.sign)
			if status != tt.status {
				t.Errorf("%s: HTTP %d %s, want %d", tt.name, status, out, tt.status)
			}
			if !strings.Contains(out, `"code"`) {
				t.Errorf("%s: body %s has no error code", tt.name, out)
			}
		}
		after := d.job(t, id)
		if after.Get("job.version") != before.Get("job.version") || after.Str("job.status") != "SUBMITTED" {
			t.Errorf("refused deliveries changed the job: %v → %v", before.Get("job.version"), after.Get("job.version"))
		}
		if rs, _ := d.store.ReceiptsOf(t.Context(), "sim", reqID); len(rs) != 0 {
			t.Errorf("refused deliveries left %d receipts, want 0", len(rs))
		}

		// The genuine delivery applies once; its redelivery is a duplicate.
		for i, want := range []string{`"outcome":"applied"`, `"duplicate":true`} {
			status, out := send("/webhooks/sim", body, signed(signer, "msg_ok", now, body))
			if status != 200 || !strings.Contains(out, want) {
				t.Errorf("delivery %d: HTTP %d %s, want 200 with %s", i+1, status, out, want)
			}
		}
		r := d.job(t, id)
		if r.Str("job.status") != "PROCESSING" || r.Get("job.progress") != 50.0 {
			t.Errorf("after the genuine delivery job is %s at %v%%, want PROCESSING at 50%%", r.Str("job.status"), r.Get("job.progress"))
		}
		// A delivery for a request no job holds is accepted and recorded.
		gen["id"] = "gen_unknown"
		unknown, _ := json.Marshal(gen)
		if status, out := send("/webhooks/sim", unknown, signed(signer, "msg_unknown", now, unknown)); status != 202 {
			t.Errorf("unknown request: HTTP %d %s, want 202", status, out)
		}
		if rs, _ := d.store.ReceiptsOf(t.Context(), "sim", "gen_unknown"); len(rs) != 1 || rs[0].Outcome != "unknown_job" {
			t.Errorf("unknown request receipts = %+v, want one unknown_job", rs)
		}
	})
}

// Providers start the work, and may call back, before they answer the
// submit. Here the simulated provider answers the submit only after three
// seconds, while the generation runs and finishes in a tenth of one: its
// webhooks arrive while the job has no provider request id yet. The
// callback URL names the job and attempt, so the first verified delivery
// records the request id and applies — the job completes on webhooks alone,
// the late submit answer finds the same id already saved, and nothing is
// recorded as an unknown job.
func TestWebhookBeforeSubmitAnswer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{pollAfter: time.Minute})
		id := d.create(t, "a kingfisher [sim slow_submit=3s:1 latency=100ms]")
		r := d.waitFor(t, id, 30*time.Second, "COMPLETED")
		var bound []map[string]any
		for _, e := range r.List("job.events") {
			if e["type"] == "provider_request_created" {
				bound = append(bound, e)
			}
		}
		if len(bound) != 1 || bound[0]["source"] != "WEBHOOK" {
			t.Fatalf("provider_request_created events = %v, want one, from the webhook", bound)
		}
		if !slices.Contains(eventTypes(r), "processing") {
			t.Errorf("events %v: the progress webhooks did not apply", eventTypes(r))
		}
		checkOneWay(t, id, r)
		var unknown int
		if err := d.db.NewRaw("SELECT count(*) FROM provider_webhook_receipts WHERE outcome = ?", "unknown_job").Scan(t.Context(), &unknown); err != nil {
			t.Fatal(err)
		}
		if unknown != 0 {
			t.Errorf("%d deliveries recorded as unknown_job", unknown)
		}
		if submits, gens := d.sim.KeyCounts(id + "-1"); submits != 1 || gens != 1 {
			t.Errorf("%d submissions, %d generations; want 1 and 1", submits, gens)
		}
	})
}
