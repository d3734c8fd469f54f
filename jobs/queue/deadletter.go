package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeadLetter is a task that was delivered more than Config.MaxDeliveries
// times (or could not be read), kept in its kind's dead-letter stream until
// an operator replays it.
type DeadLetter struct {
	// ID is the dead letter's id, for Replay.
	ID string
	// Task is the task as it was last delivered: Task.ID is its id in the
	// live stream and Task.Deliveries how many times it was delivered.
	Task Task
	// Reason says why it died.
	Reason string
	// DeadAt is when it died (by Config.Now).
	DeadAt time.Time
}

// DeadLetters returns up to limit of kind's dead letters, oldest first;
// limit <= 0 means all of them.
func (q *Queue) DeadLetters(ctx context.Context, kind Kind, limit int64) ([]DeadLetter, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("dead letters %q: %w", kind, ErrUnknownKind)
	}
	var (
		msgs []redis.XMessage
		err  error
	)
	if limit > 0 {
		msgs, err = q.rdb.XRangeN(ctx, q.keys.Dead(string(kind)), "-", "+", limit).Result()
	} else {
		msgs, err = q.rdb.XRange(ctx, q.keys.Dead(string(kind)), "-", "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("dead letters %s: %w", kind, err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		str := func(name string) string { s, _ := m.Values[name].(string); return s }
		// A dead letter may be an entry that could not be read: keep what
		// can be read of it.
		t, _ := decodeTask(kind, str(fieldDeadID), m.Values)
		t.Deliveries, _ = strconv.ParseInt(str(fieldDeadCount), 10, 64)
		d := DeadLetter{ID: m.ID, Task: t, Reason: str(fieldDeadReason)}
		if ms, err := strconv.ParseInt(str(fieldDeadAt), 10, 64); err == nil {
			d.DeadAt = time.UnixMilli(ms)
		}
		out = append(out, d)
	}
	return out, nil
}

// Replay moves the dead letter id of kind back to kind's stream as a new
// entry, delivered afresh (Deliveries starts again at 1), and deletes it
// from the dead letters. It returns an error for which errors.Is(err,
// ErrNotFound) holds if there is no such dead letter.
func (q *Queue) Replay(ctx context.Context, kind Kind, id string) error {
	if !kind.Valid() {
		return fmt.Errorf("replay %q: %w", kind, ErrUnknownKind)
	}
	n, err := replayScript.Run(ctx, q.rdb, q.keys.ReplayKeys(string(kind)), id, 1, q.cfg.MaxLen).Int64()
	if err != nil {
		return fmt.Errorf("replay %s %s: %w", kind, id, err)
	}
	if n == 0 {
		return fmt.Errorf("replay %s %s: %w", kind, id, ErrNotFound)
	}
	return nil
}

// replayBatch is how many dead letters one script call of ReplayAll moves.
const replayBatch = 100

// ReplayAll replays every dead letter of kind, as Replay does, and returns
// how many it replayed.
func (q *Queue) ReplayAll(ctx context.Context, kind Kind) (int64, error) {
	if !kind.Valid() {
		return 0, fmt.Errorf("replay all %q: %w", kind, ErrUnknownKind)
	}
	var total int64
	for {
		n, err := replayScript.Run(ctx, q.rdb, q.keys.ReplayKeys(string(kind)), "", replayBatch, q.cfg.MaxLen).Int64()
		total += n
		if err != nil {
			return total, fmt.Errorf("replay all %s: %w", kind, err)
		}
		if n < replayBatch {
			return total, nil
		}
	}
}
