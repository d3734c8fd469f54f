package providers

import (
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
