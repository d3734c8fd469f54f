// Package jobstest opens migrated databases for tests: SQLite always, and
// PostgreSQL when VIDGATE_TEST_DATABASE_URL is set (CI sets it). Each
// PostgreSQL database is a fresh schema, dropped when the test ends, so
// tests and packages run in parallel without colliding.
package jobstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/migrations"
)

// EnvDatabaseURL names the PostgreSQL server tests use.
const EnvDatabaseURL = "VIDGATE_TEST_DATABASE_URL"

// Backend is a database flavour a test can run against.
type Backend struct {
	Name string
	Open func(t testing.TB) *bun.DB
}

// Backends returns SQLite, plus PostgreSQL when VIDGATE_TEST_DATABASE_URL is
// set. Under CI (CI=true) a missing URL fails the test instead: CI must run
// both.
func Backends(t testing.TB) []Backend {
	b := []Backend{{Name: "sqlite", Open: SQLite}}
	if os.Getenv(EnvDatabaseURL) != "" {
		b = append(b, Backend{Name: "postgres", Open: Postgres})
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the PostgreSQL suites", EnvDatabaseURL)
	}
	return b
}

// ForEachBackend runs fn as a parallel subtest per backend.
func ForEachBackend(t *testing.T, fn func(t *testing.T, db *bun.DB)) {
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

// SQLite returns a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *bun.DB {
	t.Helper()
	return open(t, "sqlite:"+filepath.Join(t.TempDir(), "vidgate.db"))
}

// Postgres returns a migrated, empty schema of the server at
// VIDGATE_TEST_DATABASE_URL, dropped when the test ends.
func Postgres(t testing.TB) *bun.DB {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Fatalf("%s is not set", EnvDatabaseURL)
	}
	admin, err := jobs.OpenDB(context.Background(), base)
	if err != nil {
		t.Fatalf("open %s: %v", EnvDatabaseURL, err)
	}
	schema := "vgtest_" + randomHex(6)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return open(t, u.String())
}

// PostgresURL returns a database URL for a fresh, migrated schema, dropped
// when the test ends, for tests that start vidgate itself against it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	db := Postgres(t)
	var schema string
	if err := db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(os.Getenv(EnvDatabaseURL))
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, dsn string) *bun.DB {
	t.Helper()
	ctx := context.Background()
	db, err := jobs.OpenDB(ctx, dsn)
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrations.Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// Vault returns a vault with random keys.
func Vault(t testing.TB) *jobs.Vault {
	t.Helper()
	v, err := jobs.NewVault([]jobs.VaultKey{{ID: "k1", Key: randomBytes(32)}}, randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// Complete walks a QUEUED job through SUBMITTED and PROCESSING to COMPLETED
// with a stored video artifact, as the pipeline would, and returns it.
func Complete(t testing.TB, s *jobs.Store, jobID int64) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	var job *jobs.Job
	steps := [][2]jobs.Status{
		{jobs.StatusQueued, jobs.StatusSubmitted},
		{jobs.StatusSubmitted, jobs.StatusProcessing},
		{jobs.StatusProcessing, jobs.StatusCompleted},
	}
	err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, st := range steps {
			var err error
			job, err = s.Transition(ctx, tx, jobs.Transition{JobID: jobID, From: st[0], To: st[1], Source: jobs.SourceWorker})
			if err != nil {
				return err
			}
		}
		d, w, h := 5.0, 1280, 720
		return s.InsertArtifact(ctx, tx, &jobs.Artifact{
			PublicID: randomUUID(), JobID: jobID, Kind: jobs.ArtifactVideo,
			StorageKey: "artifacts/" + job.PublicID + "/video.mp4", MimeType: "video/mp4",
			SizeBytes: 1234, SHA256: randomHex(32), DurationSeconds: &d, Width: &w, Height: &h,
		})
	})
	if err != nil {
		t.Fatalf("complete job %d: %v", jobID, err)
	}
	return job
}

func randomUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
