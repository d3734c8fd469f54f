package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/vidgate/vidgate/jobs"
)

const createMutation = `mutation($in: CreateVideoJobInput!) { createVideoJob(input: $in) { created job { id status version } } }`

// runCreate measures createVideoJob over HTTP and, in the same run, the
// same work done directly through jobs.Service.CreateJob (validation,
// prompt sealing, insert, enqueue of the submit task) with no HTTP or
// GraphQL: the baseline. No workers run, so the jobs stay QUEUED and only
// the create path is measured. The baseline runs first, so that the HTTP
// phase, on a fuller table, is not favoured.
func runCreate(ctx context.Context, cfg *config) (*Report, error) {
	r := newReport("create", cfg.args)
	r.Params["concurrency"] = cfg.concurrency
	r.Params["duration"] = cfg.duration.String()
	r.Params["warmup"] = cfg.warmup.String()
	r.Params["users"] = cfg.users
	load := loadOptions{concurrency: cfg.concurrency, warmup: cfg.warmup, duration: cfg.duration}
	if cfg.smoke {
		load.maxOps = 50
	}
	var seq atomic.Int64
	prompt := func() string {
		return fmt.Sprintf("bench job %d: a paper boat drifting down a rainy street [sim latency=0s]", seq.Add(1))
	}
	duration := 5
	input := func() map[string]any {
		return map[string]any{"in": map[string]any{
			"workflowType": "TEXT_TO_VIDEO", "prompt": prompt(), "durationSeconds": duration, "aspectRatio": "16:9",
		}}
	}

	if cfg.target != "" {
		r.Deployment = cfg.target
		c := &gqlClient{url: cfg.target + "/graphql", http: newHTTPClient(cfg.concurrency)}
		p := closedLoop(ctx, "http", load, func(ctx context.Context, _ int) error {
			return createOverHTTP(ctx, c, cfg.token, input())
		})
		r.Phases = append(r.Phases, p)
		r.note("--target: the HTTP path only; the baseline and server resources need an in-process deployment")
		createTargets(r, p, nil)
		return r, nil
	}

	o := cfg.deployOptions()
	d, err := deploy(ctx, o)
	if err != nil {
		return nil, err
	}
	defer d.close()
	r.Deployment = d.label
	users := make([]string, cfg.users)
	tokens := make([]string, cfg.users)
	for i := range users {
		users[i] = fmt.Sprintf("bench-user-%d", i)
		if tokens[i], err = d.token(users[i]); err != nil {
			return nil, err
		}
	}

	load.scope = "process: server, and the load generator's goroutines"
	baseline := closedLoop(ctx, "baseline (jobs.Service)", load, func(ctx context.Context, w int) error {
		i := int(seq.Load()) % len(users)
		job, created, err := d.svc.CreateJob(ctx, jobs.Actor{Subject: users[i], Role: jobs.RoleUser}, jobs.CreateInput{
			WorkflowType: jobs.TextToVideo, Prompt: prompt(), DurationSeconds: &duration, AspectRatio: "16:9",
		})
		if err != nil {
			return err
		}
		if !created || job.Status != jobs.StatusQueued {
			return fmt.Errorf("CreateJob = %s, created %v; want a new QUEUED job", job.Status, created)
		}
		return nil
	})
	c := &gqlClient{url: d.url + "/graphql", http: newHTTPClient(cfg.concurrency)}
	httpPhase := closedLoop(ctx, "http (GraphQL)", load, func(ctx context.Context, w int) error {
		i := int(seq.Load()) % len(users)
		return createOverHTTP(ctx, c, tokens[i], input())
	})
	r.Phases = append(r.Phases, baseline, httpPhase)
	if err := cfg.snapshotProfiles(); err != nil {
		return r, err
	}
	ratio := 0.0
	if baseline.PerSecond > 0 {
		ratio = httpPhase.PerSecond / baseline.PerSecond
	}
	r.metric("HTTP / baseline throughput", ratio*100, "%")
	r.metric("HTTP p99 − baseline p99", httpPhase.Latency.P99-baseline.Latency.P99, "ms")
	r.note("both phases run in one process: its CPU is the server's plus the load generator's (for HTTP, the client's requests and JSON)")
	r.note("workers are off: every job stays QUEUED and its submit task waits in the stream")
	createTargets(r, httpPhase, baseline)
	return r, nil
}

func createOverHTTP(ctx context.Context, c *gqlClient, token string, vars map[string]any) error {
	var out struct {
		CreateVideoJob struct {
			Created bool
			Job     struct{ ID, Status string }
		}
	}
	if err := c.do(ctx, token, gqlBody(createMutation, vars), &out); err != nil {
		return err
	}
	if !out.CreateVideoJob.Created || out.CreateVideoJob.Job.Status != "QUEUED" {
		return fmt.Errorf("createVideoJob = %+v, want a new QUEUED job", out.CreateVideoJob)
	}
	return nil
}

func createTargets(r *Report, httpPhase, baseline *Phase) {
	if baseline != nil {
		ratio := httpPhase.PerSecond / max(baseline.PerSecond, 1e-9)
		r.target("HTTP throughput ≥ 70% of baseline", ratio >= 0.70, "%.0f%% (%.0f vs %.0f creates/s)", ratio*100, httpPhase.PerSecond, baseline.PerSecond)
	}
	r.target("HTTP p99 < 25 ms", httpPhase.Latency.P99 < 25, "p99 %.1f ms at concurrency %v", httpPhase.Latency.P99, r.Params["concurrency"])
}
