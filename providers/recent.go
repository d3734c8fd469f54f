package providers

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// RecentSet remembers keys for a while: for instance the requests a driver
// itself canceled or deleted, whose vendor then answers 404 where a
// canceled state was expected (Luma's DELETE, Runway's). The memory is per
// process and bounded: a key is forgotten ttl after it was added, or
// earlier, oldest first, once its limit of keys is held. The zero RecentSet is
// not usable; NewRecentSet makes one. It is safe for concurrent use.
type RecentSet[K comparable] struct {
	ttl   time.Duration
	limit int

	mu sync.Mutex
	at map[K]time.Time
}

// NewRecentSet returns a RecentSet that keeps each key for ttl, and at most
// limit keys (at least 1).
func NewRecentSet[K comparable](ttl time.Duration, limit int) *RecentSet[K] {
	return &RecentSet[K]{ttl: ttl, limit: max(limit, 1), at: make(map[K]time.Time)}
}

// Add remembers key as added at now. When the set is full, it first drops
// the expired keys and then, if it is still full, the oldest one.
func (s *RecentSet[K]) Add(key K, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[key]; !ok && len(s.at) >= s.limit {
		var oldest K
		var first time.Time
		found := false
		for k, t := range s.at {
			if now.Sub(t) > s.ttl {
				delete(s.at, k)
			} else if !found || t.Before(first) {
				oldest, first, found = k, t, true
			}
		}
		if len(s.at) >= s.limit {
			delete(s.at, oldest)
		}
	}
	s.at[key] = now
}

// Has reports whether key was added no longer than ttl before now.
func (s *RecentSet[K]) Has(key K, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[key]
	return ok && now.Sub(t) <= s.ttl
}

// CancelByDelete is the cancel of vendors that have none but a DELETE
// that removes a request whatever its state, outputs included (Luma's
// generations, Runway's tasks): Cancel reads the request first and leaves
// a finished one alone, and the requests it deleted are remembered for a
// day (at most 10,000), so that Status reports StateCanceled for them
// rather than the 404 the vendor answers. Another process asking about
// one gets CodeNotFound, which the engine treats as the end of the
// request.
type CancelByDelete struct {
	api     *API
	prefix  string
	read    func(ctx context.Context, op, id string) (Status, error)
	deleted *RecentSet[string]
}

// Reported is a vendor's request object (a Luma generation, a Runway
// task) as a GET answers it, which says its Status; r redacts the vendor's
// text.
type Reported interface {
	AsStatus(id string, r Redactor) (Status, error)
}

// NewCancelByDelete returns a CancelByDelete for the requests at
// prefix+id on api's base URL: a GET there answers a T, a DELETE removes
// the request.
func NewCancelByDelete[T any, P interface {
	*T
	Reported
}](api *API, prefix string) *CancelByDelete {
	c := &CancelByDelete{api: api, prefix: prefix, deleted: NewRecentSet[string](24*time.Hour, 10000)}
	c.read = func(ctx context.Context, op, id string) (Status, error) {
		var v T
		if err := c.Get(ctx, op, id, &v); err != nil {
			return Status{}, err
		}
		return P(&v).AsStatus(id, api.Redactor())
	}
	return c
}

// Get reads request id into v (GET prefix+id). An empty id is
// CodeNotFound without a call.
func (c *CancelByDelete) Get(ctx context.Context, op, id string, v any) error {
	if id == "" {
		return Errorf(CodeNotFound, "%s %s: empty request id", c.api.vendor, op)
	}
	return c.api.Call(ctx, op, http.MethodGet, c.prefix+url.PathEscape(id), nil, v)
}

// Status returns the Status of request id, or StateCanceled when the
// vendor no longer knows a request this CancelByDelete deleted.
func (c *CancelByDelete) Status(ctx context.Context, id string) (Status, error) {
	st, err := c.read(ctx, "status", id)
	if err != nil && ErrorCode(err) == CodeNotFound && c.deleted.Has(id, c.api.Now()) {
		return Status{RequestID: id, State: StateCanceled}, nil
	}
	return st, err
}

// Cancel deletes request id unless it has finished; one deleted already
// is nil.
func (c *CancelByDelete) Cancel(ctx context.Context, id string) error {
	st, err := c.read(ctx, "cancel", id)
	switch {
	case err != nil && ErrorCode(err) == CodeNotFound && c.deleted.Has(id, c.api.Now()):
		return nil
	case err != nil:
		return err
	case st.State.Terminal():
		return nil
	}
	if err := c.api.Call(ctx, "cancel", http.MethodDelete, c.prefix+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	c.deleted.Add(id, c.api.Now())
	return nil
}
