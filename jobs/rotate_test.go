package jobs_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

func vaultOf(t *testing.T, keys ...jobs.VaultKey) *jobs.Vault {
	t.Helper()
	v, err := jobs.NewVault(keys, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func vaultKey(id string) jobs.VaultKey {
	k := make([]byte, 32)
	rand.Read(k)
	return jobs.VaultKey{ID: id, Key: k}
}

// insertSealed inserts a job whose prompt v seals.
func insertSealed(t *testing.T, s *jobs.Store, v *jobs.Vault, prompt string) *jobs.Job {
	t.Helper()
	j := newJob("rotor", "")
	keyID, ct, err := v.Seal(j.PublicID, prompt)
	if err != nil {
		t.Fatal(err)
	}
	j, _, err = s.InsertJob(context.Background(), j, &jobs.Prompt{KeyID: keyID, Ciphertext: ct}, "")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestRotatePromptKeys(t *testing.T) {
	t.Parallel()
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := jobs.NewStore(db, nil)
		k0, k1, k2 := vaultKey("k0"), vaultKey("k1"), vaultKey("k2")
		prompts := map[int64]string{}
		for i := range 7 {
			j := insertSealed(t, s, vaultOf(t, k1), fmt.Sprintf("prompt %d under k1", i))
			prompts[j.ID] = fmt.Sprintf("prompt %d under k1", i)
		}
		for i := range 2 {
			j := insertSealed(t, s, vaultOf(t, k0), fmt.Sprintf("prompt %d under k0", i))
			prompts[j.ID] = fmt.Sprintf("prompt %d under k0", i)
		}
		j := insertSealed(t, s, vaultOf(t, k2), "already under k2")
		prompts[j.ID] = "already under k2"
		keyOf := func(id int64) string {
			p, err := s.PromptOf(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return p.KeyID
		}
		rotated := vaultOf(t, k2, k1, k0)

		dry, err := s.RotatePromptKeys(ctx, rotated, jobs.RotateOptions{DryRun: true})
		if want := map[string]int{"k1": 7, "k0": 2}; err != nil || !maps.Equal(dry.Resealed, want) || !dry.DryRun {
			t.Fatalf("RotatePromptKeys(dry run) = %+v, %v, want %v", dry, err, want)
		}
		for id := range prompts {
			if k := keyOf(id); k == "k2" && prompts[id] != "already under k2" {
				t.Fatalf("a dry run resealed job %d", id)
			}
		}

		var batches []int
		got, err := s.RotatePromptKeys(ctx, rotated, jobs.RotateOptions{BatchSize: 4, Progress: func(p jobs.PromptRotation) {
			batches = append(batches, p.Total())
		}})
		if want := map[string]int{"k1": 7, "k0": 2}; err != nil || !maps.Equal(got.Resealed, want) || got.To != "k2" || got.Skipped != 0 {
			t.Fatalf("RotatePromptKeys = %+v, %v, want %v resealed to k2", got, err, want)
		}
		if want := []int{4, 8, 9}; fmt.Sprint(batches) != fmt.Sprint(want) {
			t.Errorf("progress after each batch = %v, want %v", batches, want)
		}
		// Every prompt now opens with k2 alone, and reads as before.
		only := vaultOf(t, k2)
		for id, want := range prompts {
			p, err := s.PromptOf(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			job, err := s.JobByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if plain, err := only.Open(job.PublicID, p.KeyID, p.Ciphertext); err != nil || plain != want {
				t.Errorf("prompt of job %d after rotation = %q, %v, want %q", id, plain, err, want)
			}
		}

		again, err := s.RotatePromptKeys(ctx, rotated, jobs.RotateOptions{})
		if err != nil || again.Total() != 0 {
			t.Errorf("second RotatePromptKeys = %+v, %v, want nothing to do", again, err)
		}

		// A prompt sealed with a key not configured: refused before any
		// change, naming the key id.
		stray := insertSealed(t, s, vaultOf(t, vaultKey("lost")), "sealed with a lost key")
		mine := insertSealed(t, s, vaultOf(t, k1), "another under k1")
		_, err = s.RotatePromptKeys(ctx, rotated, jobs.RotateOptions{})
		if !errors.Is(err, jobs.ErrUnknownPromptKey) || !strings.Contains(err.Error(), `"lost"`) {
			t.Errorf("RotatePromptKeys with a row under an unknown key = %v, want ErrUnknownPromptKey naming \"lost\"", err)
		}
		if k := keyOf(mine.ID); k != "k1" {
			t.Errorf("job under k1 has key %q after a refused rotation, want k1 (unchanged)", k)
		}
		if k := keyOf(stray.ID); k != "lost" {
			t.Errorf("job under lost key has key %q, want lost", k)
		}
	})
}
