package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs/queue"
)

// Store keeps jobs and everything hanging off them in PostgreSQL or SQLite.
// All of vidgate's SQL lives here. Methods that take a bun.IDB run in the
// caller's transaction; the others open their own.
type Store struct {
	db       *bun.DB
	now      func() time.Time
	onCommit []func(ctx context.Context, changes []Change)
	relay    *Relay // sends the outbox's tasks after their commit (NewRelay)
}

// Change is one committed change of a job: its state after the change,
// and its status before (nil for a new job).
type Change struct {
	Job  *Job
	From *Status
}

// OnCommit registers fn to hear of every change to a job after it commits,
// in commit order: new jobs, and every Transition made in a Store.Tx (or
// outside any transaction). Live status updates are published this way, so
// no change, whichever process made it, is published before it is durable
// or not at all. Register before use; fn must not block for long.
func (s *Store) OnCommit(fn func(ctx context.Context, changes []Change)) {
	s.onCommit = append(s.onCommit, fn)
}

func (s *Store) notify(ctx context.Context, changes []Change) {
	if len(changes) == 0 {
		return
	}
	for _, fn := range s.onCommit {
		fn(context.WithoutCancel(ctx), changes)
	}
}

// changeSet collects a transaction's changes, and the outbox tasks it
// wrote, until it commits.
type changeSet struct {
	changes []Change
	tasks   []*OutboxTask
}

type changeSetKey struct{}

// NewStore returns a store over db. now is the clock (nil means time.Now);
// timestamps are kept in UTC at microsecond precision, which both dialects
// store exactly.
func NewStore(db *bun.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// DB returns the underlying database handle.
func (s *Store) DB() *bun.DB { return s.db }

// Now returns the store's current time, as it stores it.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Tx runs fn in a transaction, committed if fn returns nil. Changes made
// by Transition inside it are announced (OnCommit) after the commit, and
// the tasks AddTask wrote in it are sent to the queue.
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	cs := &changeSet{}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		cs.changes, cs.tasks = cs.changes[:0], cs.tasks[:0] // a retried transaction starts over
		return fn(context.WithValue(ctx, changeSetKey{}, cs), tx)
	})
	if err == nil {
		s.notify(ctx, cs.changes)
		s.sendTasks(ctx, cs.tasks)
	}
	return err
}

// InsertJob inserts a new job in QUEUED with its first event (saying note,
// such as why its provider was chosen) and its sealed prompt, in one
// transaction, with its first submit task in the outbox (AddTask). When the
// owner already has a job with the same idempotency key, it inserts
// nothing and returns that job with existing=true. A job
// with a source asset marks the asset used in the same transaction, or
// fails with ErrSourceAssetGone when the asset expired or was deleted.
func (s *Store) InsertJob(ctx context.Context, job *Job, prompt *Prompt, note string) (saved *Job, existing bool, err error) {
	return s.insertJob(ctx, job, prompt, note, nil)
}

// InsertJobAudited is InsertJob that also appends audit in the same
// transaction, when the job is new (a retry).
func (s *Store) InsertJobAudited(ctx context.Context, job *Job, prompt *Prompt, note string, audit AuditRecord) (saved *Job, existing bool, err error) {
	return s.insertJob(ctx, job, prompt, note, &audit)
}

func (s *Store) insertJob(ctx context.Context, job *Job, prompt *Prompt, note string, audit *AuditRecord) (saved *Job, existing bool, err error) {
	now := s.Now()
	job.Status, job.Version = StatusQueued, 1
	job.CreatedAt, job.UpdatedAt = now, now
	err = s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewInsert().Model(job).
			On("CONFLICT (owner_id, idempotency_key) DO NOTHING").
			Returning("id").
			Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			existing = true
			saved, err = s.jobWhere(ctx, tx, "j.owner_id = ? AND j.idempotency_key = ?", job.OwnerID, *job.IdempotencyKey)
			return err
		}
		for _, asset := range []*int64{job.SourceAssetID, job.EndFrameAssetID} {
			if asset == nil {
				continue
			}
			if err := s.claimSourceAsset(ctx, tx, *asset, now); err != nil {
				return err
			}
		}
		prompt.JobID, prompt.CreatedAt = job.ID, now
		if _, err := tx.NewInsert().Model(prompt).Exec(ctx); err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, job, nil, "queued", SourceAPI, &job.OwnerID, nonEmpty(note), nil); err != nil {
			return err
		}
		if audit != nil {
			if err := s.AppendAudit(ctx, tx, *audit); err != nil {
				return err
			}
		}
		// Reload so the caller sees exactly what is stored (joined columns
		// included) — in the transaction: once it commits, the submit task
		// goes out and a worker may move the job on at once. The new job is
		// announced (OnCommit) before its task is sent.
		if saved, err = s.jobWhere(ctx, tx, "j.id = ?", job.ID); err != nil {
			return err
		}
		cs := ctx.Value(changeSetKey{}).(*changeSet) // s.Tx put it there
		cs.changes = append(cs.changes, Change{Job: saved})
		return s.AddTask(ctx, tx, queue.Task{Kind: queue.KindSubmit, JobID: job.ID, Attempt: job.Attempt + 1}, time.Time{})
	})
	if err != nil {
		return nil, false, fmt.Errorf("insert job: %w", err)
	}
	return saved, existing, nil
}

// JobByPublicID returns the job with the given public id, or ErrNotFound.
func (s *Store) JobByPublicID(ctx context.Context, publicID string) (*Job, error) {
	return s.jobWhere(ctx, s.db, "j.public_id = ?", publicID)
}

// JobByPublicIDTx reads a job by its public id inside tx.
func (s *Store) JobByPublicIDTx(ctx context.Context, tx bun.IDB, publicID string) (*Job, error) {
	return s.jobWhere(ctx, tx, "j.public_id = ?", publicID)
}

// JobInTx reads a job inside tx (seeing what committed since tx began, on
// PostgreSQL's READ COMMITTED).
func (s *Store) JobInTx(ctx context.Context, tx bun.IDB, id int64) (*Job, error) {
	return s.jobWhere(ctx, tx, "j.id = ?", id)
}

// JobByID returns the job with the given internal id, or ErrNotFound.
func (s *Store) JobByID(ctx context.Context, id int64) (*Job, error) {
	return s.jobWhere(ctx, s.db, "j.id = ?", id)
}

func (s *Store) selectJobs(db bun.IDB) *bun.SelectQuery {
	return db.NewSelect().Model((*Job)(nil)).
		ModelTableExpr("video_jobs AS j").
		ColumnExpr("j.*").
		ColumnExpr("sa.public_id AS source_asset_public_id").
		ColumnExpr("pj.public_id AS parent_public_id").
		ColumnExpr("ea.public_id AS end_frame_asset_public_id").
		Join("LEFT JOIN source_assets AS sa ON sa.id = j.source_asset_id").
		Join("LEFT JOIN source_assets AS ea ON ea.id = j.end_frame_asset_id").
		Join("LEFT JOIN video_jobs AS pj ON pj.id = j.parent_id")
}

func (s *Store) jobWhere(ctx context.Context, db bun.IDB, where string, args ...any) (*Job, error) {
	job := new(Job)
	err := s.selectJobs(db).Where(where, args...).Limit(1).Scan(ctx, job)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get job: %w", err)
	}
	return job, nil
}

// ListFilter selects jobs for ListJobs.
type ListFilter struct {
	// OwnerID, when set, keeps only that owner's jobs.
	OwnerID string
	// ReviewOnly keeps only jobs that reached review.
	ReviewOnly bool
	// Statuses, when set, keeps only jobs in one of them.
	Statuses []Status
	// BeforeID, when positive, keeps only jobs older than the job with that
	// internal id: the keyset cursor.
	BeforeID int64
	// Limit is how many to return.
	Limit int
}

// ListJobs returns jobs newest first. Ordering by the identity column keeps
// pages stable while new jobs arrive: a cursor is the last id seen.
func (s *Store) ListJobs(ctx context.Context, f ListFilter) ([]*Job, error) {
	q := s.selectJobs(s.db).OrderExpr("j.id DESC").Limit(int64(f.Limit))
	if f.OwnerID != "" {
		q = q.Where("j.owner_id = ?", f.OwnerID)
	}
	if f.ReviewOnly {
		q = q.Where("j.status IN (?)", bun.In([]Status{StatusCompleted, StatusApproved, StatusRejected}))
	}
	if len(f.Statuses) > 0 {
		q = q.Where("j.status IN (?)", bun.In(f.Statuses))
	}
	if f.BeforeID > 0 {
		q = q.Where("j.id < ?", f.BeforeID)
	}
	var jobs []*Job
	if err := q.Scan(ctx, &jobs); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// Transition is one guarded change of a job and the event that records it.
// From == To is an update that keeps the status (progress, the provider's
// request id, "provider completed"): it is guarded and versioned the same
// way.
type Transition struct {
	JobID int64
	From  Status
	To    Status
	// Type is the event type; empty means the new status in lower case.
	Type    string
	Source  Source
	ActorID string
	Message string
	// ErrorCode and ErrorMessage go on the event; on the job too when it
	// fails (To is FAILED, CANCELED or EXPIRED). Messages never hold prompts.
	ErrorCode    string
	ErrorMessage string

	// Attempt, when positive, sets the job's attempt number and guards on
	// the previous one (attempt = Attempt-1): a submit that lost a race with
	// another worker for the same attempt changes nothing.
	Attempt int
	// ExpectAttempt, when positive, guards on the job being at that attempt
	// (for tasks that belong to one attempt: polls, ingests).
	ExpectAttempt int
	// ProviderRequestID, when set, is stored; the update is guarded on the
	// job having none yet.
	ProviderRequestID string
	// Progress, when set, is stored; the update is guarded on it being
	// higher than the stored progress, so progress never goes backwards.
	Progress *int
	// NextAttemptAt is stored when the job moves to RETRYING (and cleared
	// when it leaves).
	NextAttemptAt *time.Time
	// NoRequestID guards on the job having no provider request id yet.
	NoRequestID bool

	// SubmitKey is the idempotency key a move to SUBMITTED stores for the
	// vendor call that follows it; empty means DefaultSubmitKey of the job
	// and its new attempt. A job that still holds a key keeps it: that key
	// belongs to an earlier submit whose outcome is unknown (it failed
	// transiently, maybe after the vendor started a generation), and only
	// the same key makes the vendor answer with that generation instead of
	// billing a second one. The key is in the database before the call, so
	// no loss of the queue's data can change it.
	SubmitKey string
	// DropSubmitKey clears the stored submit key: the provider reported
	// the attempt's generation over (failed), so the next attempt asks for
	// a new one, under a new key. Without it the key outlives the attempt.
	DropSubmitKey bool

	// Reviewer, when set, guards on no one else holding a live review
	// lease on the job (ClaimReview): a reviewer's decision may not
	// overtake another reviewer who has the job open.
	Reviewer string
}

// DefaultSubmitKey is the idempotency key of the first vendor call of a
// job's attempt: "<public id>-<attempt>".
func DefaultSubmitKey(publicID string, attempt int) string {
	return publicID + submitKeySuffix(attempt)
}

func submitKeySuffix(attempt int) string { return "-" + strconv.Itoa(attempt) }

// Transition moves a job from t.From to t.To if and only if it is still in
// t.From (and every other guard of t holds), bumps its version, stamps the
// timestamp that belongs to the new status, and appends the event — all in
// tx. If a guard fails it changes nothing and returns a *GuardError saying
// where the job is; a job that does not exist is ErrNotFound. A status pair
// the state machine does not allow is refused before any SQL runs.
func (s *Store) Transition(ctx context.Context, tx bun.IDB, t Transition) (*Job, error) {
	if t.From != t.To && !CanTransition(t.From, t.To) {
		return nil, fmt.Errorf("transition %s → %s is not allowed", t.From, t.To)
	}
	if t.From == t.To && t.From.Terminal() {
		return nil, fmt.Errorf("job %d is %s: terminal jobs do not change", t.JobID, t.From)
	}
	now := s.Now()
	q := tx.NewUpdate().Table("video_jobs").
		Set("status = ?", t.To).
		Set("version = version + 1").
		Set("updated_at = ?", now).
		Where("id = ?", t.JobID).
		Where("status = ?", t.From).
		Returning("*")
	if t.From != t.To {
		switch t.To {
		case StatusSubmitted:
			q = q.Set("submitted_at = ?", now).Set("provider_request_id = NULL").Set("progress = 0")
			// In the same statement as the move, before any vendor call: a
			// key kept from an unknown outcome wins (see SubmitKey).
			if t.SubmitKey != "" {
				q = q.Set("submit_key = COALESCE(submit_key, ?)", t.SubmitKey)
			} else if t.Attempt > 0 {
				q = q.Set("submit_key = COALESCE(submit_key, public_id || ?)", submitKeySuffix(t.Attempt))
			} else { // the attempt does not change
				q = q.Set("submit_key = COALESCE(submit_key, public_id || '-' || CAST(attempt AS TEXT))")
			}
		case StatusCompleted:
			q = q.Set("completed_at = ?", now).Set("progress = 100")
		case StatusApproved, StatusRejected:
			q = q.Set("reviewed_at = ?", now)
		}
		if t.To == StatusRetrying {
			q = q.Set("next_attempt_at = ?", t.NextAttemptAt)
		} else {
			q = q.Set("next_attempt_at = NULL")
		}
	}
	if t.DropSubmitKey {
		q = q.Set("submit_key = NULL")
	}
	if t.From == StatusCompleted && t.To != StatusCompleted {
		// Out of review: a lease on the job means nothing any more.
		q = q.Set("claimed_by = NULL").Set("claim_expires_at = NULL")
	}
	if t.Reviewer != "" {
		q = q.Where("(claimed_by IS NULL OR claimed_by = ? OR claim_expires_at < ?)", t.Reviewer, now)
	}
	if t.ErrorCode != "" && (t.To == StatusFailed || t.To == StatusCanceled || t.To == StatusExpired) {
		q = q.Set("error_code = ?", t.ErrorCode).Set("error_message = ?", t.ErrorMessage)
	}
	if t.Attempt > 0 {
		q = q.Set("attempt = ?", t.Attempt).Where("attempt = ?", t.Attempt-1)
	}
	if t.ExpectAttempt > 0 {
		q = q.Where("attempt = ?", t.ExpectAttempt)
	}
	if t.ProviderRequestID != "" {
		q = q.Set("provider_request_id = ?", t.ProviderRequestID).Where("provider_request_id IS NULL")
	}
	if t.NoRequestID {
		q = q.Where("provider_request_id IS NULL")
	}
	if t.Progress != nil {
		q = q.Set("progress = ?", *t.Progress).Where("progress < ?", *t.Progress)
	}
	job := new(Job)
	err := q.Scan(ctx, job)
	if errors.Is(err, sql.ErrNoRows) {
		current := new(Job)
		err := tx.NewSelect().Model(current).Column("status", "attempt", "progress").Where("id = ?", t.JobID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("transition job %d: %w", t.JobID, err)
		}
		return nil, &GuardError{JobID: t.JobID, Expected: t.From, Actual: current.Status, To: t.To}
	}
	if err != nil {
		return nil, fmt.Errorf("transition job %d: %w", t.JobID, err)
	}
	typ := t.Type
	if typ == "" {
		typ = strings.ToLower(string(t.To))
	}
	from := t.From
	msg := t.Message
	if msg == "" {
		msg = t.ErrorMessage
	}
	if err := s.record(ctx, tx, job, &from, typ, t.Source, nonEmpty(t.ActorID), nonEmpty(msg), nonEmpty(t.ErrorCode)); err != nil {
		return nil, err
	}
	return job, nil
}

// record appends the event of the version a guarded update just gave job,
// and announces the change once it commits (at once when tx is no
// transaction).
func (s *Store) record(ctx context.Context, tx bun.IDB, job *Job, from *Status, typ string, src Source, actor, msg, code *string) error {
	if err := s.appendEvent(ctx, tx, job, from, typ, src, actor, msg, code); err != nil {
		return err
	}
	change := Change{Job: job, From: from}
	if cs, ok := ctx.Value(changeSetKey{}).(*changeSet); ok {
		cs.changes = append(cs.changes, change)
	} else if _, inTx := tx.(bun.Tx); !inTx {
		s.notify(ctx, []Change{change}) // autocommitted
	}
	return nil
}

// TransitionTx runs one Transition in its own transaction.
func (s *Store) TransitionTx(ctx context.Context, t Transition) (*Job, error) {
	var job *Job
	err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		job, err = s.Transition(ctx, tx, t)
		return err
	})
	return job, err
}

// appendEvent records the change that brought job to its current version.
func (s *Store) appendEvent(ctx context.Context, tx bun.IDB, job *Job, from *Status, typ string, src Source, actor, msg, code *string) error {
	ev := &Event{
		JobID: job.ID, Version: job.Version, Type: typ,
		PreviousStatus: from, NewStatus: job.Status, Source: src,
		ActorID: actor, Message: msg, ErrorCode: code, CreatedAt: job.UpdatedAt,
	}
	if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

// ReviewJob moves a COMPLETED job to APPROVED or REJECTED and appends the
// review, in one transaction. A job no longer COMPLETED is a *GuardError.
func (s *Store) ReviewJob(ctx context.Context, jobID int64, r *Review) (*Job, error) {
	return s.reviewJob(ctx, jobID, r, nil)
}

// ReviewJobAudited is ReviewJob that also appends audit in the same
// transaction (action job.approve or job.reject unless audit names one;
// the target is the job).
func (s *Store) ReviewJobAudited(ctx context.Context, jobID int64, r *Review, audit AuditRecord) (*Job, error) {
	return s.reviewJob(ctx, jobID, r, &audit)
}

func (s *Store) reviewJob(ctx context.Context, jobID int64, r *Review, audit *AuditRecord) (*Job, error) {
	to := StatusApproved
	if r.Decision == DecisionRejected {
		to = StatusRejected
	}
	var job *Job
	err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		job, err = s.Transition(ctx, tx, Transition{
			JobID: jobID, From: StatusCompleted, To: to,
			Source: SourceReviewer, ActorID: r.ReviewerID, Message: reviewMessage(r),
			Reviewer: r.ReviewerID,
		})
		if err != nil {
			return err
		}
		r.JobID, r.CreatedAt = jobID, job.UpdatedAt
		if _, err = tx.NewInsert().Model(r).Exec(ctx); err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		rec := *audit
		if rec.Action == "" {
			rec.Action = AuditJobApprove
			if to == StatusRejected {
				rec.Action = AuditJobReject
			}
		}
		rec.TargetKind, rec.TargetID = AuditTargetJob, job.PublicID
		return s.AppendAudit(ctx, tx, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("review job: %w", err)
	}
	return s.JobByID(ctx, jobID)
}

// reviewMessage is the event message for a review: the reason codes only.
// The reviewer's note stays in video_reviews.
func reviewMessage(r *Review) string {
	if r.Reasons == "" {
		return ""
	}
	return "reasons: " + r.Reasons
}

// JobQuery selects jobs for the reconciler's scans. Zero fields do not
// filter.
type JobQuery struct {
	Statuses          []Status
	UpdatedBefore     time.Time
	NextAttemptBefore time.Time
	ExpiresBefore     time.Time
	// RequestID: "none" keeps jobs without a provider request id, "some"
	// those with one.
	RequestID string
	Limit     int
}

// FindJobs returns jobs matching q, oldest update first.
func (s *Store) FindJobs(ctx context.Context, q JobQuery) ([]*Job, error) {
	sel := s.selectJobs(s.db).OrderExpr("j.updated_at, j.id").Limit(int64(max(q.Limit, 1)))
	if len(q.Statuses) > 0 {
		sel = sel.Where("j.status IN (?)", bun.In(q.Statuses))
	}
	if !q.UpdatedBefore.IsZero() {
		sel = sel.Where("j.updated_at < ?", q.UpdatedBefore.UTC())
	}
	if !q.NextAttemptBefore.IsZero() {
		sel = sel.Where("j.next_attempt_at < ?", q.NextAttemptBefore.UTC())
	}
	if !q.ExpiresBefore.IsZero() {
		sel = sel.Where("j.expires_at < ?", q.ExpiresBefore.UTC())
	}
	switch q.RequestID {
	case "none":
		sel = sel.Where("j.provider_request_id IS NULL")
	case "some":
		sel = sel.Where("j.provider_request_id IS NOT NULL")
	}
	var out []*Job
	if err := sel.Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("find jobs: %w", err)
	}
	return out, nil
}

// CountActive counts an owner's jobs that are still generating.
func (s *Store) CountActive(ctx context.Context, owner string) (int, error) {
	n, err := s.db.NewSelect().Table("video_jobs").Where("owner_id = ?", owner).
		Where("status IN (?)", bun.In(GeneratingStatuses)).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count active jobs: %w", err)
	}
	return int(n), nil
}

// JobByIdempotencyKey returns an owner's job made with key, or ErrNotFound.
func (s *Store) JobByIdempotencyKey(ctx context.Context, owner, key string) (*Job, error) {
	return s.jobWhere(ctx, s.db, "j.owner_id = ? AND j.idempotency_key = ?", owner, key)
}

// CountIdle counts unfinished jobs not updated since before, by status.
func (s *Store) CountIdle(ctx context.Context, before time.Time) (map[Status]int, error) {
	var rows []struct {
		Status Status `bun:"status"`
		N      int    `bun:"n"`
	}
	err := s.db.NewSelect().Table("video_jobs").ColumnExpr("status, count(*) AS n").
		Where("status IN (?)", bun.In(GeneratingStatuses)).
		Where("updated_at < ?", before.UTC()).GroupExpr("status").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count idle jobs: %w", err)
	}
	out := map[Status]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// ExpiredArtifacts returns stored artifacts past their expiry whose job
// was not approved (approved videos are kept).
func (s *Store) ExpiredArtifacts(ctx context.Context, now time.Time, limit int) ([]*Artifact, error) {
	var out []*Artifact
	err := s.db.NewSelect().Model(&out).
		Where("deleted_at IS NULL").Where("expires_at < ?", now.UTC()).
		Where("job_id NOT IN (SELECT id FROM video_jobs WHERE status = ?)", StatusApproved).
		OrderExpr("expires_at").Limit(int64(max(limit, 1))).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("expired artifacts: %w", err)
	}
	return out, nil
}

// MarkArtifactDeleted records that an artifact's file is gone.
func (s *Store) MarkArtifactDeleted(ctx context.Context, id int64) error {
	_, err := s.db.NewUpdate().Model((*Artifact)(nil)).Set("deleted_at = ?", s.Now()).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark artifact deleted: %w", err)
	}
	return nil
}

// JobByProviderRequest returns the job a provider knows by requestID, or
// ErrNotFound.
func (s *Store) JobByProviderRequest(ctx context.Context, db bun.IDB, provider, requestID string) (*Job, error) {
	return s.jobWhere(ctx, db, "j.provider = ? AND j.provider_request_id = ?", provider, requestID)
}

// Webhook receipt outcomes.
const (
	OutcomeApplied    = "applied"
	OutcomeDuplicate  = "duplicate"
	OutcomeStale      = "stale"
	OutcomeUnknownJob = "unknown_job"
)

// InsertReceipt records a webhook delivery in tx. It returns false, and
// writes nothing, when the provider's event id was seen before: the
// delivery is a duplicate.
func (s *Store) InsertReceipt(ctx context.Context, tx bun.IDB, r *WebhookReceipt) (bool, error) {
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = s.Now()
	}
	res, err := tx.NewInsert().Model(r).On("CONFLICT (provider, provider_event_id) DO NOTHING").Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("insert webhook receipt: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	_, err = tx.NewUpdate().Model((*WebhookReceipt)(nil)).Set("duplicates = duplicates + 1").
		Where("provider = ? AND provider_event_id = ?", r.Provider, r.ProviderEventID).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("count duplicate webhook: %w", err)
	}
	return false, nil
}

// SetReceiptOutcome records what a webhook delivery did.
func (s *Store) SetReceiptOutcome(ctx context.Context, tx bun.IDB, id int64, outcome string) error {
	_, err := tx.NewUpdate().Model((*WebhookReceipt)(nil)).Set("outcome = ?", outcome).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("set receipt outcome: %w", err)
	}
	return nil
}

// ReceiptsOf returns the receipts for a provider request, oldest first.
func (s *Store) ReceiptsOf(ctx context.Context, provider, requestID string) ([]*WebhookReceipt, error) {
	var rows []*WebhookReceipt
	err := s.db.NewSelect().Model(&rows).Where("provider = ? AND provider_request_id = ?", provider, requestID).OrderExpr("id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	return rows, nil
}

// SourceAssetByID returns a source asset by internal id, or ErrNotFound.
func (s *Store) SourceAssetByID(ctx context.Context, id int64) (*SourceAsset, error) {
	a := new(SourceAsset)
	err := s.db.NewSelect().Model(a).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get source asset: %w", err)
	}
	return a, nil
}

// InsertArtifact records a stored artifact.
func (s *Store) InsertArtifact(ctx context.Context, tx bun.IDB, a *Artifact) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.Now()
	}
	if _, err := tx.NewInsert().Model(a).Exec(ctx); err != nil {
		return fmt.Errorf("insert artifact: %w", err)
	}
	return nil
}

// SourceAssetByPublicID returns a source asset, deleted ones included (so
// that a client can be told its asset expired), or ErrNotFound.
func (s *Store) SourceAssetByPublicID(ctx context.Context, publicID string) (*SourceAsset, error) {
	a := new(SourceAsset)
	err := s.db.NewSelect().Model(a).Where("public_id = ?", publicID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get source asset: %w", err)
	}
	return a, nil
}

// PromptOf returns the sealed prompt of a job.
func (s *Store) PromptOf(ctx context.Context, jobID int64) (*Prompt, error) {
	p := new(Prompt)
	err := s.db.NewSelect().Model(p).Where("job_id = ?", jobID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get prompt: %w", err)
	}
	return p, nil
}

// EventsOf returns the events of each job, oldest first, keyed by job id:
// one query for any number of jobs (the dataloaders' batch).
func (s *Store) EventsOf(ctx context.Context, jobIDs []int64) (map[int64][]*Event, error) {
	var rows []*Event
	err := s.db.NewSelect().Model(&rows).Where("job_id IN (?)", bun.In(jobIDs)).OrderExpr("job_id, id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return groupBy(rows, func(e *Event) int64 { return e.JobID }), nil
}

// ArtifactsOf returns the artifacts of each job that are not deleted, keyed by job id.
func (s *Store) ArtifactsOf(ctx context.Context, jobIDs []int64) (map[int64][]*Artifact, error) {
	var rows []*Artifact
	err := s.db.NewSelect().Model(&rows).Where("job_id IN (?)", bun.In(jobIDs)).
		Where("deleted_at IS NULL").OrderExpr("job_id, id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	return groupBy(rows, func(a *Artifact) int64 { return a.JobID }), nil
}

// ReviewsOf returns the reviews of each job, oldest first, keyed by job id.
func (s *Store) ReviewsOf(ctx context.Context, jobIDs []int64) (map[int64][]*Review, error) {
	var rows []*Review
	err := s.db.NewSelect().Model(&rows).Where("job_id IN (?)", bun.In(jobIDs)).OrderExpr("job_id, id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	return groupBy(rows, func(r *Review) int64 { return r.JobID }), nil
}

func groupBy[T any](rows []T, key func(T) int64) map[int64][]T {
	m := make(map[int64][]T)
	for _, r := range rows {
		m[key(r)] = append(m[key(r)], r)
	}
	return m
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
