package metrics_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/vidgate/vidgate/jobs/metrics"
	"github.com/vidgate/vidgate/providers"
)

// TestMetricsLint runs the linter behind `promtool check metrics` over a
// scrape with every series vidgate creates: names, units, help and types
// follow the Prometheus conventions.
func TestMetricsLint(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Known("sim", "runway")
	m.HTTPRequest("POST /graphql", "POST", 200, 3*time.Millisecond)
	m.GraphQLOperation("CreateJob", "mutation", 0, 5*time.Millisecond)
	m.ArtifactStored("video", 10)
	problems, err := promlint.New(strings.NewReader(scrape(t, m))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	// promlint does not check where the unit stands: last, before _total.
	for _, l := range strings.Split(scrape(t, m), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 || f[1] != "TYPE" {
			continue
		}
		base := strings.TrimSuffix(f[2], "_total")
		for _, unit := range []string{"_bytes", "_seconds"} {
			if i := strings.Index(base, unit); i >= 0 && !strings.HasSuffix(base, unit) && !strings.HasSuffix(base, unit+"_created") {
				t.Errorf("%s: the unit %s must come last (before _total)", f[2], unit[1:])
			}
		}
	}
}

// TestKnownSeriesStartAtZero: series of known label values exist before
// their first event, so rate() and absence alerts work from the start.
func TestKnownSeriesStartAtZero(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Known("runway")
	out := scrape(t, m)
	for _, want := range []string{
		`vidgate_jobs_created_total{provider="runway",workflow="image_to_video"} 0`,
		`vidgate_job_transitions_total{provider="runway",status="FAILED",workflow="text_to_video"} 0`,
		`vidgate_webhook_receipts_total{outcome="rejected",provider="runway"} 0`,
		fmt.Sprintf(`vidgate_provider_errors_total{code="%s",op="submit",provider="runway"} 0`, providers.CodeRateLimited),
		`vidgate_artifact_stored_bytes_total{kind="video"} 0`,
		`vidgate_build_info{goversion="go`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("a fresh scrape lacks %s", want)
		}
	}
}

// TestOperationNamesBounded: operation names are the client's to choose,
// so only the first ones seen get their own series.
func TestOperationNamesBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	for i := range 500 {
		m.GraphQLOperation(fmt.Sprintf("Op%d", i), "query", i%2, time.Millisecond)
	}
	m.GraphQLOperation("", "query", 0, time.Millisecond)
	out := scrape(t, m)
	names := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "vidgate_graphql_operations_total{") {
			continue
		}
		i := strings.Index(l, `operation="`) + len(`operation="`)
		names[l[i:i+strings.IndexByte(l[i:], '"')]] = true
	}
	if len(names) > 102 || !names["other"] || !names["anonymous"] || !names["Op0"] || names["Op499"] {
		t.Errorf("operation labels: %d distinct (want at most 100 names + other + anonymous, Op0 kept, Op499 as other)", len(names))
	}
	if !strings.Contains(out, `vidgate_graphql_operations_total{operation="Op1",outcome="error",type="query"} 1`) {
		t.Error("an operation answered with errors was not counted as outcome=error")
	}
}
