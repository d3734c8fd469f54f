package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// --review-claim-ttl sets how long claimReview's lease lasts; it must be
// positive.
func TestReviewClaimTTLFlag(t *testing.T) {
	var c config
	fs := newFlagSet("serve", "", io.Discard)
	c.register(fs, roleServe)
	if err := fs.parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.ReviewClaimTTL != 5*time.Minute {
		t.Errorf("default --review-claim-ttl = %v, want 5m", c.ReviewClaimTTL)
	}
	c.ReviewClaimTTL = 0
	if err := c.check(roleServe); err == nil || !strings.Contains(err.Error(), "--review-claim-ttl 0s: want a positive duration") {
		t.Errorf("check with --review-claim-ttl 0: %v", err)
	}

	base, stdout, _ := startVidgate(t, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sim-latency", "100ms", "--review-claim-ttl", "90s")
	tokens := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindAllStringSubmatch(stdout.String(), -1)
	if len(tokens) != 2 {
		t.Fatalf("banner = %q, want two tokens", stdout.String())
	}
	user, reviewer := tokens[0][1], tokens[1][1]
	out := graphql(t, base, user, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "a kite over dunes"}) { job { id } } }`)
	id, _ := out["data"].(map[string]any)["createVideoJob"].(map[string]any)["job"].(map[string]any)["id"].(string)
	if id == "" {
		t.Fatalf("createVideoJob = %v", out)
	}
	waitForStatus(t, base, user, id, "COMPLETED")

	before := time.Now()
	out = graphql(t, base, reviewer, `mutation { claimReview(id: "`+id+`") { expiresAt } }`)
	exp, _ := out["data"].(map[string]any)["claimReview"].(map[string]any)["expiresAt"].(string)
	at, err := time.Parse(time.RFC3339Nano, exp)
	if err != nil {
		t.Fatalf("claimReview = %v", out)
	}
	if d := at.Sub(before); d < 85*time.Second || d > 95*time.Second {
		t.Errorf("claim lasts %v, want about 90s (--review-claim-ttl 90s)", d)
	}
}

// waitForStatus follows the job over Server-Sent Events until it reaches
// status (or the stream ends, or 30 s pass).
func waitForStatus(t *testing.T, base, token, id, status string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `subscription { jobStatus(id: "` + id + `") { status } }`})
	req, _ := http.NewRequest("POST", base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		if strings.Contains(lines.Text(), `"status":"`+status+`"`) {
			return
		}
	}
	t.Fatalf("job %s never reached %s (stream ended: %v)", id, status, lines.Err())
}
