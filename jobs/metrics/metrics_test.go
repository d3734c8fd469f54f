package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/metrics"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestOnCommit(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Known("sim")
	created := time.Now().Add(-90 * time.Second)
	done := time.Now()
	queued, completed := jobs.StatusQueued, jobs.StatusProcessing
	j := &jobs.Job{Provider: "sim", WorkflowType: jobs.TextToVideo, Status: jobs.StatusQueued, CreatedAt: created}
	m.OnCommit(context.Background(), []jobs.Change{{Job: j}})
	c := *j
	c.Status, c.CompletedAt = jobs.StatusCompleted, &done
	m.OnCommit(context.Background(), []jobs.Change{{Job: &c, From: &completed}, {Job: &c, From: &queued}})
	p := *j
	p.Status = jobs.StatusProcessing
	m.OnCommit(context.Background(), []jobs.Change{{Job: &p, From: &completed}}) // same status: progress, not counted
	out := scrape(t, m)
	for _, want := range []string{
		`vidgate_jobs_created_total{provider="sim",workflow="text_to_video"} 1`,
		`vidgate_job_transitions_total{provider="sim",status="COMPLETED",workflow="text_to_video"} 2`,
		`vidgate_job_queued_to_completed_seconds_bucket{provider="sim",workflow="text_to_video",le="120"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(out, `vidgate_job_transitions_total{provider="sim",status="PROCESSING",workflow="text_to_video"} 0`) {
		t.Error("a same-status update was counted as a transition")
	}
}

func TestWrapDriverKeepsCapabilities(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	d := m.WrapDriver(sim.NewDriver("http://127.0.0.1:1", "", "", nil))
	if _, ok := d.(providers.WebhookVerifier); !ok {
		t.Error("wrapped sim driver lost WebhookVerifier")
	}
	if !providers.HonorsIdempotencyKeys(d) {
		t.Error("wrapped sim driver lost Idempotent")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := d.Status(ctx, "gen_x"); err == nil {
		t.Fatal("Status against a closed port succeeded")
	}
	if out := scrape(t, m); !strings.Contains(out, `vidgate_provider_errors_total{code="UNAVAILABLE",op="status",provider="sim"} 1`) {
		t.Errorf("the failed call was not counted:\n%s", grep(out, "vidgate_provider"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
