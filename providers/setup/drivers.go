package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/fal"
	"github.com/vidgate/vidgate/providers/luma"
	"github.com/vidgate/vidgate/providers/replicate"
	"github.com/vidgate/vidgate/providers/runway"
	"github.com/vidgate/vidgate/providers/veo"
)

// Drivers returns a driver for each provider whose API key is set, in
// Describe's order, or an error listing every provider whose settings a
// driver refuses. Each driver:
//
//   - runs at most its Concurrency calls (Submit, Status, Cancel) at once
//     when Concurrency is above 0; a call waits for a slot as long as its
//     context allows, and then fails (see ErrNoCallSlot);
//   - is a providers.WebhookVerifier only when it can verify deliveries:
//     Replicate needs WebhookSecrets and Luma a CallbackToken, else they
//     are offered without it, and polled;
//   - keeps the adapter's other optional capabilities (providers.Idempotent).
func (s Settings) Drivers() ([]providers.Driver, error) {
	type built struct {
		name        string
		key         string
		concurrency int
		hooks       bool // can verify webhooks
		build       func() (providers.Driver, error)
	}
	all := []built{
		{"replicate", s.Replicate.APIKey, s.Replicate.Concurrency, len(s.Replicate.WebhookSecrets) > 0, func() (providers.Driver, error) {
			r := s.Replicate
			return replicate.New(replicate.Config{Conn: providers.Conn{APIKey: r.APIKey, BaseURL: r.BaseURL, Timeout: r.Timeout}, Models: r.Models, WebhookSecrets: r.WebhookSecrets})
		}},
		{"fal", s.Fal.APIKey, s.Fal.Concurrency, true, func() (providers.Driver, error) {
			f := s.Fal
			return fal.New(fal.Config{Conn: providers.Conn{APIKey: f.APIKey, BaseURL: f.BaseURL, Timeout: f.Timeout}, JWKSURL: f.JWKSURL, UserID: f.UserID, Models: f.Models})
		}},
		{"runway", s.Runway.APIKey, s.Runway.Concurrency, false, func() (providers.Driver, error) {
			r := s.Runway
			return runway.New(runway.Config{Conn: providers.Conn{APIKey: r.APIKey, BaseURL: r.BaseURL, Timeout: r.Timeout}, Models: r.Models})
		}},
		{"luma", s.Luma.APIKey, s.Luma.Concurrency, s.Luma.CallbackToken != "", func() (providers.Driver, error) {
			l := s.Luma
			return luma.New(luma.Config{Conn: providers.Conn{APIKey: l.APIKey, BaseURL: l.BaseURL, Timeout: l.Timeout}, Models: l.Models, CallbackToken: l.CallbackToken})
		}},
		{"veo", s.Veo.APIKey, s.Veo.Concurrency, s.Veo.CallbackToken != "", func() (providers.Driver, error) {
			v := s.Veo
			return veo.New(veo.Config{Conn: providers.Conn{APIKey: v.APIKey, BaseURL: v.BaseURL, Timeout: v.Timeout}, Models: v.Models, CallbackToken: v.CallbackToken})
		}},
	}
	var (
		ds   []providers.Driver
		errs []error
	)
	for _, b := range all {
		if strings.TrimSpace(b.key) == "" {
			continue
		}
		if b.concurrency < 0 {
			errs = append(errs, fmt.Errorf("%s: negative Concurrency %d", b.name, b.concurrency))
			continue
		}
		d, err := b.build()
		if err != nil {
			errs = append(errs, err) // the adapters' errors start with their name
			continue
		}
		if _, ok := d.(providers.WebhookVerifier); ok && !b.hooks {
			d = withoutWebhooks(d)
		}
		ds = append(ds, limit(d, b.concurrency))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ds, nil
}

// ErrNoCallSlot is in the chain of the error a concurrency-limited call
// returns when its context ends before a slot frees up. The provider was
// not called, so the error is a *providers.Error with CodeRateLimited (the
// engine retries later, and, since the error is neither a timeout nor a
// lost connection, knows that no generation can have started), and it
// tells the router (providers/router) that it is no evidence of an outage.
var ErrNoCallSlot error = noCallSlot{}

type noCallSlot struct{}

func (noCallSlot) Error() string { return "the provider was not called" }

// ProviderNotCalled is what providers/router looks for: an outcome that
// says nothing about the provider's health.
func (noCallSlot) ProviderNotCalled() bool { return true }

// limit returns d allowing at most n calls at once, or d itself for n 0.
func limit(d providers.Driver, n int) providers.Driver {
	if n <= 0 {
		return d
	}
	return providers.WithCapabilities(&limited{d: d, slots: make(chan struct{}, n)}, d)
}

// limited is a driver whose Submit, Status and Cancel share a fixed number
// of slots. VerifyWebhook takes none: it runs on the webhook intake's
// request, mostly checks a signature locally (Luma's confirming GET is
// bounded by its own timeout), and queuing it behind slow submissions would
// make the vendor's delivery time out and come again.
type limited struct {
	d     providers.Driver
	slots chan struct{}
}

var _ providers.Driver = (*limited)(nil)

func (l *limited) Name() string { return l.d.Name() }

// acquire takes a slot, or fails when ctx ends first.
func (l *limited) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &providers.Error{
			Code: providers.CodeRateLimited,
			Message: fmt.Sprintf("%s: all %d call slots stayed busy (raise VIDGATE_%s_CONCURRENCY to allow more)",
				l.d.Name(), cap(l.slots), strings.ToUpper(l.d.Name())),
			Err: ErrNoCallSlot,
		}
	}
}

func (l *limited) release() { <-l.slots }

func (l *limited) Submit(ctx context.Context, req providers.Request) (string, error) {
	if err := l.acquire(ctx); err != nil {
		return "", err
	}
	defer l.release()
	return l.d.Submit(ctx, req)
}

func (l *limited) Status(ctx context.Context, requestID string) (providers.Status, error) {
	if err := l.acquire(ctx); err != nil {
		return providers.Status{}, err
	}
	defer l.release()
	return l.d.Status(ctx, requestID)
}

func (l *limited) Cancel(ctx context.Context, requestID string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.d.Cancel(ctx, requestID)
}

// withoutWebhooks returns d without its WebhookVerifier capability (and
// with its others).
func withoutWebhooks(d providers.Driver) providers.Driver {
	if i, ok := d.(providers.Idempotent); ok {
		return keysOnly{plain{d}, i}
	}
	return plain{d}
}

// keysOnly is a plain driver that keeps the Idempotent capability.
type keysOnly struct {
	plain
	i providers.Idempotent
}

func (k keysOnly) HonorsIdempotencyKeys() bool { return k.i.HonorsIdempotencyKeys() }

// plain hides every optional capability of the driver it holds that is
// found by type assertion (webhooks, idempotency keys); those found by
// unwrapping (providers.PollPacer, providers.Downloader) describe the
// vendor, and stay visible through Unwrap.
type plain struct{ d providers.Driver }

func (p plain) Unwrap() providers.Driver { return p.d }

func (p plain) Name() string { return p.d.Name() }
func (p plain) Submit(ctx context.Context, req providers.Request) (string, error) {
	return p.d.Submit(ctx, req)
}
func (p plain) Status(ctx context.Context, id string) (providers.Status, error) {
	return p.d.Status(ctx, id)
}
func (p plain) Cancel(ctx context.Context, id string) error { return p.d.Cancel(ctx, id) }

var (
	_ providers.Driver     = plain{}
	_ providers.Wrapper    = plain{}
	_ providers.Idempotent = keysOnly{}
)
