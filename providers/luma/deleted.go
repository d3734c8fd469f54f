package luma

import (
	"sync"
	"time"
)

// deleted remembers the generations this driver deleted to cancel them, so
// that Status reports StateCanceled for them: Luma has no cancel and no
// canceled state, and a deleted generation answers 404. The memory is per
// process and bounded (deletedTTL, maxDeleted); another process asking
// about such a generation gets CodeNotFound, which the engine treats as the
// end of the request.
type deleted struct {
	mu sync.Mutex
	at map[string]time.Time
}

const (
	deletedTTL = 24 * time.Hour
	maxDeleted = 10000
)

func (c *deleted) add(id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = make(map[string]time.Time)
	}
	if len(c.at) >= maxDeleted {
		oldest, first := "", time.Time{}
		for k, t := range c.at {
			if now.Sub(t) > deletedTTL {
				delete(c.at, k)
			} else if oldest == "" || t.Before(first) {
				oldest, first = k, t
			}
		}
		if len(c.at) >= maxDeleted {
			delete(c.at, oldest)
		}
	}
	c.at[id] = now
}

func (c *deleted) has(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[id]
	return ok && now.Sub(t) <= deletedTTL
}
