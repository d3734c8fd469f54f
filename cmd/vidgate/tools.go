package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/migrations"
	"github.com/vidgate/vidgate/server/auth"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var url string
	fs := newFlagSet("migrate", "Apply the database migrations that are not applied yet.", stderr)
	fs.StringVar(&url, "database-url", "", "database: postgres://… or sqlite:PATH (required)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if url == "" {
		return fmt.Errorf("--database-url / $%s is required", envName("database-url"))
	}
	db, err := jobs.OpenDB(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrations.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	return nil
}

func runToken(args []string, stdout, stderr io.Writer) error {
	var sub, role, secret, dataDir string
	var ttl time.Duration
	fs := newFlagSet("token", "Print a bearer token signed with the JWT secret (--jwt-secret, or the embedded default's in --data-dir).", stderr)
	fs.StringVar(&sub, "sub", "", "subject: the user, partner or reviewer id (required)")
	fs.StringVar(&role, "role", "user", "user, reviewer or admin")
	fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	fs.StringVar(&secret, "jwt-secret", "", "HS256 secret (default: the embedded default's, from --data-dir)")
	fs.StringVar(&dataDir, "data-dir", "./vidgate-data", "the embedded default's data directory")
	fs.markSecret("jwt-secret")
	if err := fs.parse(args); err != nil {
		return err
	}
	if sub == "" {
		return fmt.Errorf("--sub is required")
	}
	if secret == "" {
		// Read, never create: a token signed with a secret made up here
		// would be refused by the running server.
		s, err := embeddedSecrets(dataDir)
		if err != nil {
			return fmt.Errorf("no --jwt-secret: %w", err)
		}
		secret = s.JWTSecret
	}
	a, err := auth.New(auth.Config{HS256Secret: []byte(secret)})
	if err != nil {
		return err
	}
	tok, err := a.Issue(sub, jobs.Role(role), ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// The embedded default's files in its data directory.
const (
	embeddedDBFile      = "vidgate.db"
	embeddedSecretsFile = "secrets.json"
)

// errNoEmbeddedData explains, for an operator command run without
// --database-url or secrets, where it looked and what to do.
func errNoEmbeddedData(dataDir, file string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		err = errors.New("it does not exist")
	}
	return fmt.Errorf("no embedded vidgate data at %s (%v): run the command where `vidgate` keeps its data, or pass --data-dir, or --database-url for a database elsewhere",
		filepath.Join(dataDir, file), err)
}

// embeddedDatabaseURL is the embedded default's database in dataDir. It never
// creates one: a missing directory or file is an error that says which.
func embeddedDatabaseURL(dataDir string) (string, error) {
	path := filepath.Join(dataDir, embeddedDBFile)
	if _, err := os.Stat(path); err != nil {
		return "", errNoEmbeddedData(dataDir, embeddedDBFile, err)
	}
	return "sqlite:" + path, nil
}

// embeddedSecrets reads the embedded default's secrets in dataDir without
// creating them.
func embeddedSecrets(dataDir string) (secrets, error) {
	s, err := readSecrets(filepath.Join(dataDir, embeddedSecretsFile))
	if err != nil {
		return s, errNoEmbeddedData(dataDir, embeddedSecretsFile, err)
	}
	return s, nil
}
