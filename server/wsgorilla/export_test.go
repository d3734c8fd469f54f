package wsgorilla

import "context"

// WaitOpen waits until OpenConnections is n, or ctx ends.
func (i *Implementation) WaitOpen(ctx context.Context, n int64) error {
	changed := make(chan struct{}, 1)
	i.connsMu.Lock()
	i.onChange = func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	i.connsMu.Unlock()
	defer func() {
		i.connsMu.Lock()
		i.onChange = nil
		i.connsMu.Unlock()
	}()
	for i.OpenConnections() != n {
		select {
		case <-changed:
		case <-ctx.Done():
			if i.OpenConnections() != n {
				return ctx.Err()
			}
		}
	}
	return nil
}
