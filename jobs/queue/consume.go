package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// consumer feeds one kind's handlers: it reads new entries (XREADGROUP) and,
// every PollInterval, takes over entries idle past the visibility timeout
// (the claim script). One loop does both so that neither holds handler
// slots the other needs: it only asks Redis for as many entries as it has
// free slots, so an entry never waits, pending and unrefreshed, in this
// process while another could run it.
type consumer struct {
	r      *runner
	kind   Kind
	stream string
	// slots has one element per running handler; its capacity is the
	// kind's concurrency.
	slots     chan struct{}
	cursor    string // where the next claim resumes scanning the pending entries
	nextClaim time.Time
}

func (c *consumer) run(ctx context.Context) {
	cfg := c.r.q.cfg
	var f failures
	for {
		n, ok := c.acquire(ctx)
		if !ok {
			return
		}
		// Entries to take over have waited longest: they go first.
		if now := time.Now(); !now.Before(c.nextClaim) {
			c.nextClaim = now.Add(cfg.PollInterval)
			k, err := c.claim(ctx, n)
			n -= k
			if err != nil {
				c.release(n)
				if !c.r.backOff(ctx, &f, c.kind, "claim", err) {
					return
				}
				continue
			}
			if n == 0 {
				continue
			}
		}
		block := max(min(cfg.Block, time.Until(c.nextClaim)), time.Millisecond)
		k, err := c.read(ctx, n, block)
		c.release(n - k)
		if err != nil {
			if !c.r.backOff(ctx, &f, c.kind, "read", err) {
				return
			}
			continue
		}
		f.reset()
	}
}

// acquire waits for a free handler slot, then takes every free one; it
// returns how many it took, or false if ctx is done first.
func (c *consumer) acquire(ctx context.Context) (int, bool) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	n := 1
	for n < cap(c.slots) {
		select {
		case c.slots <- struct{}{}:
			n++
		default:
			return n, true
		}
	}
	return n, true
}

func (c *consumer) release(n int) {
	for range n {
		<-c.slots
	}
}

// read takes up to n new entries and starts their handlers; it returns how
// many it started.
func (c *consumer) read(ctx context.Context, n int, block time.Duration) (int, error) {
	q := c.r.q
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    q.cfg.Group,
		Consumer: q.cfg.Consumer,
		Streams:  []string{c.stream, ">"},
		Count:    int64(n),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil // nothing new within block
	}
	if err != nil {
		return 0, err
	}
	started := 0
	for _, s := range res {
		for _, m := range s.Messages {
			c.start(m.ID, 1, m.Values)
			started++
		}
	}
	return started, nil
}

// claim takes over up to n entries idle past the visibility timeout and
// starts their handlers; it returns how many it started.
func (c *consumer) claim(ctx context.Context, n int) (int, error) {
	q := c.r.q
	res, err := claimScript.Run(ctx, q.rdb, []string{c.stream},
		q.cfg.Group, q.cfg.Consumer, q.cfg.VisibilityTimeout.Milliseconds(), c.cursor, n).Slice()
	if err != nil {
		return 0, err
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("claim script replied %v", res)
	}
	c.cursor, _ = res[0].(string)
	if c.cursor == "" {
		c.cursor = "0-0"
	}
	entries, _ := res[1].([]any)
	started := 0
	for _, e := range entries {
		e, _ := e.([]any)
		if len(e) != 3 {
			continue
		}
		id, _ := e[0].(string)
		deliveries, _ := e[1].(int64)
		fields, _ := e[2].([]any)
		values := make(map[string]any, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			if name, ok := fields[i].(string); ok {
				values[name] = fields[i+1]
			}
		}
		c.start(id, deliveries, values)
		started++
	}
	return started, nil
}

// start runs the handler of one entry in a goroutine that holds one slot.
func (c *consumer) start(id string, deliveries int64, values map[string]any) {
	t, malformed := decodeTask(c.kind, id, values)
	t.Deliveries = deliveries
	c.r.work.Go(func() {
		defer func() { <-c.slots }()
		c.r.handle(c.kind, t, values, malformed)
	})
}
