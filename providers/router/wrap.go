package router

import (
	"context"
	"errors"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// Observe feeds the outcome of one call to provider into its breaker: an
// error for which providers.ErrorCode is CodeUnavailable is a failure;
// nil, or any other code, a success. An error that says the provider was
// never called (see the package documentation) is ignored. The drivers
// Wrap returns call it themselves.
func (r *Router) Observe(provider string, err error) {
	now := r.now()
	r.observe(provider, now, now, err)
}

func (r *Router) observe(provider string, started, now time.Time, err error) {
	if notCalled(err) {
		return
	}
	r.breakers.observe(provider, now, started, providers.ErrorCode(err) == providers.CodeUnavailable)
}

// notCalled reports whether err's chain holds a value that says the
// provider was never called.
func notCalled(err error) bool {
	var nc interface{ ProviderNotCalled() bool }
	return errors.As(err, &nc) && nc.ProviderNotCalled()
}

// Wrap returns a driver that calls d and Observes the outcome of each
// Submit, Status and Cancel under d's name, except for calls whose context
// the caller canceled. It has d's optional capabilities: it is a
// providers.WebhookVerifier (not observed) and a providers.Idempotent
// exactly when d is.
func (r *Router) Wrap(d providers.Driver) providers.Driver {
	return providers.WithCapabilities(&observed{d: d, r: r, name: d.Name()}, d)
}

// Registry returns a registry of the router's drivers, each wrapped with
// Wrap: the one to give the worker and the webhook intake.
func (r *Router) Registry() *providers.Registry {
	var ds []providers.Driver
	for _, name := range r.reg.Names() {
		d, _ := r.reg.Get(name)
		ds = append(ds, r.Wrap(d))
	}
	return providers.NewRegistry(ds...)
}

// observed is a driver whose calls feed the router's breakers.
type observed struct {
	d    providers.Driver
	r    *Router
	name string
}

var _ providers.Driver = (*observed)(nil)

func (o *observed) Name() string { return o.name }

func (o *observed) Submit(ctx context.Context, req providers.Request) (string, error) {
	started := o.r.now()
	id, err := o.d.Submit(ctx, req)
	o.done(ctx, started, err)
	return id, err
}

func (o *observed) Status(ctx context.Context, requestID string) (providers.Status, error) {
	started := o.r.now()
	st, err := o.d.Status(ctx, requestID)
	o.done(ctx, started, err)
	return st, err
}

func (o *observed) Cancel(ctx context.Context, requestID string) error {
	started := o.r.now()
	err := o.d.Cancel(ctx, requestID)
	o.done(ctx, started, err)
	return err
}

// done observes a call, unless its caller canceled it: then the outcome is
// the caller's doing, not the provider's. A passed deadline, by contrast,
// is observed: a provider too slow for our deadlines is unavailable.
func (o *observed) done(ctx context.Context, started time.Time, err error) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	o.r.observe(o.name, started, o.r.now(), err)
}
