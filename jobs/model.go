package jobs

import (
	"time"

	"github.com/uptrace/bun"
)

// WorkflowType is what kind of generation a job asks for.
type WorkflowType string

const (
	TextToVideo  WorkflowType = "text_to_video"
	ImageToVideo WorkflowType = "image_to_video"
)

// Source is who caused an event.
type Source string

const (
	SourceAPI        Source = "api"
	SourceWorker     Source = "worker"
	SourceWebhook    Source = "webhook"
	SourceReconciler Source = "reconciler"
	SourceReviewer   Source = "reviewer"
)

// Params are the generation settings of a job, validated at creation.
type Params struct {
	DurationSeconds int    `bun:"duration_seconds,notnull"`
	AspectRatio     string `bun:"aspect_ratio,notnull"`
	Resolution      string `bun:"resolution,notnull"`
	// Model is the provider's model id, as the job named it; empty means
	// the provider's default.
	Model string `bun:"model,notnull"`
	// Seed and Audio are options the job asked its model for; nil: not
	// asked for. They are checked against the model's catalog entry when
	// the job is created.
	Seed  *int64 `bun:"seed"`
	Audio *bool  `bun:"audio"`
}

// Equal reports whether p and o ask for the same generation.
func (p Params) Equal(o Params) bool {
	return p.DurationSeconds == o.DurationSeconds && p.AspectRatio == o.AspectRatio &&
		p.Resolution == o.Resolution && p.Model == o.Model &&
		equalPtr(p.Seed, o.Seed) && equalPtr(p.Audio, o.Audio)
}

// equalPtr reports whether a and b are both nil or point to equal values.
func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// Job is a row of video_jobs. ID is internal; PublicID is the only id the
// API shows.
type Job struct {
	bun.BaseModel `bun:"table:video_jobs"`

	ID                int64        `bun:"id,pk,autoincrement"`
	PublicID          string       `bun:"public_id,notnull"`
	OwnerID           string       `bun:"owner_id,notnull"`
	WorkflowType      WorkflowType `bun:"workflow_type,notnull"`
	Provider          string       `bun:"provider,notnull"`
	ProviderRequestID *string      `bun:"provider_request_id"`
	Status            Status       `bun:"status,notnull"`
	Version           int64        `bun:"version,notnull"`
	Progress          int          `bun:"progress,notnull"`
	Params            `bun:"extend"`
	SourceAssetID     *int64     `bun:"source_asset_id"`
	PromptHash        string     `bun:"prompt_hash,notnull"`
	Attempt           int        `bun:"attempt,notnull"`
	NextAttemptAt     *time.Time `bun:"next_attempt_at"`
	ErrorCode         *string    `bun:"error_code"`
	ErrorMessage      *string    `bun:"error_message"`
	IdempotencyKey    *string    `bun:"idempotency_key"`
	CreatedAt         time.Time  `bun:"created_at,notnull"`
	UpdatedAt         time.Time  `bun:"updated_at,notnull"`
	SubmittedAt       *time.Time `bun:"submitted_at"`
	CompletedAt       *time.Time `bun:"completed_at"`
	ReviewedAt        *time.Time `bun:"reviewed_at"`
	ExpiresAt         *time.Time `bun:"expires_at"`
	// ParentID is the job this one retries (retryVideoJob).
	ParentID *int64 `bun:"parent_id"`
	// EndFrameAssetID is the source asset the video should end on (the
	// last keyframe), nil for none.
	EndFrameAssetID *int64 `bun:"end_frame_asset_id"`
	// NegativePromptHash is the keyed hash (Vault.Hash) of the negative
	// prompt, nil for none: the text itself is sealed with the prompt.
	NegativePromptHash *string `bun:"negative_prompt_hash"`
	// SubmitKey is the idempotency key of the current attempt's vendor
	// call, stored by the transition to SUBMITTED before the call is made
	// (see Transition.SubmitKey); nil before the first submit.
	SubmitKey *string `bun:"submit_key"`
	// ClaimedBy and ClaimExpiresAt are the review lease (Service.ClaimReview):
	// the reviewer who has the job open, and until when. A lease past its
	// expiry holds nothing; both are cleared when the job leaves COMPLETED.
	ClaimedBy      *string    `bun:"claimed_by"`
	ClaimExpiresAt *time.Time `bun:"claim_expires_at"`

	// SourceAssetPublicID and ParentPublicID are filled by reads that join
	// source_assets and the parent job.
	SourceAssetPublicID *string `bun:"source_asset_public_id,scanonly"`
	ParentPublicID      *string `bun:"parent_public_id,scanonly"`
	// EndFrameAssetPublicID is filled like SourceAssetPublicID.
	EndFrameAssetPublicID *string `bun:"end_frame_asset_public_id,scanonly"`
}

// Event is a row of video_job_events: one per change, appended in the
// transaction that made the change, never updated.
type Event struct {
	bun.BaseModel `bun:"table:video_job_events"`

	ID             int64     `bun:"id,pk,autoincrement"`
	JobID          int64     `bun:"job_id,notnull"`
	Version        int64     `bun:"version,notnull"`
	Type           string    `bun:"event_type,notnull"`
	PreviousStatus *Status   `bun:"previous_status"`
	NewStatus      Status    `bun:"new_status,notnull"`
	Source         Source    `bun:"source,notnull"`
	ActorID        *string   `bun:"actor_id"`
	Message        *string   `bun:"message"`
	ErrorCode      *string   `bun:"error_code"`
	CreatedAt      time.Time `bun:"created_at,notnull"`
}

// Prompt is a row of video_job_prompts: the raw prompt, sealed by the Vault.
type Prompt struct {
	bun.BaseModel `bun:"table:video_job_prompts"`

	JobID      int64     `bun:"job_id,pk"`
	KeyID      string    `bun:"key_id,notnull"`
	Ciphertext []byte    `bun:"ciphertext,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// ArtifactKind says what an artifact is.
type ArtifactKind string

const (
	ArtifactVideo     ArtifactKind = "video"
	ArtifactThumbnail ArtifactKind = "thumbnail"
)

// Artifact is a row of video_artifacts: a provider output copied into the
// bucket, with metadata read from the stored file.
type Artifact struct {
	bun.BaseModel `bun:"table:video_artifacts"`

	ID              int64        `bun:"id,pk,autoincrement"`
	PublicID        string       `bun:"public_id,notnull"`
	JobID           int64        `bun:"job_id,notnull"`
	Kind            ArtifactKind `bun:"kind,notnull"`
	StorageKey      string       `bun:"storage_key,notnull"`
	MimeType        string       `bun:"mime_type,notnull"`
	SizeBytes       int64        `bun:"size_bytes,notnull"`
	SHA256          string       `bun:"sha256,notnull"`
	DurationSeconds *float64     `bun:"duration_seconds"`
	Width           *int         `bun:"width"`
	Height          *int         `bun:"height"`
	CreatedAt       time.Time    `bun:"created_at,notnull"`
	ExpiresAt       *time.Time   `bun:"expires_at"`
	DeletedAt       *time.Time   `bun:"deleted_at"`
}

// SourceAsset is a row of source_assets: an image a user uploaded for
// image-to-video, stored only after it passed blob/imgcheck. StorageKey is
// made from the public id and the sniffed type, never from the uploaded
// file's name.
//
// An asset no job has used expires at ExpiresAt (the upload TTL). The first
// job that uses it sets UsedAt; from then on it is kept as long as the
// videos of the jobs that use it (Store.ExpiredSourceAssets). DeletedAt is
// set when the reconciler removes its file.
type SourceAsset struct {
	bun.BaseModel `bun:"table:source_assets"`

	ID         int64      `bun:"id,pk,autoincrement"`
	PublicID   string     `bun:"public_id,notnull"`
	OwnerID    string     `bun:"owner_id,notnull"`
	StorageKey string     `bun:"storage_key,notnull"`
	MimeType   string     `bun:"mime_type,notnull"`
	SizeBytes  int64      `bun:"size_bytes,notnull"`
	Width      int        `bun:"width,notnull"`
	Height     int        `bun:"height,notnull"`
	SHA256     string     `bun:"sha256,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	ExpiresAt  *time.Time `bun:"expires_at"`
	UsedAt     *time.Time `bun:"used_at"`
	DeletedAt  *time.Time `bun:"deleted_at"`
}

// Decision is a reviewer's verdict.
type Decision string

const (
	DecisionApproved Decision = "approved"
	DecisionRejected Decision = "rejected"
)

// Reason is a rejection reason code.
type Reason string

// The rejection reasons reviewers choose from.
const (
	ReasonProductShapeChanged      Reason = "PRODUCT_SHAPE_CHANGED"
	ReasonLabelUnreadable          Reason = "LABEL_UNREADABLE"
	ReasonFaceOrHandDistorted      Reason = "FACE_OR_HAND_DISTORTED"
	ReasonSourceRightsUnclear      Reason = "SOURCE_RIGHTS_UNCLEAR"
	ReasonNeedsAIDisclosure        Reason = "NEEDS_AI_DISCLOSURE"
	ReasonImpliesUnapprovedFeature Reason = "IMPLIES_UNAPPROVED_FEATURE"
	ReasonOther                    Reason = "OTHER"
)

// Reasons lists every rejection reason.
var Reasons = []Reason{
	ReasonProductShapeChanged, ReasonLabelUnreadable, ReasonFaceOrHandDistorted,
	ReasonSourceRightsUnclear, ReasonNeedsAIDisclosure, ReasonImpliesUnapprovedFeature, ReasonOther,
}

// Review is a row of video_reviews: one reviewer decision, appended, never
// updated. Reasons are stored comma-separated (codes never contain commas),
// which both dialects index and compare the same way.
type Review struct {
	bun.BaseModel `bun:"table:video_reviews"`

	ID         int64     `bun:"id,pk,autoincrement"`
	JobID      int64     `bun:"job_id,notnull"`
	ReviewerID string    `bun:"reviewer_id,notnull"`
	Decision   Decision  `bun:"decision,notnull"`
	Reasons    string    `bun:"reasons,notnull"`
	Note       *string   `bun:"note"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// WebhookReceipt is a row of provider_webhook_receipts: one per distinct
// webhook delivery, unique by provider and the provider's event id, so a
// redelivery is recognised as a duplicate.
type WebhookReceipt struct {
	bun.BaseModel `bun:"table:provider_webhook_receipts"`

	ID                int64     `bun:"id,pk,autoincrement"`
	Provider          string    `bun:"provider,notnull"`
	ProviderEventID   string    `bun:"provider_event_id,notnull"`
	ProviderRequestID *string   `bun:"provider_request_id"`
	PayloadHash       string    `bun:"payload_hash,notnull"`
	Outcome           string    `bun:"outcome,notnull"`
	ReceivedAt        time.Time `bun:"received_at,notnull"`
	// Duplicates counts the redeliveries refused since.
	Duplicates int `bun:"duplicates,notnull"`
}
