package reconciler_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/reconciler"
	"github.com/vidgate/vidgate/providers"
)

// Unused source images go at their TTL; used ones when every job using
// them finished unapproved longer than the retention ago; the rest stay.
func TestSourceAssetExpiry(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		f := setup(t, db)
		ctx := context.Background()
		rec := reconciler.New(f.store, f.queue, providers.NewRegistry(), f.bucket, f.rdb, reconciler.Config{
			Prefix: "t", SourceAssetRetention: 30 * time.Minute, Now: func() time.Time { return f.now },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		asset := func(expires time.Time) *jobs.SourceAsset {
			a := &jobs.SourceAsset{PublicID: newUUID(), OwnerID: "alice", MimeType: "image/png", SizeBytes: 3,
				Width: 64, Height: 64, SHA256: strings.Repeat("0", 64), ExpiresAt: &expires}
			a.StorageKey = "sources/" + a.PublicID + ".png"
			if err := f.store.InsertSourceAsset(ctx, a); err != nil {
				t.Fatal(err)
			}
			if _, err := f.bucket.Put(ctx, a.StorageKey, strings.NewReader("png"), 1<<10); err != nil {
				t.Fatal(err)
			}
			return a
		}
		use := func(a *jobs.SourceAsset, steps ...jobs.Transition) {
			j, _, err := f.store.InsertJob(ctx, &jobs.Job{PublicID: newUUID(), OwnerID: "alice", WorkflowType: jobs.ImageToVideo, Provider: "sim",
				Params: jobs.Params{DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p"}, PromptHash: "h", SourceAssetID: &a.ID},
				&jobs.Prompt{KeyID: "k", Ciphertext: []byte("x")}, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				s.JobID = j.ID
				if _, err := f.store.TransitionTx(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
		}
		fail := jobs.Transition{From: jobs.StatusQueued, To: jobs.StatusFailed, ErrorCode: "X"}
		soon := time.Now().Add(2 * time.Hour) // after f.now
		expired := asset(time.Now())          // before f.now
		fresh := asset(soon)
		usedFailed := asset(soon)
		use(usedFailed, fail) // updated now: past the 30-minute retention at f.now
		usedRunning := asset(soon)
		use(usedRunning) // QUEUED: kept, even past its upload TTL
		if _, err := f.store.DB().NewUpdate().Model((*jobs.SourceAsset)(nil)).Set("expires_at = ?", time.Now()).Where("id = ?", usedRunning.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		usedTwice := asset(soon)
		use(usedTwice, fail)
		use(usedTwice) // a retry still running keeps it

		plan, err := rec.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		planned := map[int64]bool{}
		for _, a := range plan {
			if a.Rule == reconciler.RuleSourceAsset {
				planned[a.SourceAsset.ID] = true
			}
		}
		if len(planned) != 2 || !planned[expired.ID] || !planned[usedFailed.ID] {
			t.Errorf("planned source asset deletions %v, want the expired %d and the failed job's %d", planned, expired.ID, usedFailed.ID)
		}
		if _, err := rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			a    *jobs.SourceAsset
			gone bool
		}{{expired, true}, {fresh, false}, {usedFailed, true}, {usedRunning, false}, {usedTwice, false}} {
			exists, err := f.bucket.Exists(ctx, tt.a.StorageKey)
			if err != nil {
				t.Fatal(err)
			}
			row, err := f.store.SourceAssetByPublicID(ctx, tt.a.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if exists == tt.gone || (row.DeletedAt != nil) != tt.gone {
				t.Errorf("asset %d: file exists %v, deleted_at %v; want gone %v", tt.a.ID, exists, row.DeletedAt, tt.gone)
			}
		}
		plan, err = rec.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range plan {
			if a.Rule == reconciler.RuleSourceAsset {
				t.Errorf("after the pass the plan still deletes asset %d", a.SourceAsset.ID)
			}
		}
	})
}
