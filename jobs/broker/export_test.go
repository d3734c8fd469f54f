package broker

import (
	"context"
	"time"
)

// SetTiming shortens Run's ping interval and reconnect delays for a test.
// Call it before Run.
func (b *Broker) SetTiming(ping, backoffMin, backoffMax time.Duration) {
	b.pingEvery, b.backoffMin, b.backoffMax = ping, backoffMin, backoffMax
}

// Topics is how many channels the Broker holds state for.
func (b *Broker) Topics() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics)
}

// WaitTopics waits until the Broker holds state for at most n channels. A
// topic's state goes once its last subscription has closed and Redis has
// confirmed the UNSUBSCRIBE, so Redis has no subscription left to the
// channel by then either.
func (b *Broker) WaitTopics(ctx context.Context, n int) error {
	dropped := make(chan struct{}, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onDrop = func() {
		select {
		case dropped <- struct{}{}:
		default:
		}
	}
	defer func() { b.onDrop = nil }()
	for len(b.topics) > n {
		b.mu.Unlock()
		select {
		case <-dropped:
		case <-ctx.Done():
		}
		b.mu.Lock()
		if ctx.Err() != nil && len(b.topics) > n {
			return ctx.Err()
		}
	}
	return nil
}
