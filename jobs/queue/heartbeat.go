package queue

import (
	"sync"
	"time"
)

// heartbeat keeps the entries of running handlers from looking abandoned:
// every third of the visibility timeout it resets their idle time (the
// heartbeat script), so only a consumer that stopped refreshing — a dead
// one — loses its entries, however long a handler runs. It stops when stop
// is closed, after the last handler has returned.
func (r *runner) heartbeat(stop <-chan struct{}) {
	q := r.q
	t := time.NewTicker(q.cfg.VisibilityTimeout / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for kind, ids := range r.inflight.owned() {
			args := make([]any, 0, 2+len(ids))
			args = append(args, q.cfg.Group, q.cfg.Consumer)
			for _, id := range ids {
				args = append(args, id)
			}
			lost, err := heartbeatScript.Run(r.bg, q.rdb, []string{q.keys.Stream(string(kind))}, args...).StringSlice()
			if isNoGroup(err) {
				lost, err = ids, nil // the consumer loop recreates the group
			}
			if err != nil {
				q.log.Error("heartbeat", "kind", kind, "err", err)
				continue
			}
			for _, id := range r.inflight.markLost(kind, lost) {
				q.log.Warn("entry taken over while its handler runs; it may be handled twice", "kind", kind, "id", id)
			}
		}
	}
}

// inflight is the set of entries whose handlers are running, per kind, and
// whether this consumer still owns each.
type inflight struct {
	mu sync.Mutex
	m  map[Kind]map[string]bool
}

func newInflight() *inflight { return &inflight{m: make(map[Kind]map[string]bool)} }

func (f *inflight) add(kind Kind, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[kind] == nil {
		f.m[kind] = make(map[string]bool)
	}
	f.m[kind][id] = true
}

func (f *inflight) remove(kind Kind, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m[kind], id)
}

func (f *inflight) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ids := range f.m {
		n += len(ids)
	}
	return n
}

// owned returns the ids still owned, per kind.
func (f *inflight) owned() map[Kind][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[Kind][]string)
	for kind, ids := range f.m {
		for id, owned := range ids {
			if owned {
				out[kind] = append(out[kind], id)
			}
		}
	}
	return out
}

// markLost records that ids are no longer owned and returns those of them
// whose handlers are still running.
func (f *inflight) markLost(kind Kind, ids []string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var running []string
	for _, id := range ids {
		if _, ok := f.m[kind][id]; ok {
			f.m[kind][id] = false
			running = append(running, id)
		}
	}
	return running
}
