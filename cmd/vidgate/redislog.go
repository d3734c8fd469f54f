package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// redisLogger sends go-redis's own messages (failed dials while Redis is
// down, pool trouble) to the process's JSON log as warnings, at most one
// line every interval, with a count of the lines it held back, so an outage
// is visible without flooding the log.
type redisLogger struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	held := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.WarnContext(ctx, "redis client", "component", "redis", "detail", fmt.Sprintf(format, v...), "similar_lines_held_back", held)
}
