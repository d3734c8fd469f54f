package runway

import (
	"sync"
	"time"
)

// canceled remembers the tasks this driver canceled, so that Status can
// report StateCanceled for them: Runway's DELETE /v1/tasks/{id} aborts a
// task and documents that "aborted and deleted tasks will not be able to be
// fetched again", so the GET that follows may answer 404 rather than
// CANCELLED. The memory is per process and bounded (canceledTTL,
// maxCanceled); another process asking about such a task gets
// CodeNotFound, which the engine treats as the end of the request.
type canceled struct {
	mu sync.Mutex
	at map[string]time.Time
}

const (
	canceledTTL = 24 * time.Hour
	maxCanceled = 10000
)

func (c *canceled) add(id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = make(map[string]time.Time)
	}
	if len(c.at) >= maxCanceled {
		oldest, first := "", time.Time{}
		for k, t := range c.at {
			if now.Sub(t) > canceledTTL {
				delete(c.at, k)
			} else if oldest == "" || t.Before(first) {
				oldest, first = k, t
			}
		}
		if len(c.at) >= maxCanceled {
			delete(c.at, oldest)
		}
	}
	c.at[id] = now
}

func (c *canceled) has(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[id]
	return ok && now.Sub(t) <= canceledTTL
}
