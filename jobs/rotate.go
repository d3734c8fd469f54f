package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/uptrace/bun"
)

// PromptRotation is what RotatePromptKeys did, or with DryRun would do.
// It is the summary an audit entry can record: it holds key ids and
// counts, never keys or prompts.
type PromptRotation struct {
	// To is the active key id: the one prompts are resealed with.
	To string
	// Resealed counts, per old key id, the prompts moved to To (with
	// DryRun: the prompts that would be).
	Resealed map[string]int
	// Skipped counts prompts another writer changed between this run's
	// read and its update; they were left as that writer made them.
	Skipped int
	DryRun  bool
}

// Total is the number of prompts resealed (or, dry, to be resealed).
func (r *PromptRotation) Total() int {
	n := 0
	for _, c := range r.Resealed {
		n += c
	}
	return n
}

// RotateOptions tunes RotatePromptKeys.
type RotateOptions struct {
	// BatchSize is the number of prompts resealed per transaction
	// (default 500).
	BatchSize int
	// DryRun only counts the prompts not sealed with the active key.
	DryRun bool
	// Progress, when set, hears the running totals after each batch.
	Progress func(PromptRotation)
}

// ErrUnknownPromptKey is returned by RotatePromptKeys when prompts are
// sealed with a key the vault does not hold: they cannot be opened, so
// nothing is changed.
var ErrUnknownPromptKey = errors.New("prompts are sealed with a key that is not configured")

// RotatePromptKeys reseals every prompt not sealed with v's active key with
// that key, BatchSize rows per transaction in job id order. Each row is
// updated only if it still holds the key id it was read with, so a
// concurrent writer is never overwritten, and an interrupted run picks up
// where it stopped when run again: it is safe while the service runs.
//
// Before changing anything it counts the prompts per key id and returns an
// error wrapping ErrUnknownPromptKey if any key id is not in v.
func (s *Store) RotatePromptKeys(ctx context.Context, v *Vault, opt RotateOptions) (*PromptRotation, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	out := &PromptRotation{To: v.ActiveKeyID(), Resealed: map[string]int{}, DryRun: opt.DryRun}
	pending, err := s.promptsByKey(ctx, out.To)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for id := range pending {
		if !v.HasKey(id) {
			unknown = append(unknown, fmt.Sprintf("%q (%d prompts)", id, pending[id]))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("rotate prompt keys: %w: %s; add it to the prompt keys (after the first) and run again", ErrUnknownPromptKey, strings.Join(unknown, ", "))
	}
	if opt.DryRun {
		out.Resealed = pending
		return out, nil
	}
	var after int64
	for {
		n, last, err := s.rotateBatch(ctx, v, after, opt.BatchSize, out)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		after = last
		if opt.Progress != nil {
			p := *out
			p.Resealed = maps.Clone(out.Resealed)
			opt.Progress(p)
		}
		if n < opt.BatchSize {
			return out, nil
		}
	}
}

// promptsByKey counts the prompts per key id, except those sealed with
// active.
func (s *Store) promptsByKey(ctx context.Context, active string) (map[string]int, error) {
	var rows []struct {
		KeyID string `bun:"key_id"`
		N     int    `bun:"n"`
	}
	err := s.db.NewSelect().Table("video_job_prompts").ColumnExpr("key_id, COUNT(*) AS n").
		Where("key_id <> ?", active).Group("key_id").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count prompts by key: %w", err)
	}
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		m[r.KeyID] = r.N
	}
	return m, nil
}

// rotateBatch reseals up to limit prompts with job id above after, in one
// transaction, adding to out only once it commits. It returns how many
// rows it read and the last job id.
func (s *Store) rotateBatch(ctx context.Context, v *Vault, after int64, limit int, out *PromptRotation) (n int, last int64, err error) {
	resealed, skipped := map[string]int{}, 0
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		clear(resealed)
		skipped = 0
		var rows []struct {
			JobID      int64  `bun:"job_id"`
			KeyID      string `bun:"key_id"`
			Ciphertext []byte `bun:"ciphertext"`
			PublicID   string `bun:"public_id"`
		}
		err := tx.NewSelect().TableExpr("video_job_prompts AS p").
			Join("JOIN video_jobs AS j ON j.id = p.job_id").
			ColumnExpr("p.job_id, p.key_id, p.ciphertext, j.public_id").
			Where("p.key_id <> ?", out.To).Where("p.job_id > ?", after).
			OrderExpr("p.job_id").Limit(int64(limit)).Scan(ctx, &rows)
		if err != nil {
			return fmt.Errorf("read prompts: %w", err)
		}
		n = len(rows)
		for _, r := range rows {
			last = r.JobID
			if !v.HasKey(r.KeyID) {
				return fmt.Errorf("%w: job %s is sealed with %q", ErrUnknownPromptKey, r.PublicID, r.KeyID)
			}
			keyID, sealed, err := v.Reseal(r.PublicID, r.KeyID, r.Ciphertext)
			if err != nil {
				return fmt.Errorf("job %s: %w", r.PublicID, err)
			}
			res, err := tx.NewUpdate().Table("video_job_prompts").
				Set("key_id = ?", keyID).Set("ciphertext = ?", sealed).
				Where("job_id = ?", r.JobID).Where("key_id = ?", r.KeyID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("update prompt of job %s: %w", r.PublicID, err)
			}
			if k, _ := res.RowsAffected(); k == 0 {
				skipped++
				continue
			}
			resealed[r.KeyID]++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("rotate prompt keys: %w", err)
	}
	for k, c := range resealed {
		out.Resealed[k] += c
	}
	out.Skipped += skipped
	return n, last, nil
}
