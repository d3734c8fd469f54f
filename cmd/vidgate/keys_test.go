package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

// `vidgate keys rotate` counts with --dry-run, reseals with the first
// prompt key, and refuses prompts under a key it is not given.
func TestKeysRotate(t *testing.T) {
	urls := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "keys.db")}
	if os.Getenv(jobstest.EnvDatabaseURL) != "" {
		urls["postgres"] = jobstest.PostgresURL(t)
	}
	for name, dbURL := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := run(ctx, []string{"migrate", "--database-url", dbURL}, io.Discard, io.Discard); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			db, err := jobs.OpenDB(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store := jobs.NewStore(db, nil)
			k1 := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
			k2 := "k2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
			old, err := jobs.ParseVaultKeys(k1)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jobs.NewVault(old, bytes.Repeat([]byte{9}, 32))
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for i := range 3 {
				j := &jobs.Job{PublicID: uuid.NewString(), OwnerID: "ops", WorkflowType: jobs.TextToVideo, Provider: "sim",
					Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}, PromptHash: fmt.Sprint(i)}
				keyID, ct, err := v.Seal(j.PublicID, "a prompt")
				if err != nil {
					t.Fatal(err)
				}
				j, _, err = store.InsertJob(ctx, j, &jobs.Prompt{KeyID: keyID, Ciphertext: ct}, "")
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, j.ID)
			}
			keyOf := func(id int64) string {
				p, err := store.PromptOf(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return p.KeyID
			}

			// With only the old key's successor configured, k1 rows cannot be opened.
			err = run(ctx, []string{"keys", "rotate", "--database-url", dbURL, "--prompt-keys", k2}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), `"k1" (3 prompts)`) {
				t.Errorf("keys rotate without k1 = %v, want an error naming k1 and its 3 prompts", err)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(k2, "k2:")) {
				t.Errorf("keys rotate error %q holds a key", err)
			}

			audits := func() []*jobs.AuditEntry {
				t.Helper()
				es, err := store.ListAudit(ctx, jobs.AuditFilter{Action: string(jobs.AuditPromptKeysRotate), Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				return es
			}
			if es := audits(); len(es) != 0 {
				t.Errorf("a refused keys rotate wrote %d audit entries, want none", len(es))
			}

			var out bytes.Buffer
			err = run(ctx, []string{"keys", "rotate", "--dry-run", "--database-url", dbURL, "--prompt-keys", k2 + "," + k1}, &out, io.Discard)
			if err != nil || !strings.Contains(out.String(), "k1 → k2: 3 to reseal") || keyOf(ids[0]) != "k1" {
				t.Errorf("keys rotate --dry-run = %q, %v (job key %s), want 3 to reseal and nothing changed", out.String(), err, keyOf(ids[0]))
			}

			out.Reset()
			err = run(ctx, []string{"keys", "rotate", "--batch-size", "2", "--database-url", dbURL, "--prompt-keys", k2 + "," + k1}, &out, io.Discard)
			if err != nil || !strings.Contains(out.String(), "k1 → k2: 3 resealed") || !strings.Contains(out.String(), "2 resealed so far") {
				t.Errorf("keys rotate = %q, %v, want progress and k1 → k2: 3 resealed", out.String(), err)
			}
			for _, id := range ids {
				if k := keyOf(id); k != "k2" {
					t.Errorf("job %d sealed with %s after keys rotate, want k2", id, k)
				}
			}
			// The dry run recorded nothing; the rotation one entry, as the
			// operator at this shell, with key ids and counts but no key.
			cli := jobs.CLIActor()
			checkAudit := func(e *jobs.AuditEntry, wantDetail string) {
				t.Helper()
				if e.ActorSubject != cli.Subject || e.ActorRole != string(jobs.RoleCLI) || e.TargetKind != jobs.AuditTargetPromptKeys || e.TargetID != "k2" {
					t.Errorf("audit entry = %s/%s %s %s:%s, want %s/cli prompt_keys.rotate prompt_keys:k2", e.ActorSubject, e.ActorRole, e.Action, e.TargetKind, e.TargetID, cli.Subject)
				}
				if e.Detail == nil || *e.Detail != wantDetail {
					t.Errorf("audit detail = %v, want %s", e.Detail, wantDetail)
				}
				if e.Detail != nil {
					for _, k := range []string{k1, k2} {
						if secret := strings.SplitN(k, ":", 2)[1]; strings.Contains(*e.Detail, secret) || strings.Contains(*e.Detail, secret[:16]) {
							t.Errorf("audit detail %s holds key material", *e.Detail)
						}
					}
				}
			}
			es := audits()
			if len(es) != 1 {
				t.Fatalf("%d prompt_keys.rotate audit entries after a dry run and a rotation, want 1", len(es))
			}
			checkAudit(es[0], `{"complete":true,"resealed":{"k1":3},"skipped":0,"to":"k2","total":3}`)

			out.Reset()
			err = run(ctx, []string{"keys", "rotate", "--database-url", dbURL, "--prompt-keys", k2}, &out, io.Discard)
			if err != nil || !strings.Contains(out.String(), "nothing to do") {
				t.Errorf("keys rotate after rotation = %q, %v, want nothing to do", out.String(), err)
			}
			// A run with nothing to do is an operator's action too.
			if es := audits(); len(es) != 2 {
				t.Errorf("%d prompt_keys.rotate audit entries after two rotations, want 2", len(es))
			} else {
				checkAudit(es[0], `{"complete":true,"resealed":{},"skipped":0,"to":"k2","total":0}`)
			}
		})
	}
}
