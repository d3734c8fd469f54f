package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the subscribers scenario's client
// process: the scenario re-executes "this program", which under go test is
// the test binary, with the client's configuration in the environment.
func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) != "" {
		if err := runClient(context.Background(), nil, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "vidgate-bench client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Each scenario's smoke mode runs to the end with no errors and every
// check passing, on SQLite with the in-process Redis, and on PostgreSQL
// with real Redis when the test URLs are set (CI sets them). This is what
// CI's `go run ./cmd/vidgate-bench <scenario> --smoke` does, in-process.
func TestSmoke(t *testing.T) {
	backends := [][]string{{"--backend", "sqlite", "--redis", "embedded"}}
	if pg, rd := os.Getenv("VIDGATE_TEST_DATABASE_URL"), os.Getenv("VIDGATE_TEST_REDIS_URL"); pg != "" && rd != "" {
		backends = append(backends, []string{"--backend", "postgres", "--database-url", pg, "--redis", rd})
	}
	for _, scenario := range []string{"create", "webhooks", "pipeline", "subscribers"} {
		for _, b := range backends {
			t.Run(scenario+"/"+b[1], func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				var out, errs bytes.Buffer
				args := append([]string{scenario, "--smoke"}, b...)
				if err := run(ctx, args, &out, &errs); err != nil {
					t.Fatalf("vidgate-bench %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errs.String())
				}
				if !strings.Contains(out.String(), "vidgate-bench "+scenario) || strings.Contains(out.String(), "FAIL") {
					t.Errorf("vidgate-bench %s printed no report or a failed check:\n%s", strings.Join(args, " "), out.String())
				}
			})
		}
	}
}

// A failed check fails the run, and a clean report does not.
func TestReportFailed(t *testing.T) {
	r := newReport("x", nil)
	r.Phases = append(r.Phases, &Phase{Name: "p", Ops: 10})
	if err := r.Failed(); err != nil {
		t.Fatalf("Failed() of a clean report = %v, want nil", err)
	}
	r.target("fast", false, "slow")
	if err := r.Failed(); err != nil {
		t.Errorf("Failed() with a missed target = %v, want nil: targets do not fail a run", err)
	}
	r.check("correct", false, "wrong")
	if err := r.Failed(); err == nil {
		t.Error("Failed() with a failed check = nil, want an error")
	}
	r = newReport("x", nil)
	r.Phases = append(r.Phases, &Phase{Name: "p", Ops: 10, Errors: 1, FirstErrors: []string{"boom"}})
	if err := r.Failed(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Failed() with a phase error = %v, want an error quoting it", err)
	}
}

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := summarize(samples)
	want := Latency{Count: 100, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Errorf("summarize(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (Latency{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestRedactArgs(t *testing.T) {
	got := strings.Join(redactArgs([]string{"create", "--token", "secret", "--token=secret2", "--target", "http://x"}), " ")
	if want := "create --token TOKEN --token=TOKEN --target http://x"; got != want {
		t.Errorf("redactArgs = %q, want %q", got, want)
	}
}
