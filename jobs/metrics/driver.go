package metrics

import (
	"context"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// WrapDriver returns d with every call timed and counted. The optional
// capabilities of d (webhooks, idempotency keys) are kept.
func (m *Metrics) WrapDriver(d providers.Driver) providers.Driver {
	return providers.WithCapabilities(&observed{Driver: d, m: m}, d)
}

type observed struct {
	providers.Driver
	m *Metrics
}

func (o *observed) Submit(ctx context.Context, req providers.Request) (string, error) {
	start := time.Now()
	id, err := o.Driver.Submit(ctx, req)
	o.m.observe(o.Name(), "submit", start, err)
	return id, err
}

func (o *observed) Status(ctx context.Context, id string) (providers.Status, error) {
	start := time.Now()
	st, err := o.Driver.Status(ctx, id)
	o.m.observe(o.Name(), "status", start, err)
	return st, err
}

func (o *observed) Cancel(ctx context.Context, id string) error {
	start := time.Now()
	err := o.Driver.Cancel(ctx, id)
	o.m.observe(o.Name(), "cancel", start, err)
	return err
}
