// Package migrations holds vidgate's schema as code. Each migration is SQL
// written once for both dialects: a few placeholders ({{id}}, {{ts}},
// {{bytes}}) stand for the column types that PostgreSQL and SQLite spell
// differently. Migrations only ever get appended; a released one is never
// edited.
package migrations

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

var all = migrate.NewMigrations()

// sqlUp is a migration that runs its SQL statements in one transaction
// (both PostgreSQL and SQLite have transactional DDL). Each migration file,
// named <timestamp>_<comment>.go as bun's migrate expects, registers one with
// all.MustRegister(sqlUp(...), irreversible).
func sqlUp(statements ...string) migrate.MigrationFunc {
	return func(ctx context.Context, db *bun.DB) error {
		return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, stmt := range statements {
				if _, err := tx.ExecContext(ctx, expand(db.Dialect().Name(), stmt)); err != nil {
					return fmt.Errorf("%s: %w", firstLine(stmt), err)
				}
			}
			return nil
		})
	}
}

// irreversible is every migration's down: vidgate migrates forwards only;
// to undo a change, write a new migration.
func irreversible(context.Context, *bun.DB) error {
	return errors.New("migrations are forward-only: write a new migration instead")
}

func expand(d dialect.Name, stmt string) string {
	r := strings.NewReplacer(
		"{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{ts}}", "TIMESTAMP",
		"{{bytes}}", "BLOB",
	)
	if d == dialect.PG {
		r = strings.NewReplacer(
			"{{id}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
			"{{ts}}", "TIMESTAMPTZ",
			"{{bytes}}", "BYTEA",
		)
	}
	return r.Replace(stmt)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Migrate applies every migration not yet applied and returns the names of
// those it applied. On PostgreSQL it holds an advisory lock while it works,
// so several processes starting at once migrate once.
func Migrate(ctx context.Context, db *bun.DB) ([]string, error) {
	if db.Dialect().Name() == dialect.PG {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		key := lockKey(db)
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", key); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", key)
	}
	m := migrate.NewMigrator(db, all, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate: init: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var names []string
	for _, mig := range group.Migrations {
		names = append(names, mig.String())
	}
	return names, nil
}

// lockKey is the advisory lock id, derived from the current schema so that
// tests migrating separate schemas in parallel do not wait on each other.
func lockKey(db *bun.DB) int64 {
	var schema string
	_ = db.QueryRow("SELECT current_schema()").Scan(&schema)
	h := fnv.New64a()
	h.Write([]byte("vidgate-migrate:" + schema))
	return int64(h.Sum64() >> 1)
}

// Pending returns the names of the migrations not yet applied to db.
func Pending(ctx context.Context, db *bun.DB) ([]string, error) {
	m := migrate.NewMigrator(db, all)
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrations: init: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var names []string
	for _, mig := range ms.Unapplied() {
		names = append(names, mig.String())
	}
	return names, nil
}
