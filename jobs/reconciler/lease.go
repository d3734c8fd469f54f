package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The lease is fenced: each time a process takes it, it writes a fresh
// random token as the lease's value, and it acts as the leader only while
// Redis still holds that token. Before every action of a pass the leader
// renews the lease with renewScript, which compares the token: a leader
// whose token is gone — the lease lapsed and another took it, or Redis lost
// its data and another took the empty key — stops at once, mid-pass, and so
// does a leader that cannot reach Redis, before its lease could have expired.
// (The database writes themselves are not fenced: one action may race a
// takeover, and every action is a guarded change, harmless when repeated.)

// errLostLease stops a pass whose leader no longer holds the lease.
var errLostLease = errors.New("reconciler lease lost")

// renewScript extends the lease if this process's token still holds it.
//
//	KEYS[1]  the lease key
//	ARGV[1]  this process's token
//	ARGV[2]  the lease's length, in milliseconds
//	reply    1 if renewed, 0 if another process holds the lease (or none)
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript gives the lease up if this process's token holds it.
//
//	KEYS[1]  the lease key
//	ARGV[1]  this process's token
//	reply    1 if released, 0 otherwise
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// lead takes or keeps the lease, and reports whether this process leads.
func (r *Reconciler) lead(ctx context.Context) bool {
	defer func() { r.onLease(r.token) }()
	if r.token != "" {
		if r.renew(ctx) == nil {
			return true
		}
		// Lost (or Redis is unreachable): no longer leading; try to take the
		// lease afresh, with a new token.
	}
	b := make([]byte, 8)
	rand.Read(b)
	token := r.id + "/" + hex.EncodeToString(b)
	ok, err := r.rdb.SetNX(ctx, r.keys.Lease(), token, r.cfg.Lease).Result()
	if err != nil || !ok {
		return false
	}
	r.token = token
	return true
}

// renew extends the lease while this process's token holds it; otherwise,
// or when Redis does not answer, this process stops leading and it returns
// errLostLease. (A renewal that succeeds found the token before the lease
// expired, however long its answer took: an expired lease has no value.)
func (r *Reconciler) renew(ctx context.Context) error {
	if r.token == "" {
		return errLostLease
	}
	n, err := renewScript.Run(ctx, r.rdb, []string{r.keys.Lease()}, r.token, r.cfg.Lease.Milliseconds()).Int()
	if err != nil || n != 1 {
		r.token = ""
		if err != nil {
			return fmt.Errorf("%w: %w", errLostLease, err)
		}
		return errLostLease
	}
	return nil
}

// fence is checked before every leader action (see renew).
func (r *Reconciler) fence(ctx context.Context) error { return r.renew(ctx) }

// Run makes passes every Interval while this process holds the lease,
// until ctx ends; then it releases the lease.
func (r *Reconciler) Run(ctx context.Context) error {
	defer func() {
		if r.token != "" {
			releaseScript.Run(context.WithoutCancel(ctx), r.rdb, []string{r.keys.Lease()}, r.token)
		}
	}()
	tick := min(r.cfg.Interval, r.cfg.Lease/3)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastPass := time.Time{}
	for {
		was := r.token != ""
		leading := r.lead(ctx)
		if leading != was {
			r.log.InfoContext(ctx, "reconciler lease", "leading", leading, "id", r.id)
		}
		if leading && time.Since(lastPass) >= r.cfg.Interval {
			if _, err := r.pass(ctx, r.fence); err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "reconciler pass failed", "err", err)
				if errors.Is(err, errLostLease) {
					r.log.InfoContext(ctx, "reconciler lease", "leading", false, "id", r.id)
				}
			}
			lastPass = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
