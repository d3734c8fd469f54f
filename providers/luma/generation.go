package luma

import (
	"regexp"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// generation is a generation as GET /generations/{id} returns it (and as a
// callback posts it). Of its request, which holds the prompt and the
// callback URL with its token, only the prompt is read: to keep it out of
// failure messages.
type generation struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	FailureReason string `json:"failure_reason"`
	Assets        *struct {
		Video string `json:"video"`
		Image string `json:"image"`
	} `json:"assets"`
	Request struct {
		Prompt string `json:"prompt"`
	} `json:"request"`
}

// AsStatus converts a generation to a providers.Status:
//
//	queued     StateQueued
//	dreaming   StateProcessing (Luma reports no progress)
//	completed  StateSucceeded: assets.video an OutputVideo, assets.image an
//	           OutputThumbnail, ExpiresAt unknown (Luma documents none)
//	failed     StateFailed, code from failure_reason (failureClass)
//
// Failure text passes through r, and the generation's prompt with it. It
// returns an error for which ErrorCode is CodeUnknown for a state it
// does not know.
func (g *generation) AsStatus(id string, r providers.Redactor) (providers.Status, error) {
	st := providers.Status{RequestID: id}
	switch g.State {
	case "queued":
		st.State = providers.StateQueued
	case "dreaming":
		st.State = providers.StateProcessing
	case "completed":
		st.State = providers.StateSucceeded
		if g.Assets != nil && g.Assets.Video != "" {
			st.Outputs = append(st.Outputs, providers.Output{URL: g.Assets.Video, Kind: providers.OutputVideo, ContentType: "video/mp4"})
			if g.Assets.Image != "" {
				st.Outputs = append(st.Outputs, providers.Output{URL: g.Assets.Image, Kind: providers.OutputThumbnail, ContentType: "image/jpeg"})
			}
		} else {
			// Luma's failure, not the request's: a new attempt may work.
			st.State = providers.StateFailed
			st.Error = providers.Errorf(providers.CodeUnavailable, "luma reported completion without a video")
		}
	case "failed":
		st.State = providers.StateFailed
		msg := "luma generation failed"
		if g.FailureReason != "" {
			msg += ": " + r.With(g.Request.Prompt).Redact(g.FailureReason)
		}
		st.Error = &providers.Error{Code: failureClass(g.FailureReason), Message: msg}
	default:
		return providers.Status{}, providers.Errorf(providers.CodeUnknown, "luma status: unknown generation state %q", providers.Clip(g.State, providers.QuoteLen))
	}
	return st, nil
}

// failureClass classifies a failure_reason (or an error's detail). Luma
// gives free text, not codes, so this is a heuristic on the lowercased
// text, first match wins:
//
//	"failed to moderate"                          CodeInvalidInput: Luma could not fetch or
//	                                              read the input to moderate it (a bad image URL)
//	"moderat", "safety", "policy", "nsfw",
//	"not allowed", "inappropriate"                CodeContentPolicy
//	starts "400", "invalid", "unsupported",
//	"could not fetch", "failed to fetch",
//	"failed to download"                          CodeInvalidInput
//	starts "5xx", "internal", "timed out",
//	"timeout"                                     CodeUnavailable
//	anything else                                 CodeUnknown (permanent: no paid retry on a guess)
//
// Real reasons seen: "Advanced moderation failed" and "400: failed to
// moderate image" (the latter for image URLs Luma could not fetch).
func failureClass(reason string) providers.Code {
	r := strings.ToLower(strings.TrimSpace(reason))
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(r, s) {
				return true
			}
		}
		return false
	}
	switch {
	case r == "":
		return providers.CodeUnknown
	case has("failed to moderate"):
		return providers.CodeInvalidInput
	case has("moderat", "safety", "policy", "nsfw", "not allowed", "inappropriate"):
		return providers.CodeContentPolicy
	case strings.HasPrefix(r, "400") || has("invalid", "unsupported", "could not fetch", "failed to fetch", "failed to download"):
		return providers.CodeInvalidInput
	case serverError.MatchString(r) || has("internal", "timed out", "timeout"):
		return providers.CodeUnavailable
	default:
		return providers.CodeUnknown
	}
}

// serverError matches a reason that starts with an HTTP 5xx status, as in
// "500: internal server error".
var serverError = regexp.MustCompile(`^5\d\d\b`)
