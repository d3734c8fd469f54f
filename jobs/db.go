package jobs

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// OpenDB opens the database named by dsn:
//   - postgres://… or postgresql://… : PostgreSQL through pgx.
//   - sqlite:PATH or a plain file path ending in .db: SQLite (pure Go, no
//     cgo), in WAL mode with a busy timeout and immediate write
//     transactions, so the API and the workers of one process never see
//     "database is locked".
//
// It checks the connection before it returns.
func OpenDB(ctx context.Context, dsn string) (*bun.DB, error) {
	var db *bun.DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		sqldb, err := sql.Open("pgx", pgDSN(dsn))
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(32)
		sqldb.SetMaxIdleConns(32)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasSuffix(dsn, ".db"):
		sqldb, err := sql.Open("sqlite", sqliteDSN(strings.TrimPrefix(dsn, "sqlite:")))
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One writer at a time is SQLite's model; a small pool keeps readers
		// concurrent in WAL mode while writers queue on the busy timeout.
		sqldb.SetMaxOpenConns(8)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	default:
		return nil, fmt.Errorf("database url %q: want postgres://… or sqlite:PATH", redactDSN(dsn))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactDSN(dsn), err)
	}
	return db, nil
}

// sqliteDSN adds the pragmas vidgate relies on to a SQLite path.
func sqliteDSN(path string) string {
	if path != ":memory:" && !strings.HasPrefix(path, "file:") {
		path = "file:" + filepath.ToSlash(path)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// pgDSN selects pgx's simple protocol unless the URL chooses a mode itself.
// bun renders every query with its arguments inlined, so each statement
// text is new to the server: under pgx's default mode every query would
// be prepared (one extra round trip) and cached per connection, which
// measured 30 % fewer creates per second and several times the heap (see
// BENCHMARKS.md). The simple protocol sends the text once and caches
// nothing.
func pgDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // sql.Open reports it
	}
	q := u.Query()
	if q.Get("default_query_exec_mode") == "" {
		q.Set("default_query_exec_mode", "simple_protocol")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactDSN hides the password of a database URL, so it can be logged.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// IsPostgres reports whether db speaks PostgreSQL.
func IsPostgres(db bun.IDB) bool {
	return db.Dialect().Name() == dialect.PG
}

var _ = stdlib.GetDefaultDriver // links pgx's database/sql driver "pgx"

// IsUnavailable reports whether err means the database could not be
// reached or dropped the connection — a fault of the deployment that a
// retry may outlive — as opposed to a bug or a refused statement.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var (
		netErr     net.Error
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
		liteErr    *sqlite.Error
	)
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr), errors.As(err, &connectErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &liteErr):
		// SQLITE_BUSY or SQLITE_LOCKED (and their extended codes): another
		// writer held the database past the busy timeout.
		code := liteErr.Code() & 0xff
		return code == 5 || code == 6
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01–57P03: the server is shutting
		// down or starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	return false
}
