package server_test

import (
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/server"
)

// limited is a provider whose one model makes 1080p only as 8-second clips,
// as Veo's do on the Gemini API.
type limited struct{ *recorder }

func (l limited) Catalog() providers.Catalog {
	return providers.Catalog{
		Models: []providers.Model{{ID: "m1", Durations: []int{4, 6, 8}, AspectRatios: []string{"16:9"}, Resolutions: []string{"720p", "1080p"},
			Limits: []providers.Limit{{Resolution: "1080p", Durations: []int{8}}}}},
		Defaults: map[providers.Workflow]string{providers.WorkflowTextToVideo: "m1"},
	}
}

// TestCreateRefusesModelLimits: a request the model's narrower rules rule
// out is BAD_USER_INPUT naming the rule at create, and nothing reaches the
// provider; one within them is accepted.
func TestCreateRefusesModelLimits(t *testing.T) {
	rec := &recorder{Driver: sim.NewDriver("http://127.0.0.1:1/sim", "key", "", nil)}
	e := newEnvService(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10}, nil, func(c *jobs.ServiceConfig) {
		c.Providers = []string{"sim"}
		c.Drivers = providers.NewRegistry(limited{rec})
	})
	bad := e.create(t, "alice", map[string]any{"prompt": "a kite", "durationSeconds": 4, "resolution": "1080p"})
	g := bad.wantError(t, "BAD_USER_INPUT", "input.durationSeconds")
	if !strings.Contains(g.Message, "at 1080p") || !strings.Contains(g.Message, "8") {
		t.Errorf("refusal %q does not name the rule (8 s at 1080p)", g.Message)
	}
	if n := countJobs(t, e.store); n != 0 {
		t.Errorf("%d jobs stored for a refused request", n)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests reached the provider", n)
	}
	e.create(t, "alice", map[string]any{"prompt": "a kite", "durationSeconds": 8, "resolution": "1080p"}).ok(t)
	e.create(t, "alice", map[string]any{"prompt": "a kite", "durationSeconds": 4, "resolution": "720p"}).ok(t)
}
