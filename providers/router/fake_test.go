package router

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// start is the fake clock's origin: 12:01:03 UTC, as event logs show it.
var start = time.Date(2026, 11, 27, 12, 1, 3, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeDriver answers every call with err; with entered and release set, a
// call signals entered and then waits for release.
type fakeDriver struct {
	name    string
	err     error
	entered chan struct{}
	release chan struct{}
}

func (f *fakeDriver) Name() string { return f.name }

func (f *fakeDriver) call() error {
	if f.release != nil {
		f.entered <- struct{}{}
		<-f.release
	}
	return f.err
}

func (f *fakeDriver) Submit(context.Context, providers.Request) (string, error) {
	return "req-1", f.call()
}

func (f *fakeDriver) Status(context.Context, string) (providers.Status, error) {
	return providers.Status{RequestID: "req-1", State: providers.StateProcessing}, f.call()
}

func (f *fakeDriver) Cancel(context.Context, string) error { return f.call() }

type fakeVerifier struct{ *fakeDriver }

func (f fakeVerifier) VerifyWebhook(*http.Request, []byte) (providers.Webhook, error) {
	return providers.Webhook{EventID: "evt-" + f.name}, nil
}

type fakeIdempotent struct {
	*fakeDriver
	honors bool
}

func (f fakeIdempotent) HonorsIdempotencyKeys() bool { return f.honors }

type fakeBoth struct {
	fakeVerifier
	honors bool
}

func (f fakeBoth) HonorsIdempotencyKeys() bool { return f.honors }

func unavailable() error { return providers.Errorf(providers.CodeUnavailable, "503 from the vendor") }

// notCalledErr is what a concurrency limiter returns for a call that never
// reached the provider.
type notCalledErr struct{}

func (notCalledErr) Error() string           { return "no call slot" }
func (notCalledErr) ProviderNotCalled() bool { return true }
