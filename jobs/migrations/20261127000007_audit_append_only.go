package migrations

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

func init() {
	// The database itself refuses to change or remove audit rows, so that
	// no code path — a bug, a later feature, an injected statement through
	// the application's connection — can rewrite the trail. The table's
	// owner can still drop the triggers; run vidgate as a role that does
	// not own its tables where that matters.
	pg := sqlUp(
		`CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
		END $$`,
		`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
			FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()`,
		`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
			FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()`,
	)
	sqlite := sqlUp(
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END`,
	)
	all.MustRegister(func(ctx context.Context, db *bun.DB) error {
		if db.Dialect().Name() == dialect.PG {
			return pg(ctx, db)
		}
		return sqlite(ctx, db)
	}, irreversible)
}
