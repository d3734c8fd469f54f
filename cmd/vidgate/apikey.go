package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/migrations"
)

// runAPIKey is `vidgate apikey create|list|revoke`: partner apps' keys.
func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := errors.New("usage: vidgate apikey create --owner <id> --role user --name <label> | vidgate apikey list | vidgate apikey revoke <prefix>")
	if len(args) == 0 {
		return usage
	}
	verb := args[0]
	var url, owner, role, name, dataDir string
	fs := newFlagSet("apikey "+verb, "Manage partner apps' API keys. A key is printed once, when it is made; only a hash is kept.", stderr)
	fs.StringVar(&url, "database-url", "", "database (default: the embedded default's, in --data-dir)")
	fs.StringVar(&dataDir, "data-dir", "./vidgate-data", "the embedded default's data directory")
	if verb == "create" {
		fs.StringVar(&owner, "owner", "", "the owner (subject) the key acts as (required)")
		fs.StringVar(&role, "role", "user", "user, reviewer or admin")
		fs.StringVar(&name, "name", "", "a label, to recognise the key in lists (required)")
	}
	if err := fs.FlagSet.Parse(args[1:]); err != nil {
		return err
	}
	rest := fs.Args()
	if err := fs.parse(nil); err != nil {
		return err
	}
	if url == "" {
		var err error
		if url, err = embeddedDatabaseURL(dataDir); err != nil {
			return err
		}
	}
	db, err := jobs.OpenDB(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	if pending, err := migrations.Pending(ctx, db); err != nil || len(pending) > 0 {
		return fmt.Errorf("the database is not migrated (run vidgate migrate): %v", err)
	}
	store := jobs.NewStore(db, nil)
	// Creates and revokes are audited as the operator at this shell.
	ctx = jobs.WithAuditActor(ctx, jobs.CLIActor())
	switch verb {
	case "create":
		if owner == "" || name == "" {
			return errors.New("--owner and --name are required")
		}
		key, k, err := store.CreateAPIKey(ctx, owner, jobs.Role(role), name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "API key %s for %s (%s), named %q. It is shown once: store it now.\n", k.Prefix, k.OwnerID, k.Role, k.Name)
		fmt.Fprintln(stdout, key)
		return nil
	case "list":
		keys, err := store.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "PREFIX\tOWNER\tROLE\tNAME\tCREATED\tLAST USED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Prefix, k.OwnerID, k.Role, k.Name, k.CreatedAt.Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
		}
		return w.Flush()
	case "revoke":
		if len(rest) != 1 {
			return usage
		}
		if err := store.RevokeAPIKey(ctx, rest[0]); errors.Is(err, jobs.ErrNotFound) {
			return fmt.Errorf("no API key %s", rest[0])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", rest[0])
		return nil
	}
	return usage
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
