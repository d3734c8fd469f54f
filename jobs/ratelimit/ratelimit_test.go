package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestSlidingWindow(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	now := time.Unix(1_800_000_000, 0)
	l := New(rdb, "t", "create", 3, time.Minute)
	other := New(rdb, "t", "create", 3, time.Minute) // a second API process
	l.now = func() time.Time { return now }
	other.now = l.now
	ctx := context.Background()
	for i, lim := range []*Limiter{l, other, l} {
		if ok, _, err := lim.Allow(ctx, "alice"); !ok || err != nil {
			t.Fatalf("event %d: Allow = %v, %v, want allowed", i+1, ok, err)
		}
	}
	ok, wait, err := other.Allow(ctx, "alice")
	if ok || err != nil || wait != time.Minute {
		t.Errorf("4th event in the window: Allow = %v, %v, %v; want refused, retry in 1m", ok, wait, err)
	}
	if ok, _, _ := l.Allow(ctx, "bob"); !ok {
		t.Error("another owner was limited by alice's events")
	}
	now = now.Add(61 * time.Second)
	if ok, _, _ := l.Allow(ctx, "alice"); !ok {
		t.Error("after the window passed, alice is still limited")
	}
}
