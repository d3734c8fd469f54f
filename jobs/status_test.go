package jobs

import "testing"

// TestTransitionTable walks every pair of statuses: the allowed ones are
// exactly the documented state machine (docs/architecture.md), and nothing leaves a terminal status.
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
	// Any non-terminal status may fail, be canceled or expire. The terminal
	// ones are listed here, not read from Terminal, which the table derives.
	terminal := map[Status]bool{StatusApproved: true, StatusRejected: true, StatusFailed: true, StatusCanceled: true, StatusExpired: true}
	for _, s := range Statuses {
		if !terminal[s] {
			allow(s, StatusFailed, StatusCanceled, StatusExpired)
		}
		if got := s.Terminal(); got != terminal[s] {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, terminal[s])
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

// TestGenerating: the statuses still on their way to a video, derived
// from the table, are exactly the four the queries and metrics filter on.
func TestGenerating(t *testing.T) {
	t.Parallel()
	want := []Status{StatusQueued, StatusSubmitted, StatusProcessing, StatusRetrying}
	if len(GeneratingStatuses) != len(want) {
		t.Fatalf("GeneratingStatuses = %v, want %v", GeneratingStatuses, want)
	}
	for i, s := range want {
		if GeneratingStatuses[i] != s {
			t.Fatalf("GeneratingStatuses = %v, want %v", GeneratingStatuses, want)
		}
	}
	for _, s := range []Status{StatusCompleted, StatusApproved, StatusRejected, StatusFailed, StatusCanceled, StatusExpired, "BOGUS"} {
		if s.Generating() {
			t.Errorf("%s.Generating() = true, want false", s)
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
