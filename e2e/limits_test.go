package e2e

import (
	"testing"

	"github.com/vidgate/vidgate/server/gqltest"
)

// An owner over the create rate, or with too many jobs still generating, is
// refused with RATE_LIMITED and a hint of when to try again; others are not.
// The create rate holds across API processes: they count in the same Redis.
func TestCreateLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{createRate: 2})
		second := gqltest.Client{URL: d.addAPI(t) + "/graphql", Token: d.tokens["alice"]}
		const create = `mutation($p: String!) { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: $p}) { job { id } } }`
		// One job through each API process: alice's two for the minute.
		d.create(t, "one [sim hold]")
		second.Do(t, create, map[string]any{"p": "two [sim hold]"}).OK(t)
		for name, c := range map[string]gqltest.Client{"the first API process": d.as("alice"), "the second API process": second} {
			r := c.Do(t, create, map[string]any{"p": "three"})
			e := r.WantError(t, "RATE_LIMITED", "")
			if s, _ := e.Extensions["retryAfterSeconds"].(float64); s < 1 || s > 60 {
				t.Errorf("%s: retryAfterSeconds = %v, want 1 to 60", name, e.Extensions["retryAfterSeconds"])
			}
		}
		d.as("bob").Do(t, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "bob's"}) { job { id } } }`, nil).OK(t)

		active := deploy(t, b, options{maxActive: 1})
		active.create(t, "generating [sim hold]")
		e := active.as("alice").Do(t, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "next", idempotencyKey: "k"}) { job { id } } }`, nil).WantError(t, "RATE_LIMITED", "")
		if s, _ := e.Extensions["retryAfterSeconds"].(float64); s < 1 {
			t.Errorf("over the active-jobs cap: retryAfterSeconds = %v, want a hint", e.Extensions["retryAfterSeconds"])
		}
	})
}
