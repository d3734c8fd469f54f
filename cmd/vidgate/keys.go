package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/migrations"
)

// runKeys is `vidgate keys rotate`: reseal every stored prompt with the
// first of --prompt-keys.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := errors.New("usage: vidgate keys rotate [--dry-run] [--batch-size N]")
	if len(args) == 0 || args[0] != "rotate" {
		return usage
	}
	var url, dataDir, promptKeys string
	var dryRun bool
	var batch int
	fs := newFlagSet("keys rotate", "Reseal every stored prompt with the first of --prompt-keys, the key new prompts are sealed with.\n"+
		"Batches commit one by one, so it is safe to run while vidgate runs, and to run again after an interruption.", stderr)
	fs.StringVar(&url, "database-url", "", "database (default: the embedded default's, in --data-dir)")
	fs.StringVar(&dataDir, "data-dir", "./vidgate-data", "the embedded default's data directory")
	fs.StringVar(&promptKeys, "prompt-keys", "", "AES-256 keys that encrypt prompts: id:base64key[,id:base64key…], the first encrypts (default: the embedded default's, from --data-dir)")
	fs.BoolVar(&dryRun, "dry-run", false, "only count the prompts sealed with each older key")
	fs.IntVar(&batch, "batch-size", 500, "prompts resealed per transaction")
	fs.markSecret("prompt-keys")
	if err := fs.parse(args[1:]); err != nil {
		return err
	}
	if batch < 1 {
		return fmt.Errorf("--batch-size %d: want at least 1", batch)
	}
	if url == "" {
		var err error
		if url, err = embeddedDatabaseURL(dataDir); err != nil {
			return err
		}
	}
	if promptKeys == "" {
		s, err := embeddedSecrets(dataDir)
		if err != nil {
			return fmt.Errorf("--prompt-keys / $%s is required: %w", envName("prompt-keys"), err)
		}
		promptKeys = s.PromptKeys
	}
	keys, err := jobs.ParseVaultKeys(promptKeys)
	if err != nil {
		return fmt.Errorf("--prompt-keys: %w", err)
	}
	// Rotation opens and seals but never hashes, so the vault's prompt hash
	// key is a throwaway: the command needs no --prompt-hash-key.
	throwaway := make([]byte, 32)
	rand.Read(throwaway)
	vault, err := jobs.NewVault(keys, throwaway)
	if err != nil {
		return fmt.Errorf("--prompt-keys: %w", err)
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
	if !dryRun {
		fmt.Fprintf(stdout, "resealing prompts with key %s, %d per batch\n", vault.ActiveKeyID(), batch)
	}
	sum, err := store.RotatePromptKeys(ctx, vault, jobs.RotateOptions{BatchSize: batch, DryRun: dryRun, Progress: func(p jobs.PromptRotation) {
		fmt.Fprintf(stdout, "  %d resealed so far\n", p.Total())
	}})
	if sum != nil {
		printRotation(stdout, sum)
	}
	if !dryRun && sum != nil {
		// One audit entry per run, after the last batch: what was resealed
		// (key ids and counts, never keys), and whether the run finished.
		if aerr := auditRotation(ctx, store, sum, err == nil); aerr != nil {
			if err != nil {
				return fmt.Errorf("%w (and %v)", err, aerr)
			}
			return fmt.Errorf("prompts resealed, but %w", aerr)
		}
	}
	return err
}

// auditRotation appends the prompt_keys.rotate entry of a run, as the
// operator at this shell (the actor `vidgate apikey` records).
func auditRotation(ctx context.Context, store *jobs.Store, r *jobs.PromptRotation, complete bool) error {
	return store.AppendAudit(ctx, nil, jobs.AuditRecord{
		Actor:      jobs.CLIActor(),
		Action:     jobs.AuditPromptKeysRotate,
		TargetKind: jobs.AuditTargetPromptKeys,
		TargetID:   r.To,
		Detail: map[string]any{
			"to":       r.To,
			"resealed": r.Resealed,
			"total":    r.Total(),
			"skipped":  r.Skipped,
			"complete": complete,
		},
	})
}

// printRotation writes the summary: one line per old key id.
func printRotation(w io.Writer, r *jobs.PromptRotation) {
	ids := make([]string, 0, len(r.Resealed))
	for id := range r.Resealed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	verb := "resealed"
	if r.DryRun {
		verb = "to reseal"
	}
	if len(ids) == 0 {
		fmt.Fprintf(w, "every prompt is sealed with %s: nothing to do\n", r.To)
		return
	}
	for _, id := range ids {
		fmt.Fprintf(w, "%s → %s: %d %s\n", id, r.To, r.Resealed[id], verb)
	}
	fmt.Fprintf(w, "total: %d %s\n", r.Total(), verb)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "skipped: %d changed by another writer meanwhile (run again to check)\n", r.Skipped)
	}
	if !r.DryRun {
		fmt.Fprintf(w, "keys other than %s can be dropped from --prompt-keys once every vidgate process has restarted\n", r.To)
	}
}

// readSecrets reads the embedded default's secrets without creating them:
// a command that changes stored data must not invent keys.
func readSecrets(path string) (secrets, error) {
	var s secrets
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
