// Package reconciler keeps the promise that the database is the source of
// truth: it finds jobs whose work was lost or stalled — a queue entry gone
// with a Redis flush, a worker killed mid-submit, webhooks that never came,
// jobs past their maximum age, artifacts past their retention, source images
// no job used before their TTL or whose jobs' videos are gone — and acts on
// them. Every action is recorded as an event with source "reconciler", and
// every action is a guarded change, so doing one twice is harmless.
//
// One reconciler is active at a time across all processes: each holds a
// Redis lease while it works; the others wait for it to lapse.
package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// Config configures a Reconciler. Zero fields take their defaults.
type Config struct {
	// Interval between passes (default 10s).
	Interval time.Duration
	// QueuedAfter: a job QUEUED this long, or RETRYING this long past its
	// next attempt, has lost its queue entry and is enqueued again
	// (default 1m).
	QueuedAfter time.Duration
	// SubmitAfter: a job SUBMITTED this long without a provider request id
	// was abandoned mid-submit (default 2m).
	SubmitAfter time.Duration
	// StaleAfter: a job waiting on its provider with no change for this
	// long is polled (default 10m: beyond any provider's usual latency).
	StaleAfter time.Duration
	// SourceAssetRetention is how long a source image is kept after the
	// last job using it finished without approval: set it to the artifact
	// retention, so the image goes when the videos made from it go (0:
	// used images are kept forever). Unused images expire by their own
	// TTL, set at upload.
	SourceAssetRetention time.Duration
	// Batch caps the jobs one rule handles per pass (default 100).
	Batch int
	// Lease is how long a leader's lease lasts; it is renewed every third
	// of it (default 30s).
	Lease time.Duration
	// Prefix starts the lease's Redis key (default "vg").
	Prefix string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.QueuedAfter <= 0 {
		c.QueuedAfter = time.Minute
	}
	if c.SubmitAfter <= 0 {
		c.SubmitAfter = 2 * time.Minute
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 10 * time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Prefix == "" {
		c.Prefix = "vg"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Reconciler finds and fixes lost or stalled work.
type Reconciler struct {
	store     *jobs.Store
	queue     *queue.Queue
	providers *providers.Registry
	bucket    *blob.Bucket
	rdb       redis.UniversalClient
	cfg       Config
	log       *slog.Logger
	id        string
}

// New returns a Reconciler.
func New(store *jobs.Store, q *queue.Queue, reg *providers.Registry, bucket *blob.Bucket, rdb redis.UniversalClient, cfg Config) *Reconciler {
	cfg.defaults()
	b := make([]byte, 6)
	rand.Read(b)
	return &Reconciler{store: store, queue: q, providers: reg, bucket: bucket, rdb: rdb, cfg: cfg, log: cfg.Logger,
		id: q.Consumer() + "/" + hex.EncodeToString(b)}
}

// ID names this reconciler in its lease.
func (r *Reconciler) ID() string { return r.id }

// Rule names, as they appear in events and in `vidgate jobs stuck`.
const (
	RuleRequeue   = "requeue"
	RuleResubmit  = "resubmit"
	RuleAbandon   = "abandon"
	RulePoll      = "poll"
	RuleExpire    = "expire"
	RuleRetention = "retention"
	// RuleSourceAsset deletes a source image that expired unused, or
	// whose jobs' retention ended.
	RuleSourceAsset = "source_asset"
)

// Action is one thing the reconciler would do, and why.
type Action struct {
	Rule        string
	Job         *jobs.Job         // nil for retention and source_asset
	Artifact    *jobs.Artifact    // retention only
	SourceAsset *jobs.SourceAsset // source_asset only
	Reason      string
}

// Plan lists what a pass would do now, without doing it.
func (r *Reconciler) Plan(ctx context.Context) ([]Action, error) {
	now := r.cfg.Now()
	var plan []Action
	for _, rule := range []func(context.Context, time.Time) ([]Action, error){
		r.planExpire, r.planRequeue, r.planSubmitted, r.planStale, r.planRetention, r.planSourceAssets,
	} {
		acts, err := rule(ctx, now)
		if err != nil {
			return plan, err
		}
		plan = append(plan, acts...)
	}
	return dedupe(plan), nil
}

// dedupe keeps the first action per job: expiry wins over the others.
func dedupe(plan []Action) []Action {
	seen := map[int64]bool{}
	out := plan[:0]
	for _, a := range plan {
		if a.Job != nil {
			if seen[a.Job.ID] {
				continue
			}
			seen[a.Job.ID] = true
		}
		out = append(out, a)
	}
	return out
}

// planExpire: any job still generating past its expiry. A COMPLETED job
// waiting for review does not expire: its video exists, and reviewers may
// take longer than a generation may.
func (r *Reconciler) planExpire(ctx context.Context, now time.Time) ([]Action, error) {
	js, err := r.store.FindJobs(ctx, jobs.JobQuery{Statuses: unfinished, ExpiresBefore: now, Limit: r.cfg.Batch})
	return actions(js, RuleExpire, func(j *jobs.Job) string {
		return fmt.Sprintf("%s past its expiry at %s", j.Status, j.ExpiresAt.Format(time.RFC3339))
	}), err
}

// planRequeue: QUEUED jobs nobody picked up, and RETRYING jobs whose retry
// never came (their queue entries were lost: a Redis flush, or a crash
// between a commit and its enqueue).
func (r *Reconciler) planRequeue(ctx context.Context, now time.Time) ([]Action, error) {
	queued, err := r.store.FindJobs(ctx, jobs.JobQuery{Statuses: []jobs.Status{jobs.StatusQueued}, UpdatedBefore: now.Add(-r.cfg.QueuedAfter), Limit: r.cfg.Batch})
	if err != nil {
		return nil, err
	}
	retrying, err := r.store.FindJobs(ctx, jobs.JobQuery{Statuses: []jobs.Status{jobs.StatusRetrying}, NextAttemptBefore: now.Add(-r.cfg.QueuedAfter), UpdatedBefore: now.Add(-r.cfg.QueuedAfter), Limit: r.cfg.Batch})
	if err != nil {
		return nil, err
	}
	acts := actions(queued, RuleRequeue, func(j *jobs.Job) string {
		return fmt.Sprintf("QUEUED for %s with no worker on it", idle(now, j))
	})
	return append(acts, actions(retrying, RuleRequeue, func(j *jobs.Job) string {
		return fmt.Sprintf("RETRYING, its retry due %s ago never ran", now.Sub(*j.NextAttemptAt).Round(time.Second))
	})...), nil
}

// planSubmitted: SUBMITTED without a provider request id for too long: a
// worker died between its submit and saving the answer. Where the provider
// honours idempotency keys, the submit is sent again with the same key;
// otherwise the job fails, rather than risk a second paid generation.
func (r *Reconciler) planSubmitted(ctx context.Context, now time.Time) ([]Action, error) {
	js, err := r.store.FindJobs(ctx, jobs.JobQuery{Statuses: []jobs.Status{jobs.StatusSubmitted}, RequestID: "none", UpdatedBefore: now.Add(-r.cfg.SubmitAfter), Limit: r.cfg.Batch})
	if err != nil {
		return nil, err
	}
	var acts []Action
	for _, j := range js {
		d, ok := r.providers.Get(j.Provider)
		if ok && providers.HonorsIdempotencyKeys(d) {
			acts = append(acts, Action{Rule: RuleResubmit, Job: j, Reason: fmt.Sprintf("SUBMITTED for %s without a provider request id; %s honours idempotency keys", idle(now, j), j.Provider)})
		} else {
			acts = append(acts, Action{Rule: RuleAbandon, Job: j, Reason: fmt.Sprintf("SUBMITTED for %s without a provider request id; %s cannot deduplicate a resubmit", idle(now, j), j.Provider)})
		}
	}
	return acts, nil
}

// planStale: jobs waiting on their provider with no change for too long:
// the fallback for lost webhooks and lost poll tasks.
func (r *Reconciler) planStale(ctx context.Context, now time.Time) ([]Action, error) {
	js, err := r.store.FindJobs(ctx, jobs.JobQuery{Statuses: []jobs.Status{jobs.StatusSubmitted, jobs.StatusProcessing}, RequestID: "some", UpdatedBefore: now.Add(-r.cfg.StaleAfter), Limit: r.cfg.Batch})
	return actions(js, RulePoll, func(j *jobs.Job) string {
		return fmt.Sprintf("%s with no news from %s for %s", j.Status, j.Provider, idle(now, j))
	}), err
}

// planRetention: artifacts past their retention whose job was not approved.
func (r *Reconciler) planRetention(ctx context.Context, now time.Time) ([]Action, error) {
	arts, err := r.store.ExpiredArtifacts(ctx, now, r.cfg.Batch)
	var acts []Action
	for _, a := range arts {
		acts = append(acts, Action{Rule: RuleRetention, Artifact: a, Reason: fmt.Sprintf("not approved, retention ended %s", a.ExpiresAt.Format(time.RFC3339))})
	}
	return acts, err
}

// planSourceAssets: source images that expired unused, and used ones
// whose jobs finished without approval more than SourceAssetRetention ago.
func (r *Reconciler) planSourceAssets(ctx context.Context, now time.Time) ([]Action, error) {
	assets, err := r.store.ExpiredSourceAssets(ctx, now, r.cfg.SourceAssetRetention, r.cfg.Batch)
	var acts []Action
	for _, a := range assets {
		why := fmt.Sprintf("its jobs finished without approval over %s ago", r.cfg.SourceAssetRetention)
		if a.UsedAt == nil {
			why = fmt.Sprintf("no job used it before it expired at %s", a.ExpiresAt.Format(time.RFC3339))
		}
		acts = append(acts, Action{Rule: RuleSourceAsset, SourceAsset: a, Reason: why})
	}
	return acts, err
}

var unfinished = []jobs.Status{jobs.StatusQueued, jobs.StatusSubmitted, jobs.StatusProcessing, jobs.StatusRetrying}

func actions(js []*jobs.Job, rule string, why func(*jobs.Job) string) []Action {
	out := make([]Action, len(js))
	for i, j := range js {
		out[i] = Action{Rule: rule, Job: j, Reason: why(j)}
	}
	return out
}

func idle(now time.Time, j *jobs.Job) string { return now.Sub(j.UpdatedAt).Round(time.Second).String() }

// Apply carries out one action. An action whose job moved on meanwhile
// does nothing.
func (r *Reconciler) Apply(ctx context.Context, a Action) error {
	var err error
	switch a.Rule {
	case RuleExpire:
		err = r.expire(ctx, a)
	case RuleRequeue:
		err = r.record(ctx, a, jobs.Transition{Type: "requeued"}, queue.Task{Kind: queue.KindSubmit, Attempt: a.Job.Attempt + 1})
	case RuleResubmit:
		err = r.record(ctx, a, jobs.Transition{Type: "resubmitted", NoRequestID: true}, queue.Task{Kind: queue.KindSubmit, Attempt: a.Job.Attempt})
	case RulePoll:
		err = r.record(ctx, a, jobs.Transition{Type: "poll_requested"}, queue.Task{Kind: queue.KindPoll, Attempt: a.Job.Attempt, Data: map[string]string{"n": "1", "force": "1"}})

	case RuleAbandon:
		_, err = r.store.TransitionTx(ctx, jobs.Transition{
			JobID: a.Job.ID, From: a.Job.Status, To: jobs.StatusFailed, ExpectAttempt: a.Job.Attempt, NoRequestID: true,
			Source: jobs.SourceReconciler, ErrorCode: jobs.FailSubmitUnknown, ErrorMessage: a.Reason,
		})
	case RuleRetention:
		if err = r.bucket.Delete(ctx, a.Artifact.StorageKey); err == nil {
			err = r.store.MarkArtifactDeleted(ctx, a.Artifact.ID)
		}
	case RuleSourceAsset:
		err = r.deleteSourceAsset(ctx, a.SourceAsset)
	default:
		err = fmt.Errorf("unknown rule %q", a.Rule)
	}
	var guard *jobs.GuardError
	if errors.As(err, &guard) {
		return nil
	}
	return err
}

// deleteSourceAsset marks an asset deleted, if it still may be (a job may
// have taken it since the plan), then deletes its file; if that fails the
// mark is undone, so the next pass tries again.
func (r *Reconciler) deleteSourceAsset(ctx context.Context, a *jobs.SourceAsset) error {
	ok, err := r.store.MarkSourceAssetDeleted(ctx, a.ID, r.cfg.Now(), r.cfg.SourceAssetRetention)
	if err != nil || !ok {
		return err
	}
	if err := r.bucket.Delete(ctx, a.StorageKey); err != nil {
		if uerr := r.store.UnmarkSourceAssetDeleted(context.WithoutCancel(ctx), a.ID); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	return nil
}

// record writes the action's event (a guarded same-status change, which
// also restarts the job's idle clock) and then enqueues its task. A poll of
// a provider that asks for a minimum wait between polls
// (providers.PollPacer) is scheduled that much later instead: the worker
// may have polled the job a moment ago, since a job can go long without
// news while it is being polled.
func (r *Reconciler) record(ctx context.Context, a Action, t jobs.Transition, task queue.Task) error {
	t.JobID, t.From, t.To, t.Source, t.Message = a.Job.ID, a.Job.Status, a.Job.Status, jobs.SourceReconciler, a.Reason
	if a.Job.Attempt > 0 {
		t.ExpectAttempt = a.Job.Attempt
	}
	if _, err := r.store.TransitionTx(ctx, t); err != nil {
		return err
	}
	task.JobID = a.Job.ID
	if task.Kind == queue.KindPoll {
		if wait := r.minPollInterval(a.Job.Provider); wait > 0 {
			return r.queue.Schedule(ctx, task, r.cfg.Now().Add(wait))
		}
	}
	_, err := r.queue.Enqueue(ctx, task)
	return err
}

// minPollInterval is the shortest wait between two polls that provider asks
// for (providers.PollPacer), 0 if none or if it is not configured here.
func (r *Reconciler) minPollInterval(provider string) time.Duration {
	d, ok := r.providers.Get(provider)
	if !ok {
		return 0
	}
	return providers.MinPollInterval(d)
}

func (r *Reconciler) expire(ctx context.Context, a Action) error {
	j, err := r.store.TransitionTx(ctx, jobs.Transition{
		JobID: a.Job.ID, From: a.Job.Status, To: jobs.StatusExpired, Source: jobs.SourceReconciler,
		ErrorCode: "EXPIRED", ErrorMessage: a.Reason,
	})
	if err != nil {
		return err
	}
	if j.ProviderRequestID != nil {
		_, err = r.queue.Enqueue(ctx, queue.Task{Kind: queue.KindCancel, JobID: j.ID, Attempt: j.Attempt,
			Data: map[string]string{"provider": j.Provider, "provider_request_id": *j.ProviderRequestID}})
	}
	return err
}

// Pass plans and applies once, and returns how many actions it took.
func (r *Reconciler) Pass(ctx context.Context) (int, error) {
	plan, err := r.Plan(ctx)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, a := range plan {
		if err := r.Apply(ctx, a); err != nil {
			r.log.WarnContext(ctx, "reconciler action failed", "rule", a.Rule, "err", err)
			continue
		}
		done++
		switch {
		case a.Job != nil:
			r.log.InfoContext(ctx, "reconciled", "rule", a.Rule, "job_id", a.Job.PublicID, "reason", a.Reason)
		case a.Artifact != nil:
			r.log.InfoContext(ctx, "reconciled", "rule", a.Rule, "artifact_id", a.Artifact.PublicID)
		default:
			r.log.InfoContext(ctx, "reconciled", "rule", a.Rule, "asset_id", a.SourceAsset.PublicID, "reason", a.Reason)
		}
	}
	return done, nil
}
