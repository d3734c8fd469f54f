package jobs

import "fmt"

// Status is where a job is in its lifecycle. The values are stored in the
// database and shown in the API, so they never change.
type Status string

const (
	// StatusQueued: created by the API, waiting for a worker. A worker moves
	// it to SUBMITTED; the reconciler re-enqueues it if its queue entry was lost.
	StatusQueued Status = "QUEUED"
	// StatusSubmitted: a worker is sending, or has sent, the job to its
	// provider. The provider's first status report moves it to PROCESSING.
	StatusSubmitted Status = "SUBMITTED"
	// StatusProcessing: the provider is generating. A webhook or a poll moves
	// it on to COMPLETED (after the output is stored), FAILED or RETRYING.
	StatusProcessing Status = "PROCESSING"
	// StatusRetrying: a transient failure; next_attempt_at says when the
	// worker submits it again.
	StatusRetrying Status = "RETRYING"
	// StatusCompleted: the provider's output is stored and waits for a
	// reviewer. Not safe to publish until APPROVED.
	StatusCompleted Status = "COMPLETED"
	// StatusApproved (terminal): a reviewer approved it. Its artifacts are
	// kept beyond the retention period.
	StatusApproved Status = "APPROVED"
	// StatusRejected (terminal): a reviewer rejected it with reason codes.
	StatusRejected Status = "REJECTED"
	// StatusFailed (terminal): generation failed permanently; error_code
	// says why and chooses the user's next step.
	StatusFailed Status = "FAILED"
	// StatusCanceled (terminal): canceled by its owner, an admin, or the provider.
	StatusCanceled Status = "CANCELED"
	// StatusExpired (terminal): still unfinished at the maximum job age.
	StatusExpired Status = "EXPIRED"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{
	StatusQueued, StatusSubmitted, StatusProcessing, StatusRetrying, StatusCompleted,
	StatusApproved, StatusRejected, StatusFailed, StatusCanceled, StatusExpired,
}

// transitions is the state machine: transitions[from] holds every status a
// job may move to from `from`. It is the only place the rules live;
// TestTransitionTable walks every pair of it.
var transitions = map[Status][]Status{
	StatusQueued:     {StatusSubmitted, StatusRetrying, StatusFailed, StatusCanceled, StatusExpired},
	StatusSubmitted:  {StatusProcessing, StatusCompleted, StatusRetrying, StatusFailed, StatusCanceled, StatusExpired},
	StatusProcessing: {StatusCompleted, StatusRetrying, StatusFailed, StatusCanceled, StatusExpired},
	StatusRetrying:   {StatusSubmitted, StatusFailed, StatusCanceled, StatusExpired},
	// COMPLETED is not terminal, so the rule "any non-terminal → FAILED |
	// CANCELED | EXPIRED" holds for it too (an owner may cancel a video nobody
	// reviewed); it is never retried, since there is nothing left to generate.
	StatusCompleted: {StatusApproved, StatusRejected, StatusFailed, StatusCanceled, StatusExpired},
}

// CanTransition reports whether a job may move from `from` to `to`.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether nothing moves a job out of s: it has no
// transitions out. Derived from the table, never listed separately.
func (s Status) Terminal() bool {
	return s.Valid() && len(transitions[s]) == 0
}

// Generating reports whether a job in s is still on its way to a video:
// COMPLETED can still be reached from s (QUEUED, SUBMITTED, PROCESSING,
// RETRYING). These are the jobs the reconciler watches, the active-jobs cap
// counts and the metrics call running. Derived from the table.
func (s Status) Generating() bool {
	return s != StatusCompleted && reaches(s, StatusCompleted)
}

// reaches reports whether some path of transitions leads from `from` to `to`.
func reaches(from, to Status) bool {
	seen := map[Status]bool{from: true}
	next := []Status{from}
	for len(next) > 0 {
		s := next[len(next)-1]
		next = next[:len(next)-1]
		for _, t := range transitions[s] {
			if t == to {
				return true
			}
			if !seen[t] {
				seen[t] = true
				next = append(next, t)
			}
		}
	}
	return false
}

// GeneratingStatuses lists, in lifecycle order, every status for which
// Generating is true: the set SQL queries filter on.
var GeneratingStatuses = func() []Status {
	var out []Status
	for _, s := range Statuses {
		if s.Generating() {
			out = append(out, s)
		}
	}
	return out
}()

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// Copy is the user-facing text for the status, the one place it is
// written: the schema's enum descriptions quote it (TestSchemaStatusCopy). For
// FAILED, NextStep adds what to do about it.
func (s Status) Copy() string {
	switch s {
	case StatusQueued:
		return "Waiting to start"
	case StatusSubmitted, StatusProcessing, StatusRetrying:
		return "Generating video"
	case StatusCompleted:
		return "Ready for review"
	case StatusApproved:
		return "Ready to use"
	case StatusRejected:
		return "Needs changes"
	case StatusFailed:
		return "Generation failed"
	case StatusCanceled:
		return "Canceled"
	case StatusExpired:
		return "Expired"
	}
	return string(s)
}

// InReview reports whether reviewers may see a job in status s: it reached
// review (COMPLETED) or was decided.
func (s Status) InReview() bool {
	return s == StatusCompleted || s == StatusApproved || s == StatusRejected
}

// GuardError reports a transition whose guard failed: the job was not in the
// expected status (a duplicate or out-of-order delivery, or a race with
// another writer). The job is left as it is.
type GuardError struct {
	JobID    int64
	Expected Status
	Actual   Status
	To       Status
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("job %d is %s, not %s: not moved to %s", e.JobID, e.Actual, e.Expected, e.To)
}
