package jobs

import (
	"errors"
	"fmt"
	"time"
)

// Code is a portable error code that clients branch on. It is what the API
// puts in extensions.code.
type Code string

const (
	CodeBadUserInput    Code = "BAD_USER_INPUT"
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeConflict        Code = "CONFLICT"
	CodeRateLimited     Code = "RATE_LIMITED"
	CodeUnavailable     Code = "UNAVAILABLE"
	CodeInternal        Code = "INTERNAL"
)

// Error is an error a client may see: a code, a message written for the
// client, and for BAD_USER_INPUT the input field at fault. Anything that is
// not an *Error reaches a client only as INTERNAL with no detail.
type Error struct {
	Code    Code
	Message string
	// Field is the input field at fault, as the client named it
	// ("input.prompt"), for BAD_USER_INPUT.
	Field string
	// Reason refines the code for clients that branch further, such as
	// why an upload was refused (TOO_LARGE, TYPE_MISMATCH, TRAILING_DATA).
	Reason string
	// RetryAfter, for RATE_LIMITED, says when trying again can succeed.
	RetryAfter time.Duration
	// Extra holds more facts a client may branch on, put in the error's
	// extensions beside the code: who holds a review claim and until when,
	// what an earlier decision was and who made it.
	Extra map[string]any
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code c.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// BadInput returns a BAD_USER_INPUT error about field.
func BadInput(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// ErrNotFound is what the store returns for a row that does not exist. The
// Service turns it, and every authorization failure on a job, into the same
// NOT_FOUND *Error, so a client cannot tell another owner's job from none.
var ErrNotFound = errors.New("not found")

// notFoundJob is the one error for a job the caller may not see.
func notFoundJob(id string) *Error {
	return Errorf(CodeNotFound, "no job with id %q", id)
}

// CodeOf returns the client-facing code of err: its *Error's code, or
// INTERNAL.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Job failure codes: the portable codes stored in video_jobs.error_code and
// shown as VideoJob.error.code. NextStep picks the user's next step by them.
const (
	FailInvalidInput        = "INVALID_INPUT"
	FailContentPolicy       = "CONTENT_POLICY"
	FailSourceUnreadable    = "SOURCE_IMAGE_UNREADABLE"
	FailPromptTooLong       = "PROMPT_TOO_LONG"
	FailProviderUnavailable = "PROVIDER_UNAVAILABLE"
	FailArtifactUnavailable = "ARTIFACT_UNAVAILABLE"
	FailArtifactInvalid     = "ARTIFACT_INVALID"
	FailArtifactQuarantined = "ARTIFACT_QUARANTINED"
	FailTooManyAttempts     = "TOO_MANY_ATTEMPTS"
	FailSubmitUnknown       = "SUBMIT_OUTCOME_UNKNOWN"
	FailInternal            = "INTERNAL"
)

// NextStep is the user-facing next step for a failed job with the given
// error code: what a person can do about it. Unknown codes get a generic one.
func NextStep(code string) string {
	switch code {
	case FailPromptTooLong:
		return "Try again with a shorter prompt."
	case FailContentPolicy:
		return "The provider refused this prompt or image under its content policy: change it and try again."
	case FailSourceUnreadable:
		return "The source image could not be read: upload a PNG or JPEG and try again."
	case FailInvalidInput:
		return "The provider did not accept these settings: try another duration, aspect ratio or resolution."
	case FailProviderUnavailable, FailTooManyAttempts, FailSubmitUnknown:
		return "The video provider is having trouble: try again in a few minutes."
	case FailArtifactUnavailable:
		return "The finished video could not be fetched from the provider in time: try again."
	case FailArtifactInvalid:
		return "The provider returned a file that is not a usable video: try again, or try another provider."
	case FailArtifactQuarantined:
		return "The provider's file was flagged by our security scan and deleted: try again, or try another provider."
	}
	return "Something went wrong on our side: try again."
}
