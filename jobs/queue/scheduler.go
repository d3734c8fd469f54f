package queue

import (
	"context"
	"fmt"
	"time"
)

// schedule moves due retries to their streams every PollInterval until ctx
// is done. Every Run does this for every kind, consumed or not: the script
// is atomic, so several processes doing it at once move each task once.
func (r *runner) schedule(ctx context.Context) {
	t := time.NewTicker(r.q.cfg.PollInterval)
	defer t.Stop()
	var f failures
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.q.moveDue(ctx); err != nil {
			if !r.backOff(ctx, &f, "", "move due retries", err) {
				return
			}
			continue
		}
		f.reset()
	}
}

// moveDue moves the tasks due by Config.Now from the retry sets to their
// streams, a batch per kind per script call, until none is left or it has
// made a bounded number of calls (the next tick goes on).
func (q *Queue) moveDue(ctx context.Context) error {
	kinds := make([]string, len(Kinds))
	for i, k := range Kinds {
		kinds[i] = string(k)
	}
	keys := q.keys.MoveDueKeys(kinds...)
	for range 10 {
		res, err := moveDueScript.Run(ctx, q.rdb, keys, q.cfg.Now().UnixMilli(), moveBatch, q.cfg.MaxLen).Int64Slice()
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("move due script replied %v", res)
		}
		moved, dropped := res[0], res[1]
		if dropped > 0 {
			q.log.Error("dropped scheduled tasks that could not be decoded; the reconciler rebuilds them", "dropped", dropped)
		}
		if moved+dropped < moveBatch {
			return nil
		}
	}
	return nil
}
