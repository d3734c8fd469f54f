package reconciler

import "context"

// OnLease has Run report each lease decision of r to f: its token while it
// leads, "" when it does not. Set it before Run.
func OnLease(r *Reconciler, f func(token string)) { r.onLease = f }

// Lead takes or keeps the lease once, as Run does at each tick.
func Lead(r *Reconciler, ctx context.Context) bool { return r.lead(ctx) }

// LeaderPass runs one pass as Run's leader does: fenced.
func LeaderPass(r *Reconciler, ctx context.Context) (int, error) { return r.pass(ctx, r.fence) }

// ErrLostLease is errLostLease.
var ErrLostLease = errLostLease
