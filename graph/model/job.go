package model

import "time"

// VideoJob is the GraphQL view of a job. It is written by hand, not generated,
// so that it can carry the internal job id that the events, artifacts and
// reviews dataloaders key on; JobID is not part of the schema and never leaves
// the server. StoredClaim is the review claim as stored, expired or not:
// the reviewClaim resolver decides whether the viewer sees it.
type VideoJob struct {
	JobID       int64        `json:"-"`
	StoredClaim *ReviewClaim `json:"-"`

	ID              string       `json:"id"`
	Status          JobStatus    `json:"status"`
	StatusCopy      string       `json:"statusCopy"`
	NextStep        *string      `json:"nextStep,omitempty"`
	Version         int          `json:"version"`
	Progress        int          `json:"progress"`
	WorkflowType    WorkflowType `json:"workflowType"`
	Provider        string       `json:"provider"`
	DurationSeconds int          `json:"durationSeconds"`
	AspectRatio     string       `json:"aspectRatio"`
	Resolution      string       `json:"resolution"`
	Model           *string      `json:"model,omitempty"`
	Seed            *int64       `json:"seed,omitempty"`
	Audio           *bool        `json:"audio,omitempty"`
	EndFrameAssetID *string      `json:"endFrameAssetId,omitempty"`
	SourceAssetID   *string      `json:"sourceAssetId,omitempty"`
	ParentID        *string      `json:"parentId,omitempty"`
	Attempt         int          `json:"attempt"`
	NextAttemptAt   *time.Time   `json:"nextAttemptAt,omitempty"`
	Error           *JobError    `json:"error,omitempty"`
	CreatedAt       time.Time    `json:"createdAt"`
	UpdatedAt       time.Time    `json:"updatedAt"`
	SubmittedAt     *time.Time   `json:"submittedAt,omitempty"`
	CompletedAt     *time.Time   `json:"completedAt,omitempty"`
	ReviewedAt      *time.Time   `json:"reviewedAt,omitempty"`
	ExpiresAt       *time.Time   `json:"expiresAt,omitempty"`
}

// Artifact is the GraphQL view of a stored output. StorageKey stays on the
// server: clients get a signed downloadUrl instead.
type Artifact struct {
	StorageKey string `json:"-"`

	ID              string       `json:"id"`
	Kind            ArtifactKind `json:"kind"`
	MimeType        string       `json:"mimeType"`
	SizeBytes       int64        `json:"sizeBytes"`
	Sha256          string       `json:"sha256"`
	DurationSeconds *float64     `json:"durationSeconds,omitempty"`
	Width           *int         `json:"width,omitempty"`
	Height          *int         `json:"height,omitempty"`
	CreatedAt       time.Time    `json:"createdAt"`
	ExpiresAt       *time.Time   `json:"expiresAt,omitempty"`
}
