package broker

import "time"

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
