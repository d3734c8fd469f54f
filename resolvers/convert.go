package resolvers

import (
	"cmp"
	"context"
	"strconv"
	"strings"

	"github.com/vidgate/vidgate/graph/model"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/server/auth"
)

// The GraphQL enums spell values in upper case; the domain keeps the
// spellings stored in the database. These functions are the only place the
// two meet.

func toVideoJob(j *jobs.Job) *model.VideoJob {
	v := &model.VideoJob{
		JobID:           j.ID,
		ID:              j.PublicID,
		Status:          model.JobStatus(j.Status),
		StatusCopy:      j.Status.Copy(),
		Version:         int(j.Version),
		Progress:        j.Progress,
		WorkflowType:    model.WorkflowType(strings.ToUpper(string(j.WorkflowType))),
		Provider:        j.Provider,
		DurationSeconds: j.DurationSeconds,
		AspectRatio:     j.AspectRatio,
		Resolution:      j.Resolution,
		Model:           nonEmpty(j.Model),
		Seed:            j.Seed,
		Audio:           j.Audio,
		EndFrameAssetID: j.EndFrameAssetPublicID,
		SourceAssetID:   j.SourceAssetPublicID,
		ParentID:        j.ParentPublicID,
		Attempt:         j.Attempt,
		NextAttemptAt:   j.NextAttemptAt,
		CreatedAt:       j.CreatedAt,
		UpdatedAt:       j.UpdatedAt,
		SubmittedAt:     j.SubmittedAt,
		CompletedAt:     j.CompletedAt,
		ReviewedAt:      j.ReviewedAt,
		ExpiresAt:       j.ExpiresAt,
	}
	if j.ClaimedBy != nil && j.ClaimExpiresAt != nil {
		v.StoredClaim = &model.ReviewClaim{JobID: j.PublicID, ReviewerID: *j.ClaimedBy, ExpiresAt: *j.ClaimExpiresAt}
	}
	if j.ErrorCode != nil {
		msg := ""
		if j.ErrorMessage != nil {
			msg = *j.ErrorMessage
		}
		v.Error = &model.JobError{Code: *j.ErrorCode, Message: msg}
	}
	if j.Status == jobs.StatusFailed {
		code := ""
		if j.ErrorCode != nil {
			code = *j.ErrorCode
		}
		step := jobs.NextStep(code)
		v.NextStep = &step
	}
	return v
}

func toEvent(e *jobs.Event) *model.JobEvent {
	ev := &model.JobEvent{
		Version:   int(e.Version),
		Type:      e.Type,
		NewStatus: model.JobStatus(e.NewStatus),
		Source:    model.EventSource(strings.ToUpper(string(e.Source))),
		Message:   e.Message,
		ErrorCode: e.ErrorCode,
		CreatedAt: e.CreatedAt,
	}
	if e.PreviousStatus != nil {
		p := model.JobStatus(*e.PreviousStatus)
		ev.PreviousStatus = &p
	}
	return ev
}

func toArtifact(a *jobs.Artifact) *model.Artifact {
	return &model.Artifact{
		StorageKey:      a.StorageKey,
		ID:              a.PublicID,
		Kind:            model.ArtifactKind(strings.ToUpper(string(a.Kind))),
		MimeType:        a.MimeType,
		SizeBytes:       a.SizeBytes,
		Sha256:          a.SHA256,
		DurationSeconds: a.DurationSeconds,
		Width:           a.Width,
		Height:          a.Height,
		CreatedAt:       a.CreatedAt,
		ExpiresAt:       a.ExpiresAt,
	}
}

func toReview(r *jobs.Review) *model.Review {
	rv := &model.Review{
		Decision:   model.ReviewDecision(strings.ToUpper(string(r.Decision))),
		Reasons:    []model.RejectionReason{},
		Note:       r.Note,
		ReviewerID: r.ReviewerID,
		CreatedAt:  r.CreatedAt,
	}
	if r.Reasons != "" {
		for _, code := range strings.Split(r.Reasons, ",") {
			rv.Reasons = append(rv.Reasons, model.RejectionReason(code))
		}
	}
	return rv
}

func toDomainStatuses(in []model.JobStatus) []jobs.Status {
	out := make([]jobs.Status, len(in))
	for i, s := range in {
		out[i] = jobs.Status(s)
	}
	return out
}

func toDomainReasons(in []model.RejectionReason) []jobs.Reason {
	out := make([]jobs.Reason, len(in))
	for i, r := range in {
		out[i] = jobs.Reason(r)
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func toStats(st *jobs.Stats) *model.Stats {
	out := &model.Stats{
		Since:       st.Since,
		JobsCreated: st.JobsCreated,
		TimeToCompleted: &model.DurationStats{
			Count: st.TimeToCompleted.Count, AverageSeconds: st.TimeToCompleted.Average,
			P50Seconds: st.TimeToCompleted.P50, P95Seconds: st.TimeToCompleted.P95,
		},
		FailureRates:      []*model.FailureRate{},
		Reviews:           st.Reviews,
		RejectionReasons:  []*model.ReasonRate{},
		DuplicateWebhooks: st.DuplicateWebhooks,
		Stuck:             []*model.StuckJob{},
		Storage:           []*model.StorageUse{},
	}
	for _, f := range st.Failures {
		rate := 0.0
		if f.Finished > 0 {
			rate = float64(f.Failed) / float64(f.Finished)
		}
		out.FailureRates = append(out.FailureRates, &model.FailureRate{Provider: f.Provider,
			WorkflowType: model.WorkflowType(strings.ToUpper(string(f.WorkflowType))), Finished: f.Finished, Failed: f.Failed, Rate: rate})
	}
	for _, r := range st.Rejections {
		out.RejectionReasons = append(out.RejectionReasons, &model.ReasonRate{Reason: model.RejectionReason(r.Reason),
			Count: r.Count, Rate: float64(r.Count) / float64(max(st.Reviews, 1))})
	}
	for _, s := range st.Stuck {
		out.Stuck = append(out.Stuck, &model.StuckJob{ID: s.Job.PublicID, Status: model.JobStatus(s.Job.Status),
			Provider: s.Job.Provider, StuckSeconds: s.Idle.Seconds()})
	}
	for _, u := range st.Storage {
		out.Storage = append(out.Storage, &model.StorageUse{Kind: model.ArtifactKind(strings.ToUpper(string(u.Kind))),
			Artifacts: u.Artifacts, Bytes: u.Bytes})
	}
	return out
}

func toAuditEntry(e *jobs.AuditEntry) *model.AuditEntry {
	return &model.AuditEntry{
		ID: strconv.FormatInt(e.ID, 10), At: e.CreatedAt, Actor: e.ActorSubject, ActorRole: e.ActorRole,
		Action: e.Action, TargetKind: e.TargetKind, TargetID: e.TargetID, Detail: e.Detail,
		ClientIP: e.ClientIP, UserAgent: e.UserAgent, RequestID: e.RequestID,
	}
}

// toSourceAsset shows an asset; its expiry only while no job has used it.
func toSourceAsset(a *jobs.SourceAsset) *model.SourceAsset {
	out := &model.SourceAsset{
		ID: a.PublicID, MimeType: a.MimeType, SizeBytes: a.SizeBytes, Width: a.Width, Height: a.Height,
		Sha256: a.SHA256, CreatedAt: a.CreatedAt,
	}
	if a.UsedAt == nil {
		out.ExpiresAt = a.ExpiresAt
	}
	return out
}

// toProvider is a provider and its catalog as the providers query shows it.
func toProvider(p jobs.ProviderModels) *model.Provider {
	out := &model.Provider{
		Name: p.Name, AllowsUnlistedModels: p.AllowsUnlistedModels, Models: make([]*model.VideoModel, len(p.Models)),
		DefaultTextToVideoModel:  nonEmpty(p.Defaults[providers.WorkflowTextToVideo]),
		DefaultImageToVideoModel: nonEmpty(p.Defaults[providers.WorkflowImageToVideo]),
	}
	for i, m := range p.Models {
		vm := &model.VideoModel{
			ID: m.ID, Name: cmp.Or(m.Name, m.ID), Durations: m.Durations,
			MinDurationSeconds: m.MinDurationSeconds, MaxDurationSeconds: m.MaxDurationSeconds,
			AspectRatios: m.AspectRatios, Resolutions: m.Resolutions,
			EndFrame: m.EndFrame, Audio: m.Audio, NegativePrompt: m.NegativePrompt, Seed: m.Seed,
		}
		if len(m.Durations) > 0 {
			vm.MinDurationSeconds, vm.MaxDurationSeconds = m.Durations[0], m.Durations[len(m.Durations)-1]
		}
		for _, wf := range m.Workflows {
			vm.Workflows = append(vm.Workflows, model.WorkflowType(strings.ToUpper(string(wf))))
		}
		out.Models[i] = vm
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// visibleClaim is a stored review claim as the viewer may see it: only
// while it is live on a COMPLETED job, and only for reviewers and admins
// (an owner has no use for who is looking at their video).
func (r *Resolver) visibleClaim(ctx context.Context, status model.JobStatus, c *model.ReviewClaim) *model.ReviewClaim {
	if c == nil || status != model.JobStatusCompleted || !auth.ActorFrom(ctx).CanReview() || !c.ExpiresAt.After(r.Service.Store().Now()) {
		return nil
	}
	return c
}
