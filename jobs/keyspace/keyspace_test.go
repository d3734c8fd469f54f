package keyspace_test

import (
	"errors"
	"testing"

	"github.com/vidgate/vidgate/jobs/keyspace"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

// The key strings are a contract with what already sits in deployed Redis
// instances and with operators' tooling: a change here is a data migration.
func TestLayout(t *testing.T) {
	t.Parallel()
	ks := keyspace.New("vg")
	tests := []struct {
		name, got, want string
	}{
		{"Stream", ks.Stream("submit"), "vg:{q}:stream:submit"},
		{"Dead", ks.Dead("poll"), "vg:{q}:dead:poll"},
		{"Retry", ks.Retry("ingest"), "vg:{q}:retry:ingest"},
		{"Lease", ks.Lease(), "vg:{q}:reconciler:lease"},
		{"Generation", ks.Generation(), "vg:{q}:reconciler:generation"},
		{"RateLimit", ks.RateLimit("create", "alice"), "vg:ratelimit:create:alice"},
		{"BreakerState", ks.BreakerState("luma"), "vg:breaker:{luma}:state"},
		{"BreakerFails", ks.BreakerFails("luma"), "vg:breaker:{luma}:fails"},
		{"Channel(JobChannel)", ks.Channel(keyspace.JobChannel("vid_1")), "vg:job:vid_1"},
		{"Channel(OwnerChannel)", ks.Channel(keyspace.OwnerChannel("alice")), "vg:owner:alice"},
		{"Channel(ReviewChannel)", ks.Channel(keyspace.ReviewChannel), "vg:review"},
		{"New(\"\").Stream", keyspace.New("").Stream("cancel"), "vg:{q}:stream:cancel"},
		{"Match", ks.Match(), "vg:*"},
		{"Match escapes globs", keyspace.New(`a*b?[c]\`).Match(), `a\*b\?\[c\]\\:*`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix string
		want   error
	}{
		{"vg", nil},
		{"app:{tenant}", nil},
		{"a{b", nil},
		{"a}b", nil},
		{"a{b}c{}", nil}, // the first tag is "b"
		{"{}", keyspace.ErrEmptyHashTag},
		{"app:{}", keyspace.ErrEmptyHashTag},
	}
	for _, tt := range tests {
		if got := keyspace.Check(tt.prefix); !errors.Is(got, tt.want) {
			t.Errorf("Check(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
}

// A queue refuses a prefix that would scatter its keys over slots.
func TestQueueRefusesEmptyHashTag(t *testing.T) {
	t.Parallel()
	r := queuetest.Miniredis(t)
	if _, err := queue.New(r.Client, queue.Config{Prefix: "app:{}"}); !errors.Is(err, keyspace.ErrEmptyHashTag) {
		t.Errorf("queue.New(Prefix %q) error = %v, want %v", "app:{}", err, keyspace.ErrEmptyHashTag)
	}
}
