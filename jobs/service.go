package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/imgcheck"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Providers are the provider names jobs may name; DefaultProvider is used
	// when a job names none, and must be one of them.
	Providers       []string
	DefaultProvider string
	// MaxJobAge is how long a job may stay unfinished before it expires.
	MaxJobAge time.Duration
	// Choose, when set, picks the provider of a new job (a router with
	// defaults per workflow, fallbacks and circuit breakers) and says why;
	// its error is the client's (an unknown provider). Nil means: the named
	// provider if it is one of Providers, else DefaultProvider.
	Choose func(workflow, requested string) (provider, reason string, err error)
	// Drivers, when set, holds the drivers of Providers: their catalogs
	// (providers.Cataloger) say what a job may ask each model for. Without
	// it, or for a driver without a catalog, a job may name no model and
	// ask for no option (seed, negative prompt, end frame, audio).
	Drivers *providers.Registry
	// AllowUnlistedModels, when set, reports whether jobs for a provider
	// may name a model its catalog does not list (providers/setup:
	// VIDGATE_<P>_ALLOW_UNLISTED_MODELS).
	AllowUnlistedModels func(provider string) bool
	// CreateLimit, when set, limits how often an owner creates jobs (a
	// Redis-backed sliding window, shared by every API process).
	CreateLimit Limiter
	// MaxActiveJobs caps an owner's jobs still generating (0: no cap).
	MaxActiveJobs int
	// Files stores uploaded source images; nil refuses uploads as
	// UNAVAILABLE.
	Files *blob.Bucket
	// Uploads bounds an uploaded source image (imgcheck's defaults: 20 MiB,
	// 64 to 4096 pixels a side).
	Uploads imgcheck.Limits
	// SourceAssetTTL is how long an upload no job has used is kept
	// (default DefaultSourceAssetTTL).
	SourceAssetTTL time.Duration
	// Decodes caps the uploads decoded at once in this process (their
	// memory is at most its slots times Uploads.MaxDecodedBytes); an
	// upload that gets no slot within its wait is RATE_LIMITED. Nil: no
	// cap.
	Decodes *imgcheck.Gate
	// DailyUploads and DailyUploadBytes cap what one identity uploads in
	// any 24 hours, counted from the source_assets rows, so every API
	// process sees the same count (0: no cap).
	DailyUploads     int
	DailyUploadBytes int64
	// ReviewClaimTTL is how long a reviewer's claim on a job lasts unless
	// renewed (default DefaultReviewClaimTTL).
	ReviewClaimTTL time.Duration
	Logger         *slog.Logger
}

// Limiter allows or refuses an owner's next event (*ratelimit.Limiter).
type Limiter interface {
	Allow(ctx context.Context, owner string) (ok bool, retryAfter time.Duration, err error)
}

// Service is what the API calls: every use case, with validation and the
// authorization policy of authz.go applied before anything is read or
// written.
type Service struct {
	store *Store
	vault *Vault
	cfg   ServiceConfig
	log   *slog.Logger
}

// NewService returns a Service over store and vault.
func NewService(store *Store, vault *Vault, cfg ServiceConfig) (*Service, error) {
	if len(cfg.Providers) == 0 {
		return nil, errors.New("service: no providers configured")
	}
	if cfg.DefaultProvider == "" {
		cfg.DefaultProvider = cfg.Providers[0]
	}
	if !slices.Contains(cfg.Providers, cfg.DefaultProvider) {
		return nil, fmt.Errorf("service: default provider %q is not one of %v", cfg.DefaultProvider, cfg.Providers)
	}
	if cfg.MaxJobAge <= 0 {
		cfg.MaxJobAge = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Uploads = cfg.Uploads.WithDefaults()
	if cfg.ReviewClaimTTL <= 0 {
		cfg.ReviewClaimTTL = DefaultReviewClaimTTL
	}
	if cfg.SourceAssetTTL <= 0 {
		cfg.SourceAssetTTL = DefaultSourceAssetTTL
	}
	return &Service{store: store, vault: vault, cfg: cfg, log: cfg.Logger}, nil
}

// Store returns the service's store.
func (s *Service) Store() *Store { return s.store }

// CreateInput is what a caller asks for in createVideoJob.
type CreateInput struct {
	WorkflowType    WorkflowType
	Prompt          string
	SourceAssetID   string // public id
	Provider        string
	DurationSeconds *int
	AspectRatio     string
	Resolution      string
	IdempotencyKey  string
	// Model is the provider's model id; "" is its default.
	Model string
	// The options, each checked against the model's catalog entry.
	Seed            *int64
	NegativePrompt  string
	EndFrameAssetID string // public id of a source asset
	Audio           *bool
}

// CreateJob validates in, then stores a new job in QUEUED with its first
// event and its sealed prompt. With an idempotency key the owner already
// used, it returns the earlier job and created=false, or a CONFLICT if the
// earlier request asked for something else.
func (s *Service) CreateJob(ctx context.Context, a Actor, in CreateInput) (job *Job, created bool, err error) {
	if err := requireActor(a); err != nil {
		return nil, false, err
	}
	if !a.CanCreateJobs() {
		return nil, false, Errorf(CodeForbidden, "role %s cannot create jobs", a.Role)
	}
	p, err := s.validateCreate(in)
	if err != nil {
		return nil, false, err
	}
	if err := s.checkLimits(ctx, a, in.IdempotencyKey); err != nil {
		return nil, false, err
	}
	job = &Job{
		PublicID:     uuid.NewString(),
		OwnerID:      a.Subject,
		WorkflowType: in.WorkflowType,
		Provider:     p.provider,
		Params:       p.params,
		PromptHash:   s.vault.Hash(in.Prompt),
	}
	if in.IdempotencyKey != "" {
		job.IdempotencyKey = &in.IdempotencyKey
	}
	if in.NegativePrompt != "" {
		h := s.vault.Hash(in.NegativePrompt)
		job.NegativePromptHash = &h
	}
	if in.SourceAssetID != "" {
		asset, err := s.sourceAssetFor(ctx, a, "input.sourceAssetId", in.SourceAssetID)
		if err != nil {
			return nil, false, err
		}
		job.SourceAssetID = &asset.ID
	}
	if in.EndFrameAssetID != "" {
		asset, err := s.sourceAssetFor(ctx, a, "input.endFrameAssetId", in.EndFrameAssetID)
		if err != nil {
			return nil, false, err
		}
		job.EndFrameAssetID = &asset.ID
	}
	expires := s.store.Now().Add(s.cfg.MaxJobAge)
	job.ExpiresAt = &expires
	// The negative prompt is sealed with the prompt: user text, never in
	// video_jobs (only its keyed hash), an event or a log.
	keyID, sealed, err := s.vault.SealPrompts(job.PublicID, Prompts{Prompt: in.Prompt, Negative: in.NegativePrompt})
	if err != nil {
		return nil, false, err
	}
	saved, existing, err := s.store.InsertJob(ctx, job, &Prompt{KeyID: keyID, Ciphertext: sealed}, p.reason)
	if errors.Is(err, ErrSourceAssetGone) {
		// Expired between the check and the insert.
		if in.SourceAssetID != "" {
			return nil, false, assetGone("input.sourceAssetId", in.SourceAssetID)
		}
		return nil, false, assetGone("input.endFrameAssetId", in.EndFrameAssetID)
	}
	if err != nil {
		return nil, false, err
	}
	if existing {
		if !sameRequest(saved, job) {
			return nil, false, &Error{Code: CodeConflict, Field: "input.idempotencyKey",
				Message: "input.idempotencyKey: this key was already used for a different request; use a new key for a new job"}
		}
		return saved, false, nil
	}
	// Its submit task committed with it (the outbox) and is on the queue
	// already, or will be once Redis answers (the store's Relay).
	s.log.InfoContext(ctx, "job created", "job_id", saved.PublicID, "owner_id", a.Subject,
		"workflow", saved.WorkflowType, "provider", saved.Provider)
	return saved, true, nil
}

// checkLimits refuses a create over the owner's rate or active-jobs cap. A
// replay of an idempotent request is never refused: it creates nothing.
func (s *Service) checkLimits(ctx context.Context, a Actor, key string) error {
	if s.cfg.CreateLimit == nil && s.cfg.MaxActiveJobs <= 0 {
		return nil
	}
	if key != "" {
		if _, err := s.store.JobByIdempotencyKey(ctx, a.Subject, key); err == nil {
			return nil
		}
	}
	if s.cfg.MaxActiveJobs > 0 {
		n, err := s.store.CountActive(ctx, a.Subject)
		if err != nil {
			return err
		}
		if n >= s.cfg.MaxActiveJobs {
			return &Error{Code: CodeRateLimited, RetryAfter: 30 * time.Second,
				Message: fmt.Sprintf("%d of your jobs are still generating, the most at once; try again when one finishes", n)}
		}
	}
	if s.cfg.CreateLimit != nil {
		ok, wait, err := s.cfg.CreateLimit.Allow(ctx, a.Subject)
		if err != nil {
			// Redis unreachable: the job is still durable; let it through
			// rather than refuse every user.
			s.log.WarnContext(ctx, "rate limit unavailable; allowing", "err", err)
			return nil
		}
		if !ok {
			return &Error{Code: CodeRateLimited, RetryAfter: wait,
				Message: fmt.Sprintf("too many new jobs: try again in %s", wait.Round(time.Second))}
		}
	}
	return nil
}

// sameRequest reports whether a replayed create asked for what the stored
// job holds. The prompt is compared by its HMAC.
func sameRequest(stored, asked *Job) bool {
	return stored.PromptHash == asked.PromptHash && equalPtr(stored.NegativePromptHash, asked.NegativePromptHash) &&
		stored.WorkflowType == asked.WorkflowType && stored.Provider == asked.Provider && stored.Params.Equal(asked.Params) &&
		equalPtr(stored.SourceAssetID, asked.SourceAssetID) && equalPtr(stored.EndFrameAssetID, asked.EndFrameAssetID)
}

// Job returns the job with public id id, if a may read it; otherwise
// NOT_FOUND, the same as for a job that does not exist.
func (s *Service) Job(ctx context.Context, a Actor, id string) (*Job, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if uuid.Validate(id) != nil {
		return nil, notFoundJob(id)
	}
	job, err := s.store.JobByPublicID(ctx, strings.ToLower(id))
	if errors.Is(err, ErrNotFound) || (err == nil && !a.CanReadJob(job)) {
		return nil, notFoundJob(id)
	}
	return job, err
}

// Page is one page of a job listing.
type Page struct {
	Jobs []*Job
	// HasNext says whether more jobs follow the last one.
	HasNext bool
}

// ListInput asks for a page of jobs.
type ListInput struct {
	First    int
	After    string // a cursor from Cursor, or empty
	Statuses []Status
}

// MaxPageSize is the largest page ListJobs returns.
const MaxPageSize = 100

// ListJobs returns the jobs a may see, newest first.
func (s *Service) ListJobs(ctx context.Context, a Actor, in ListInput) (*Page, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if in.First < 1 || in.First > MaxPageSize {
		return nil, BadInput("first", "must be 1 to %d, got %d", MaxPageSize, in.First)
	}
	f := ListFilter{Statuses: in.Statuses, Limit: in.First + 1}
	if in.After != "" {
		id, err := ParseCursor(in.After)
		if err != nil {
			return nil, BadInput("after", "not a cursor from this API: pass a pageInfo.endCursor unchanged")
		}
		f.BeforeID = id
	}
	a.listScope(&f)
	jobs, err := s.store.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	page := &Page{Jobs: jobs}
	if len(jobs) > in.First {
		page.Jobs, page.HasNext = jobs[:in.First], true
	}
	return page, nil
}

// OwnJobs returns the newest n of a's own jobs (the first state of the
// myJobs subscription).
func (s *Service) OwnJobs(ctx context.Context, a Actor, n int) ([]*Job, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	return s.store.ListJobs(ctx, ListFilter{OwnerID: a.Subject, Limit: n})
}

// ReviewQueue returns up to n jobs waiting for review, oldest first, for
// reviewers and admins.
func (s *Service) ReviewQueue(ctx context.Context, a Actor, n int) ([]*Job, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !a.CanReview() {
		return nil, Errorf(CodeForbidden, "only reviewers and admins see the review queue")
	}
	js, err := s.store.ListJobs(ctx, ListFilter{Statuses: []Status{StatusCompleted}, Limit: n})
	if err != nil {
		return nil, err
	}
	slices.Reverse(js)
	return js, nil
}

// ReviewInput is a reviewer's decision.
type ReviewInput struct {
	Decision Decision
	Reasons  []Reason
	Note     string
}

// MaxNoteLength bounds review notes, in characters.
const MaxNoteLength = 2000

// Review approves or rejects the COMPLETED job with public id id. A job in
// another status the caller may read (a reviewer: APPROVED or REJECTED) is
// a CONFLICT that names its status (and for a decided job the decision and
// who made it); one the caller may not read is NOT_FOUND, word for word
// what a job that does not exist gets, so a reviewer cannot learn the
// status of jobs outside review. A job another reviewer holds a live claim
// on (see ClaimReview) is a CONFLICT naming them.
func (s *Service) Review(ctx context.Context, a Actor, id string, in ReviewInput) (*Job, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !a.CanReview() {
		return nil, Errorf(CodeForbidden, "only reviewers and admins can review jobs")
	}
	reasons, err := validateReview(in)
	if err != nil {
		return nil, err
	}
	// The outcome is decided by the guarded transition; what the caller
	// hears about a job outside review is decided by what they may read.
	job, err := s.jobForReview(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.CanReadJob(job) {
		return nil, notFoundJob(id)
	}
	r := &Review{ReviewerID: a.Subject, Decision: in.Decision, Reasons: reasons}
	if in.Note != "" {
		r.Note = &in.Note
	}
	reviewed, err := s.store.ReviewJobAudited(ctx, job.ID, r, AuditRecord{Actor: a,
		Detail: map[string]any{"reasons": reasons, "with_note": r.Note != nil}})
	var guard *GuardError
	if errors.As(err, &guard) {
		// Decided already, claimed by another reviewer, or gone from review:
		// judge the job as it is now.
		if job, err = s.store.JobByID(ctx, job.ID); err != nil {
			return nil, err
		}
		if !a.CanReadJob(job) {
			return nil, notFoundJob(id)
		}
		return nil, s.reviewConflict(ctx, a, job)
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "job reviewed", "job_id", reviewed.PublicID, "reviewer_id", a.Subject,
		"decision", in.Decision, "reasons", reasons)
	return reviewed, nil
}

func (s *Service) jobForReview(ctx context.Context, id string) (*Job, error) {
	if uuid.Validate(id) != nil {
		return nil, notFoundJob(id)
	}
	job, err := s.store.JobByPublicID(ctx, strings.ToLower(id))
	if errors.Is(err, ErrNotFound) {
		return nil, notFoundJob(id)
	}
	return job, err
}

// Cancel moves a job that is not finished to CANCELED, for its owner and
// admins, and asks the provider to stop. A finished job is a CONFLICT that
// names its status. Webhooks that arrive after are recorded as stale.
func (s *Service) Cancel(ctx context.Context, a Actor, id string) (*Job, error) {
	job, err := s.Job(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if a.Role != RoleAdmin && job.OwnerID != a.Subject {
		return nil, notFoundJob(id) // a reviewer reading a job in review may not cancel it
	}
	// The job may move while we decide (a webhook, a worker): follow it a
	// few times rather than fail the user's request.
	for try := 0; try < 5; try++ {
		if job.Status.Terminal() {
			return nil, Errorf(CodeConflict, "job %s is %s: only unfinished jobs can be canceled", job.PublicID, job.Status)
		}
		var canceled *Job
		from := job.Status
		err := s.store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			canceled, err = s.store.Transition(ctx, tx, Transition{
				JobID: job.ID, From: from, To: StatusCanceled, Source: SourceAPI, ActorID: a.Subject,
				ErrorCode: "CANCELED", ErrorMessage: "canceled by " + string(a.Role),
			})
			if err != nil {
				return err
			}
			if canceled.ProviderRequestID != nil {
				// The provider's cancel commits with the change (the outbox).
				err := s.store.AddTask(ctx, tx, queue.Task{Kind: queue.KindCancel, JobID: job.ID, Attempt: canceled.Attempt,
					Data: map[string]string{"provider": canceled.Provider, "provider_request_id": *canceled.ProviderRequestID}}, time.Time{})
				if err != nil {
					return err
				}
			}
			return s.store.AppendAudit(ctx, tx, AuditRecord{Actor: a, Action: AuditJobCancel,
				TargetKind: AuditTargetJob, TargetID: job.PublicID,
				Detail: map[string]any{"from": from, "owner": job.OwnerID}})
		})
		var guard *GuardError
		if errors.As(err, &guard) {
			if job, err = s.store.JobByID(ctx, job.ID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "job canceled", "job_id", job.PublicID, "by", a.Subject)
		return canceled, nil
	}
	return nil, Errorf(CodeConflict, "job %s keeps changing; try again", job.PublicID)
}

// Retry creates a new job with the inputs of a FAILED, REJECTED, EXPIRED or
// CANCELED one, linked to it as its parent, for its owner and admins. The
// new job belongs to the original's owner.
func (s *Service) Retry(ctx context.Context, a Actor, id string) (*Job, error) {
	orig, err := s.Job(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if a.Role != RoleAdmin && orig.OwnerID != a.Subject {
		return nil, notFoundJob(id)
	}
	switch orig.Status {
	case StatusFailed, StatusRejected, StatusExpired, StatusCanceled:
	default:
		return nil, Errorf(CodeConflict, "job %s is %s: only FAILED, REJECTED, EXPIRED or CANCELED jobs can be retried", orig.PublicID, orig.Status)
	}
	prompts, err := s.promptsOf(ctx, orig)
	if err != nil {
		return nil, err
	}
	job := &Job{
		PublicID: uuid.NewString(), OwnerID: orig.OwnerID, WorkflowType: orig.WorkflowType, Provider: orig.Provider,
		Params: orig.Params, SourceAssetID: orig.SourceAssetID, PromptHash: orig.PromptHash, ParentID: &orig.ID,
		EndFrameAssetID: orig.EndFrameAssetID, NegativePromptHash: orig.NegativePromptHash,
	}
	expires := s.store.Now().Add(s.cfg.MaxJobAge)
	job.ExpiresAt = &expires
	keyID, sealed, err := s.vault.SealPrompts(job.PublicID, prompts)
	if err != nil {
		return nil, err
	}
	saved, _, err := s.store.InsertJobAudited(ctx, job, &Prompt{KeyID: keyID, Ciphertext: sealed}, "retry of "+orig.PublicID,
		AuditRecord{Actor: a, Action: AuditJobRetry, TargetKind: AuditTargetJob, TargetID: orig.PublicID,
			Detail: map[string]any{"new_job": job.PublicID, "from": orig.Status, "owner": orig.OwnerID}})
	if errors.Is(err, ErrSourceAssetGone) {
		return nil, Errorf(CodeConflict, "the source image of job %s has been deleted: upload it again and create a new job", orig.PublicID)
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "job retried", "job_id", saved.PublicID, "parent_id", orig.PublicID, "by", a.Subject)
	return saved, nil
}

func (s *Service) promptsOf(ctx context.Context, job *Job) (Prompts, error) {
	p, err := s.store.PromptOf(ctx, job.ID)
	if err != nil {
		return Prompts{}, err
	}
	return s.vault.OpenPrompts(job.PublicID, p.KeyID, p.Ciphertext)
}

// Prompt returns the raw prompt of a job, for readers the policy allows.
// A read of another owner's prompt is audited (job.prompt_read) before the
// prompt is opened: no read goes unrecorded.
func (s *Service) Prompt(ctx context.Context, a Actor, job *Job) (string, error) {
	if !a.CanReadPrompt(job) {
		return "", Errorf(CodeForbidden, "role %s cannot read this job's prompt", a.Role)
	}
	if a.auditsReadOf(job) {
		err := s.store.AppendAudit(ctx, nil, AuditRecord{Actor: a, Action: AuditPromptRead,
			TargetKind: AuditTargetJob, TargetID: job.PublicID,
			Detail: map[string]any{"owner": job.OwnerID, "status": job.Status}})
		if err != nil {
			return "", err
		}
	}
	p, err := s.promptsOf(ctx, job)
	return p.Prompt, err
}

// SourceImage returns the source image of a job for readers the policy
// allows (nil when the job has none or its file was deleted), for the
// caller to hand out a signed URL of. Handing out one for another owner's
// image is audited (asset.read) first.
func (s *Service) SourceImage(ctx context.Context, a Actor, job *Job) (*SourceAsset, error) {
	if !a.CanReadSourceImage(job) {
		return nil, Errorf(CodeForbidden, "role %s cannot read this job's source image", a.Role)
	}
	if job.SourceAssetID == nil {
		return nil, nil
	}
	asset, err := s.store.SourceAssetByID(ctx, *job.SourceAssetID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil || asset.DeletedAt != nil {
		return nil, err
	}
	if a.auditsReadOf(job) {
		err := s.store.AppendAudit(ctx, nil, AuditRecord{Actor: a, Action: AuditAssetRead,
			TargetKind: AuditTargetSourceAsset, TargetID: asset.PublicID,
			Detail: map[string]any{"job": job.PublicID, "owner": job.OwnerID}})
		if err != nil {
			return nil, err
		}
	}
	return asset, nil
}

// EventsOf, ArtifactsOf and ReviewsOf load the children of jobs the caller
// already read through Job or ListJobs (the dataloaders' batch functions).
func (s *Service) EventsOf(ctx context.Context, ids []int64) (map[int64][]*Event, error) {
	return s.store.EventsOf(ctx, ids)
}

func (s *Service) ArtifactsOf(ctx context.Context, ids []int64) (map[int64][]*Artifact, error) {
	return s.store.ArtifactsOf(ctx, ids)
}

func (s *Service) ReviewsOf(ctx context.Context, ids []int64) (map[int64][]*Review, error) {
	return s.store.ReviewsOf(ctx, ids)
}

// Ready reports whether the service can serve: its database answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

func requireActor(a Actor) error {
	if !a.authenticated() {
		return Errorf(CodeUnauthenticated, "authentication required: send Authorization: Bearer <token>")
	}
	return nil
}
