package providers_test

import (
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

func TestRecentSet(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := providers.NewRecentSet[string](time.Hour, 2)
	s.Add("a", t0)
	s.Add("b", t0.Add(time.Minute))
	tests := []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"a", t0, true},
		{"a", t0.Add(time.Hour), true},
		{"a", t0.Add(time.Hour + time.Second), false},
		{"c", t0, false},
	}
	for _, tt := range tests {
		if got := s.Has(tt.key, tt.at); got != tt.want {
			t.Errorf("Has(%q, t0+%s) = %t, want %t", tt.key, tt.at.Sub(t0), got, tt.want)
		}
	}
	// Full: the oldest goes.
	s.Add("c", t0.Add(2*time.Minute))
	if s.Has("a", t0.Add(3*time.Minute)) || !s.Has("b", t0.Add(3*time.Minute)) || !s.Has("c", t0.Add(3*time.Minute)) {
		t.Errorf("after a third Add to a set of 2: a %t, b %t, c %t; want false, true, true",
			s.Has("a", t0.Add(3*time.Minute)), s.Has("b", t0.Add(3*time.Minute)), s.Has("c", t0.Add(3*time.Minute)))
	}
	// Full again, but "b" and "c" expired: both go, and "d" is kept.
	later := t0.Add(3 * time.Hour)
	s.Add("d", later)
	s.Add("e", later)
	if !s.Has("d", later) || !s.Has("e", later) {
		t.Errorf("after expiry: d %t, e %t; want both kept", s.Has("d", later), s.Has("e", later))
	}
}
