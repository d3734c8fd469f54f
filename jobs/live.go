package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/keyspace"
)

// LiveUpdate is a job's status as pushed to subscribers: the whole status,
// so that no subscriber reads the database per message. It never holds the
// prompt or the owner.
type LiveUpdate struct {
	ID             string     `json:"id"`
	Status         Status     `json:"status"`
	PreviousStatus *Status    `json:"previousStatus,omitempty"`
	Version        int64      `json:"version"`
	Progress       int        `json:"progress"`
	Attempt        int        `json:"attempt"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	ErrorCode      *string    `json:"errorCode,omitempty"`
	ErrorMessage   *string    `json:"errorMessage,omitempty"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	// ClaimedBy and ClaimExpiresAt are the review claim as stored; the
	// subscription shows it to reviewers and admins while it is live.
	ClaimedBy      *string    `json:"claimedBy,omitempty"`
	ClaimExpiresAt *time.Time `json:"claimExpiresAt,omitempty"`
}

// NewLiveUpdate is the live view of a job; from is its previous status
// (nil for a new job or a state sent on subscribe).
func NewLiveUpdate(j *Job, from *Status) LiveUpdate {
	return LiveUpdate{
		ID: j.PublicID, Status: j.Status, PreviousStatus: from, Version: j.Version, Progress: j.Progress,
		Attempt: j.Attempt, NextAttemptAt: j.NextAttemptAt, ErrorCode: j.ErrorCode, ErrorMessage: j.ErrorMessage,
		UpdatedAt: j.UpdatedAt, ClaimedBy: j.ClaimedBy, ClaimExpiresAt: j.ClaimExpiresAt,
	}
}

// Marshal encodes u for the broker.
func (u LiveUpdate) Marshal() []byte {
	b, _ := json.Marshal(u) // plain data: cannot fail
	return b
}

// Live channels, named by jobs/keyspace. The broker prefixes them
// (vg:job:…): one per job, one per owner, one for the review queue.
const ReviewChannel = keyspace.ReviewChannel

// JobChannel carries every change of one job.
func JobChannel(publicID string) string { return keyspace.JobChannel(publicID) }

// OwnerChannel carries every change of one owner's jobs.
func OwnerChannel(ownerID string) string { return keyspace.OwnerChannel(ownerID) }

// Channels lists where a change is published: its job's and its owner's
// channels, and the review queue's when the job enters review (COMPLETED)
// or leaves it.
func (c Change) Channels() []string {
	chans := []string{JobChannel(c.Job.PublicID), OwnerChannel(c.Job.OwnerID)}
	if c.Job.Status == StatusCompleted || (c.From != nil && *c.From == StatusCompleted && c.Job.Status != StatusCompleted) {
		chans = append(chans, ReviewChannel)
	}
	return chans
}

// Publisher publishes live updates (a *broker.Broker).
type Publisher interface {
	Publish(ctx context.Context, channel string, m broker.Message) error
}

// PublishChanges returns an OnCommit hook that publishes each committed
// change to its channels. A failed publish is logged, never returned: the
// change is durable, and subscribers resynchronise from the database after
// a gap.
func PublishChanges(p Publisher, log *slog.Logger) func(context.Context, []Change) {
	return func(ctx context.Context, changes []Change) {
		for _, c := range changes {
			m := broker.Message{Key: c.Job.PublicID, Version: c.Job.Version, Payload: NewLiveUpdate(c.Job, c.From).Marshal()}
			for _, ch := range c.Channels() {
				if err := p.Publish(ctx, ch, m); err != nil {
					log.WarnContext(ctx, "publish live update", "channel", ch, "job_id", c.Job.PublicID, "err", err)
				}
			}
		}
	}
}
