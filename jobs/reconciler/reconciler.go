// Package reconciler keeps the promise that the database is the source of
// truth: it finds jobs whose work was lost or stalled — a queue entry gone
// with a Redis flush, a worker killed mid-submit, webhooks that never came,
// jobs past their maximum age, artifacts past their retention, source images
// no job used before their TTL or whose jobs' videos are gone — and acts on
// them. Every action is recorded as an event with source "reconciler", and
// every action is a guarded change, so doing one twice is harmless.
//
// Lost queue entries are noticed in seconds, not at the stale thresholds:
//
//   - Redis losing its data (a restart without persistence, a flush, a
//     failover to an empty replica) is detected by the generation marker, a
//     key with a random value the leader writes and checks at every pass
//     (every Interval, 2s by default). When it is gone, the leader rebuilds
//     every live job's task from the database at once — QUEUED and RETRYING
//     jobs get their submit (a retry at its time), SUBMITTED and PROCESSING
//     jobs with a provider request id a poll (which queues the ingest of a
//     job whose provider already finished), jobs canceled or expired within
//     CancelWindow their provider cancel — then writes a new marker and logs
//     the count once. A SUBMITTED job without a request id is left to the
//     SubmitAfter rule: a worker may still be submitting it.
//
// A task that follows a committed change — a new job's submit, an ingest, a
// retry, a poll, a provider cancel — is not this package's business: it is
// written to the outbox in the change's own transaction and relayed to its
// stream within seconds of Redis answering again (jobs.Relay), including
// when the process died between the commit and the enqueue. What is left
// to the rules below is work lost where the outbox cannot see it: tasks
// lost after they reached Redis (the generation marker), submits abandoned
// mid-call, webhooks that never came.
// Doing a job's step twice is harmless: the worker's guards drop a task
// whose job moved on.
//
// One reconciler is active at a time across all processes: each holds a
// fenced Redis lease while it works (see lease.go); the others wait for it
// to lapse.
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
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/keyspace"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// Config configures a Reconciler. Zero fields take their defaults.
type Config struct {
	// Interval between passes (default 2s): also how soon Redis losing its
	// data is acted on. A pass is a few indexed queries; duplicate tasks
	// are harmless.
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
	// CancelWindow: when Redis lost its data, jobs canceled or expired this
	// recently have their provider cancel sent again (default 1h: a request
	// older than that has finished on its own).
	CancelWindow time.Duration
	// Lease is how long a leader's lease lasts; it is renewed every third
	// of it (default 30s).
	Lease time.Duration
	// Prefix starts the reconciler's Redis keys (default "vg"; see
	// jobs/keyspace).
	Prefix string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
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
	if c.CancelWindow <= 0 {
		c.CancelWindow = time.Hour
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Prefix == "" {
		c.Prefix = keyspace.DefaultPrefix
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
	keys      keyspace.Keyspace
	// token is the lease's value while Run leads, "" otherwise; only Run's
	// goroutine touches it.
	token   string
	onLease func(token string) // tests: hears each lease decision of Run
}

// New returns a Reconciler.
func New(store *jobs.Store, q *queue.Queue, reg *providers.Registry, bucket *blob.Bucket, rdb redis.UniversalClient, cfg Config) *Reconciler {
	cfg.defaults()
	b := make([]byte, 6)
	rand.Read(b)
	return &Reconciler{store: store, queue: q, providers: reg, bucket: bucket, rdb: rdb, cfg: cfg, log: cfg.Logger,
		id: q.Consumer() + "/" + hex.EncodeToString(b), keys: keyspace.New(cfg.Prefix), onLease: func(string) {}}
}

// ID names this reconciler in its lease.
func (r *Reconciler) ID() string { return r.id }

// Rule names, as they appear in events and in `vidgate jobs stuck`.
const (
	RuleRequeue  = "requeue"
	RuleResubmit = "resubmit"
	RuleAbandon  = "abandon"
	RulePoll     = "poll"
	// RuleCancel asks the provider again to stop a canceled or expired
	// job's request, after Redis lost its data.
	RuleCancel    = "cancel"
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
	// NotBefore, when set, is the earliest time the action's submit task
	// may run (a rebuild's grace: see rebuildGrace).
	NotBefore time.Time
}

// rebuildGrace delays the submit tasks a rebuild makes for QUEUED and
// RETRYING jobs. A missing generation marker means Redis lost its data —
// or that this deployment's Redis is new, while jobs are being created and
// their own submit tasks queued. Those tasks carry the API request's id
// (the correlation in the worker's logs) and should win; the rebuild's copy
// then finds the job moved on and is dropped. After a real loss the wait
// only delays the resubmit by these seconds.
const rebuildGrace = 5 * time.Second

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
	js, err := r.store.FindJobs(ctx, jobs.JobQuery{Statuses: jobs.GeneratingStatuses, ExpiresBefore: now, Limit: r.cfg.Batch})
	return actions(js, RuleExpire, func(j *jobs.Job) string {
		return fmt.Sprintf("%s past its expiry at %s", j.Status, j.ExpiresAt.Format(time.RFC3339))
	}), err
}

// planRequeue: QUEUED jobs nobody picked up, and RETRYING jobs whose retry
// never came (their queue entries were lost with Redis's data after the
// outbox relayed them).
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

// redo is the action that gives live job j its next task again, whatever
// its age (the requeue and poll rules with a threshold of zero), and false
// for a SUBMITTED job without a provider request id, which a worker may
// still be submitting (the SubmitAfter rule's business).
func redo(j *jobs.Job, now time.Time, why string) (Action, bool) {
	switch {
	case j.Status == jobs.StatusQueued || j.Status == jobs.StatusRetrying:
		return Action{Rule: RuleRequeue, Job: j, Reason: fmt.Sprintf("%s: %s", j.Status, why)}, true
	case (j.Status == jobs.StatusSubmitted || j.Status == jobs.StatusProcessing) && j.ProviderRequestID != nil:
		return Action{Rule: RulePoll, Job: j, Reason: fmt.Sprintf("%s at %d%%: %s", j.Status, j.Progress, why)}, true
	}
	return Action{}, false
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
	case RuleCancel:
		_, err = r.queue.Enqueue(ctx, cancelTask(a.Job))
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
// also restarts the job's idle clock) and its task, in one transaction (the
// outbox: the task is queued at once, or by the relay once Redis answers;
// a pass that fails part way leaves no event without its task). A poll of
// a provider that asks for a minimum wait between polls
// (providers.PollPacer) is scheduled that much later instead: the worker
// may have polled the job a moment ago, since a job can go long without
// news while it is being polled. The submit of a RETRYING job whose retry
// is not due yet is scheduled for its time.
func (r *Reconciler) record(ctx context.Context, a Action, t jobs.Transition, task queue.Task) error {
	t.JobID, t.From, t.To, t.Source, t.Message = a.Job.ID, a.Job.Status, a.Job.Status, jobs.SourceReconciler, a.Reason
	if a.Job.Attempt > 0 {
		t.ExpectAttempt = a.Job.Attempt
	}
	task.JobID = a.Job.ID
	var at time.Time // zero: at once
	if task.Kind == queue.KindPoll {
		if wait := r.minPollInterval(a.Job.Provider); wait > 0 {
			at = r.cfg.Now().Add(wait)
		}
	}
	if task.Kind == queue.KindSubmit {
		due := a.NotBefore
		if a.Job.NextAttemptAt != nil && a.Job.NextAttemptAt.After(due) {
			due = *a.Job.NextAttemptAt
		}
		if due.After(r.cfg.Now()) {
			at = due
		}
	}
	_, err := r.store.TransitionThen(ctx, t, task, at)
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

// expire moves a job to EXPIRED and, in the same transaction, writes its
// provider cancel to the outbox.
func (r *Reconciler) expire(ctx context.Context, a Action) error {
	return r.store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		j, err := r.store.Transition(ctx, tx, jobs.Transition{
			JobID: a.Job.ID, From: a.Job.Status, To: jobs.StatusExpired, Source: jobs.SourceReconciler,
			ErrorCode: "EXPIRED", ErrorMessage: a.Reason,
		})
		if err != nil || j.ProviderRequestID == nil {
			return err
		}
		return r.store.AddTask(ctx, tx, cancelTask(j), time.Time{})
	})
}

// cancelTask asks j's provider to stop j's request.
func cancelTask(j *jobs.Job) queue.Task {
	return queue.Task{Kind: queue.KindCancel, JobID: j.ID, Attempt: j.Attempt,
		Data: map[string]string{"provider": j.Provider, "provider_request_id": *j.ProviderRequestID}}
}

// Pass checks the generation marker (rebuilding every live job's task
// when Redis lost its data), then plans and applies once, and returns how
// many actions it took.
func (r *Reconciler) Pass(ctx context.Context) (int, error) { return r.pass(ctx, nil) }

// pass is Pass; a leader's pass (Run) calls fence before every action and
// stops when it fails. A nil fence: unfenced, for a single caller.
func (r *Reconciler) pass(ctx context.Context, fence func(context.Context) error) (int, error) {
	if fence == nil {
		fence = func(context.Context) error { return nil }
	}
	if err := fence(ctx); err != nil {
		return 0, err
	}
	done, err := r.checkGeneration(ctx, fence)
	if err != nil {
		return done, err
	}
	plan, err := r.Plan(ctx)
	if err != nil {
		return done, err
	}
	for _, a := range plan {
		if err := fence(ctx); err != nil {
			return done, err
		}
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

// generationScript reads the generation marker, or writes it, for the
// holder of the lease only.
//
//	KEYS[1]  the lease key
//	KEYS[2]  the generation key
//	ARGV[1]  the caller's lease token ("": the caller is not fenced)
//	ARGV[2]  the marker's new value ("": only read it)
//	reply    -1 if the token does not hold the lease; else 1 if the marker
//	         exists (or was written), 0 if it does not
var generationScript = redis.NewScript(`
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return redis.call('EXISTS', KEYS[2])`)

func (r *Reconciler) generation(ctx context.Context, value string) (bool, error) {
	n, err := generationScript.Run(ctx, r.rdb, r.keys.GenerationKeys(), r.token, value).Int()
	if err != nil {
		return false, fmt.Errorf("generation marker: %w", err)
	}
	if n < 0 {
		r.token = ""
		return false, errLostLease
	}
	return n == 1, nil
}

// checkGeneration rebuilds every live job's task when the generation
// marker is gone, then writes a new one. A rebuild that fails part way
// writes none: the next pass starts it over (the tasks it queued already
// are duplicates the worker drops).
func (r *Reconciler) checkGeneration(ctx context.Context, fence func(context.Context) error) (int, error) {
	if ok, err := r.generation(ctx, ""); err != nil || ok {
		return 0, err
	}
	n, err := r.rebuild(ctx, fence)
	if err != nil {
		return n, fmt.Errorf("rebuild tasks after Redis lost its data (%d queued so far): %w", n, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	if _, err := r.generation(ctx, hex.EncodeToString(b)); err != nil {
		return n, err
	}
	r.log.WarnContext(ctx, "reconciler: Redis lost its data (no generation marker); rebuilt the tasks of live jobs from the database", "tasks", n)
	return n, nil
}

// rebuild gives every live job its next task (redo), and re-sends the
// provider cancel of jobs canceled or expired within CancelWindow.
func (r *Reconciler) rebuild(ctx context.Context, fence func(context.Context) error) (int, error) {
	now := r.cfg.Now()
	n := 0
	apply := func(a Action) error {
		if err := fence(ctx); err != nil {
			return err
		}
		if err := r.Apply(ctx, a); err != nil {
			return err
		}
		n++
		return nil
	}
	for after := int64(0); ; {
		js, err := r.store.LiveJobsAfter(ctx, after, r.cfg.Batch)
		if err != nil {
			return n, err
		}
		for _, j := range js {
			after = j.ID
			if a, ok := redo(j, now, "its task was lost with Redis's data"); ok {
				if a.Rule == RuleRequeue {
					a.NotBefore = now.Add(rebuildGrace)
				}
				if err := apply(a); err != nil {
					return n, err
				}
			}
		}
		if len(js) < r.cfg.Batch {
			break
		}
	}
	for after := int64(0); ; {
		js, err := r.store.CanceledSince(ctx, now.Add(-r.cfg.CancelWindow), after, r.cfg.Batch)
		if err != nil {
			return n, err
		}
		for _, j := range js {
			after = j.ID
			if err := apply(Action{Rule: RuleCancel, Job: j, Reason: fmt.Sprintf("%s at attempt %d; its cancel may have been lost with Redis's data", j.Status, j.Attempt)}); err != nil {
				return n, err
			}
		}
		if len(js) < r.cfg.Batch {
			return n, nil
		}
	}
}
