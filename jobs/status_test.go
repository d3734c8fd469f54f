package jobs

import "testing"

// TestTransitionTable walks every pair of statuses: the allowed ones are
// exactly DESIGN.md's state machine, and nothing leaves a terminal status.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	allowed := map[[2]Status]bool{}
	allow := func(from Status, to ...Status) {
		for _, s := range to {
			allowed[[2]Status{from, s}] = true
		}
	}
	// The happy path.
	allow(StatusQueued, StatusSubmitted)
	allow(StatusSubmitted, StatusProcessing, StatusCompleted)
	allow(StatusProcessing, StatusCompleted)
	allow(StatusCompleted, StatusApproved, StatusRejected)
	// Transient failures retry; retries resubmit.
	allow(StatusQueued, StatusRetrying)
	allow(StatusSubmitted, StatusRetrying)
	allow(StatusProcessing, StatusRetrying)
	allow(StatusRetrying, StatusSubmitted)
	// Any non-terminal status may fail, be canceled or expire.
	for _, s := range Statuses {
		if !s.Terminal() {
			allow(s, StatusFailed, StatusCanceled, StatusExpired)
		}
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			want := allowed[[2]Status{from, to}]
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
			if from.Terminal() && CanTransition(from, to) {
				t.Errorf("terminal %s may move to %s", from, to)
			}
		}
	}
}

func TestStatusCopy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    Status
		want string
	}{
		{StatusQueued, "Waiting to start"},
		{StatusSubmitted, "Generating video"},
		{StatusProcessing, "Generating video"},
		{StatusRetrying, "Generating video"},
		{StatusCompleted, "Ready for review"},
		{StatusApproved, "Ready to use"},
		{StatusRejected, "Needs changes"},
		{StatusFailed, "Generation failed"},
		{StatusCanceled, "Canceled"},
		{StatusExpired, "Expired"},
	}
	if len(tests) != len(Statuses) {
		t.Fatalf("copy table covers %d statuses, want %d", len(tests), len(Statuses))
	}
	for _, tt := range tests {
		if got := tt.s.Copy(); got != tt.want {
			t.Errorf("%s.Copy() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestNextStep(t *testing.T) {
	t.Parallel()
	tests := []struct{ code, want string }{
		{FailPromptTooLong, "Try again with a shorter prompt."},
		{FailSourceUnreadable, "The source image could not be read: upload a PNG or JPEG and try again."},
		{"SOMETHING_NEW", "Something went wrong on our side: try again."},
	}
	for _, tt := range tests {
		if got := NextStep(tt.code); got != tt.want {
			t.Errorf("NextStep(%q) = %q, want %q", tt.code, got, tt.want)
		}
	}
}
