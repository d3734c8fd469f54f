// Package ratelimit limits how often an owner may do something, across
// every API process, with a sliding window kept in Redis.
package ratelimit

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/keyspace"
)

// slideScript counts an event in a sliding window, unless the window is
// full.
//
//	KEYS[1]  the owner's window: a sorted set of event times
//	ARGV[1]  now, in milliseconds
//	ARGV[2]  the window's length, in milliseconds
//	ARGV[3]  how many events the window allows
//	ARGV[4]  a unique member for this event
//	reply    {1, 0} if allowed; {0, ms until the oldest event leaves} if not
var slideScript = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}`)

// Limiter allows at most Limit events per owner in any Window.
type Limiter struct {
	rdb    redis.UniversalClient
	keys   keyspace.Keyspace
	name   string
	limit  int
	window time.Duration
	now    func() time.Time
}

// New returns a limiter named name (part of its Redis keys, which start
// with prefix; "" is keyspace.DefaultPrefix).
func New(rdb redis.UniversalClient, prefix, name string, limit int, window time.Duration) *Limiter {
	return &Limiter{rdb: rdb, keys: keyspace.New(prefix), name: name, limit: limit, window: window, now: time.Now}
}

// Allow records an event for owner if the window has room. When it has
// not, it returns false and how long until it has.
func (l *Limiter) Allow(ctx context.Context, owner string) (bool, time.Duration, error) {
	if l.limit <= 0 {
		return true, 0, nil
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	now := l.now().UnixMilli()
	res, err := slideScript.Run(ctx, l.rdb, []string{l.keys.RateLimit(l.name, owner)}, now, l.window.Milliseconds(), l.limit, fmt.Sprintf("%d-%x", now, nonce)).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}
