package e2e

import (
	"testing"
)

// An owner over the create rate, or with too many jobs still generating, is
// refused with RATE_LIMITED and a hint of when to try again; others are not.
func TestCreateLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{createRate: 2})
		d.create(t, "one [sim hold]")
		d.create(t, "two [sim hold]")
		r := d.as("alice").Do(t, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "three"}) { job { id } } }`, nil)
		e := r.WantError(t, "RATE_LIMITED", "")
		if s, _ := e.Extensions["retryAfterSeconds"].(float64); s < 1 || s > 60 {
			t.Errorf("retryAfterSeconds = %v, want 1 to 60", e.Extensions["retryAfterSeconds"])
		}
		d.as("bob").Do(t, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "bob's"}) { job { id } } }`, nil).OK(t)

		active := deploy(t, b, options{maxActive: 1})
		active.create(t, "generating [sim hold]")
		active.as("alice").Do(t, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "next", idempotencyKey: "k"}) { job { id } } }`, nil).WantError(t, "RATE_LIMITED", "")
	})
}
