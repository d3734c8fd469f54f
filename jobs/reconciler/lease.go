package reconciler

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// renewScript extends the lease if this process still holds it.
//
//	KEYS[1]  the lease key
//	ARGV[1]  this process's id
//	ARGV[2]  the lease's length, in milliseconds
//	reply    1 if renewed, 0 if another process holds the lease (or none)
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript gives the lease up if this process holds it.
//
//	KEYS[1]  the lease key
//	ARGV[1]  this process's id
//	reply    1 if released, 0 otherwise
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

func (r *Reconciler) leaseKey() string { return r.cfg.Prefix + ":reconciler:lease" }

// lead takes or keeps the lease, and reports whether this process leads.
func (r *Reconciler) lead(ctx context.Context, leading bool) bool {
	ms := r.cfg.Lease.Milliseconds()
	if leading {
		n, err := renewScript.Run(ctx, r.rdb, []string{r.leaseKey()}, r.id, ms).Int()
		if err == nil && n == 1 {
			return true
		}
	}
	ok, err := r.rdb.SetNX(ctx, r.leaseKey(), r.id, r.cfg.Lease).Result()
	return err == nil && ok
}

// Run makes passes every Interval while this process holds the lease,
// until ctx ends; then it releases the lease.
func (r *Reconciler) Run(ctx context.Context) error {
	defer releaseScript.Run(context.WithoutCancel(ctx), r.rdb, []string{r.leaseKey()}, r.id)
	tick := min(r.cfg.Interval, r.cfg.Lease/3)
	t := time.NewTicker(tick)
	defer t.Stop()
	leading, lastPass := false, time.Time{}
	for {
		was := leading
		leading = r.lead(ctx, leading)
		if leading != was {
			r.log.InfoContext(ctx, "reconciler lease", "leading", leading, "id", r.id)
		}
		if leading && time.Since(lastPass) >= r.cfg.Interval {
			if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "reconciler pass failed", "err", err)
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
