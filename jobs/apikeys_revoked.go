package jobs

import (
	"context"
	"fmt"
	"slices"

	"github.com/uptrace/bun"
)

// RevokedAPIKeys returns those of prefixes (API keys' lookup prefixes) that
// no longer name a valid key: revoked, or deleted. The server asks it
// periodically about every key that holds a connection open: one indexed
// read per 500 keys, however many connections each holds.
func (s *Store) RevokedAPIKeys(ctx context.Context, prefixes []string) ([]string, error) {
	var revoked []string
	for batch := range slices.Chunk(prefixes, 500) {
		var valid []string
		err := s.db.NewSelect().Model((*APIKey)(nil)).Column("prefix").
			Where("prefix IN (?)", bun.In(batch)).Where("revoked_at IS NULL").Scan(ctx, &valid)
		if err != nil {
			return nil, fmt.Errorf("revoked api keys: %w", err)
		}
		ok := make(map[string]bool, len(valid))
		for _, p := range valid {
			ok[p] = true
		}
		for _, p := range batch {
			if !ok[p] {
				revoked = append(revoked, p)
			}
		}
	}
	return revoked, nil
}
