package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// KindStats describes one kind's queue at a moment, for operators and metrics.
type KindStats struct {
	// Length is how many entries the stream holds: tasks waiting plus tasks
	// delivered and not yet acknowledged (acknowledged entries are deleted).
	Length int64
	// Pending is how many entries were delivered and not yet acknowledged.
	Pending int64
	// OldestPendingAge is how long ago the oldest pending entry was added
	// (0 when none is pending).
	OldestPendingAge time.Duration
	// OldestAge is how long ago the oldest entry still in the stream was
	// added, delivered or not (0 when the stream is empty): how far behind
	// the workers are.
	OldestAge time.Duration
	// DeadLetters is how many dead letters the kind has.
	DeadLetters int64
	// Scheduled is how many tasks wait in the kind's retry set, due or not.
	Scheduled int64
}

// Stats returns the numbers of every kind, read in one round trip. Ages are
// measured with Config.Now against the times in entry ids (Redis's clock).
func (q *Queue) Stats(ctx context.Context) (map[Kind]KindStats, error) {
	type cmds struct {
		length, dead, scheduled *redis.IntCmd
		pending                 *redis.XPendingCmd
		oldest                  *redis.XMessageSliceCmd
	}
	all := make(map[Kind]cmds, len(Kinds))
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range Kinds {
			all[k] = cmds{
				length:    p.XLen(ctx, q.keys.Stream(string(k))),
				pending:   p.XPending(ctx, q.keys.Stream(string(k)), q.cfg.Group),
				oldest:    p.XRangeN(ctx, q.keys.Stream(string(k)), "-", "+", 1),
				dead:      p.XLen(ctx, q.keys.Dead(string(k))),
				scheduled: p.ZCard(ctx, q.keys.Retry(string(k))),
			}
		}
		return nil
	})
	// A missing group (Redis lost it; Run makes it again) means nothing is
	// pending: every other error fails the whole call.
	if err != nil && !isNoGroup(err) {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	now := q.cfg.Now()
	age := func(id string) time.Duration {
		t, ok := idTime(id)
		if !ok {
			return 0
		}
		return max(now.Sub(t), 0)
	}
	out := make(map[Kind]KindStats, len(Kinds))
	for _, k := range Kinds {
		c := all[k]
		var s KindStats
		for _, cmd := range []redis.Cmder{c.length, c.oldest, c.dead, c.scheduled} {
			if err := cmd.Err(); err != nil {
				return nil, fmt.Errorf("queue stats %s: %w", k, err)
			}
		}
		s.Length, s.DeadLetters, s.Scheduled = c.length.Val(), c.dead.Val(), c.scheduled.Val()
		if oldest := c.oldest.Val(); len(oldest) > 0 {
			s.OldestAge = age(oldest[0].ID)
		}
		switch p, err := c.pending.Result(); {
		case err == nil:
			s.Pending = p.Count
			if p.Count > 0 {
				s.OldestPendingAge = age(p.Lower)
			}
		case isNoGroup(err) || errors.Is(err, redis.Nil):
		default:
			return nil, fmt.Errorf("queue stats %s: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}
