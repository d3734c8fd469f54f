package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/imgcheck"
	"github.com/vidgate/vidgate/blob/imgcheck/imgchecktest"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

// clock is a settable time source for the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type assetEnv struct {
	svc    *jobs.Service
	store  *jobs.Store
	bucket *blob.Bucket
	clock  *clock
}

// newAssetEnv's service has cfg's uploads settings (decode gate, quotas),
// when given.
func newAssetEnv(t *testing.T, db *bun.DB, cfg ...jobs.ServiceConfig) *assetEnv {
	t.Helper()
	e := &assetEnv{clock: &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}}
	var err error
	e.bucket, err = blob.Open(context.Background(), "mem://", blob.Options{SigningKey: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	e.store = jobs.NewStore(db, e.clock.Now)
	c := jobs.ServiceConfig{}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Providers, c.Files, c.SourceAssetTTL = []string{"sim"}, e.bucket, time.Hour
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.svc, err = jobs.NewService(e.store, jobstest.Vault(t), c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var (
	alice = jobs.Actor{Subject: "alice", Role: jobs.RoleUser}
	bob   = jobs.Actor{Subject: "bob", Role: jobs.RoleUser}
	rita  = jobs.Actor{Subject: "rita", Role: jobs.RoleReviewer}
	ada   = jobs.Actor{Subject: "ada", Role: jobs.RoleAdmin}
)

func (e *assetEnv) upload(t *testing.T, a jobs.Actor, data []byte, declared string) (*jobs.SourceAsset, error) {
	t.Helper()
	return e.svc.UploadSourceAsset(context.Background(), a, jobs.UploadInput{File: bytes.NewReader(data), Size: int64(len(data)), ContentType: declared})
}

func countAssets(t *testing.T, db *bun.DB) int {
	t.Helper()
	n, err := db.NewSelect().Table("source_assets").Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func wantCode(t *testing.T, what string, err error, code jobs.Code, reason string) {
	t.Helper()
	var e *jobs.Error
	if !errors.As(err, &e) || e.Code != code || (reason != "" && e.Reason != reason) {
		t.Errorf("%s: err = %#v, want %s %s", what, err, code, reason)
	}
}

func TestUploadSourceAsset(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := context.Background()
		img := pngBytes(t, 96, 64)
		asset, err := e.upload(t, alice, img, "image/png")
		if err != nil {
			t.Fatalf("UploadSourceAsset: %v", err)
		}
		if asset.OwnerID != "alice" || asset.MimeType != "image/png" || asset.Width != 96 || asset.Height != 64 ||
			asset.SizeBytes != int64(len(img)) || len(asset.SHA256) != 64 {
			t.Errorf("asset = %+v, want alice's 96x64 PNG of %d bytes", asset, len(img))
		}
		if want := "sources/" + asset.PublicID + ".png"; asset.StorageKey != want {
			t.Errorf("StorageKey = %q, want %q", asset.StorageKey, want)
		}
		if asset.ExpiresAt == nil || !asset.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
			t.Errorf("ExpiresAt = %v, want an hour from now", asset.ExpiresAt)
		}
		r, err := e.bucket.NewReader(ctx, asset.StorageKey)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(stored, img) {
			t.Errorf("stored %d bytes, want the uploaded %d unchanged", len(stored), len(img))
		}
		if _, err := e.upload(t, ada, img, ""); err != nil {
			t.Errorf("admin upload: %v", err)
		}

		_, err = e.upload(t, rita, img, "image/png")
		wantCode(t, "reviewer upload", err, jobs.CodeForbidden, "")
		_, err = e.upload(t, jobs.Actor{}, img, "image/png")
		wantCode(t, "anonymous upload", err, jobs.CodeUnauthenticated, "")
		_, err = e.upload(t, alice, img, "image/jpeg")
		wantCode(t, "png declared jpeg", err, jobs.CodeBadUserInput, "TYPE_MISMATCH")
		_, err = e.upload(t, alice, append(bytes.Clone(img), "PK\x05\x06"...), "image/png")
		wantCode(t, "polyglot", err, jobs.CodeBadUserInput, "TRAILING_DATA")
		_, err = e.upload(t, alice, bytes.Repeat([]byte{0}, 20<<20+1), "")
		wantCode(t, "oversized", err, jobs.CodeBadUserInput, "TOO_LARGE")
		if n := countAssets(t, db); n != 2 {
			t.Errorf("%d assets recorded, want only the 2 accepted", n)
		}
	})
}

func (e *assetEnv) create(a jobs.Actor, wf jobs.WorkflowType, assetID string) (*jobs.Job, error) {
	job, _, err := e.svc.CreateJob(context.Background(), a, jobs.CreateInput{WorkflowType: wf, Prompt: "the picture, moving", SourceAssetID: assetID})
	return job, err
}

func TestCreateJobWithSourceAsset(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := context.Background()
		asset, err := e.upload(t, alice, pngBytes(t, 64, 64), "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.create(bob, jobs.ImageToVideo, asset.PublicID)
		wantCode(t, "another owner's asset", err, jobs.CodeNotFound, "")
		_, err = e.create(ada, jobs.ImageToVideo, asset.PublicID)
		wantCode(t, "an admin using alice's asset", err, jobs.CodeNotFound, "")
		_, err = e.create(alice, jobs.ImageToVideo, "00000000-0000-4000-8000-000000000000")
		wantCode(t, "no such asset", err, jobs.CodeNotFound, "")
		_, err = e.create(alice, jobs.ImageToVideo, "not-a-uuid")
		wantCode(t, "malformed id", err, jobs.CodeNotFound, "")
		_, err = e.create(alice, jobs.TextToVideo, asset.PublicID)
		wantCode(t, "text to video with an asset", err, jobs.CodeBadUserInput, "")

		job, err := e.create(alice, jobs.ImageToVideo, strings.ToUpper(asset.PublicID))
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		if job.SourceAssetPublicID == nil || *job.SourceAssetPublicID != asset.PublicID {
			t.Errorf("job's source asset = %v, want %s", job.SourceAssetPublicID, asset.PublicID)
		}
		used, _ := e.store.SourceAssetByPublicID(ctx, asset.PublicID)
		if used.UsedAt == nil {
			t.Error("the asset is not marked used after a job took it")
		}

		// Past the TTL: an unused asset is gone, a used one still serves.
		unused, err := e.upload(t, alice, pngBytes(t, 64, 64), "")
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		_, err = e.create(alice, jobs.ImageToVideo, unused.PublicID)
		wantCode(t, "expired asset", err, jobs.CodeBadUserInput, "EXPIRED")
		if _, err := e.create(alice, jobs.ImageToVideo, asset.PublicID); err != nil {
			t.Errorf("a second job from a used asset past the TTL: %v", err)
		}
		// Deleted by the reconciler: refused the same way.
		ok, err := e.store.MarkSourceAssetDeleted(ctx, unused.ID, e.clock.Now(), 0)
		if err != nil || !ok {
			t.Fatalf("MarkSourceAssetDeleted = %v, %v, want true", ok, err)
		}
		_, err = e.create(alice, jobs.ImageToVideo, unused.PublicID)
		wantCode(t, "deleted asset", err, jobs.CodeBadUserInput, "EXPIRED")
	})
}

func TestExpiredSourceAssets(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		ctx := context.Background()
		const retention = 48 * time.Hour
		up := func() *jobs.SourceAsset {
			a, err := e.upload(t, alice, pngBytes(t, 64, 64), "")
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		unused, forFailed, forApproved, forRunning := up(), up(), up(), up()
		jobOf := func(a *jobs.SourceAsset) *jobs.Job {
			j, err := e.create(alice, jobs.ImageToVideo, a.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		failed, approved := jobOf(forFailed), jobOf(forApproved)
		jobOf(forRunning) // stays QUEUED
		if _, err := e.store.TransitionTx(ctx, jobs.Transition{JobID: failed.ID, From: jobs.StatusQueued, To: jobs.StatusFailed, Source: jobs.SourceWorker, ErrorCode: "X"}); err != nil {
			t.Fatal(err)
		}
		jobstest.Complete(t, e.store, approved.ID)
		if _, err := e.store.ReviewJob(ctx, approved.ID, &jobs.Review{ReviewerID: "rita", Decision: jobs.DecisionApproved}); err != nil {
			t.Fatal(err)
		}

		ids := func(now time.Time) []string {
			got, err := e.store.ExpiredSourceAssets(ctx, now, retention, 10)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, a := range got {
				out = append(out, a.PublicID)
			}
			return out
		}
		now := e.clock.Now()
		if got := ids(now); len(got) != 0 {
			t.Errorf("ExpiredSourceAssets(now) = %v, want none", got)
		}
		if got := ids(now.Add(2 * time.Hour)); len(got) != 1 || got[0] != unused.PublicID {
			t.Errorf("ExpiredSourceAssets(past the TTL) = %v, want only the unused %s", got, unused.PublicID)
		}
		later := now.Add(retention + time.Hour)
		if got := ids(later); len(got) != 2 || got[0] != unused.PublicID || got[1] != forFailed.PublicID {
			t.Errorf("ExpiredSourceAssets(past retention) = %v, want the unused %s and the failed job's %s", got, unused.PublicID, forFailed.PublicID)
		}
		// Used again in the meantime: no longer deletable.
		e.clock.Advance(retention + time.Hour)
		if _, err := e.svc.Retry(ctx, alice, failed.PublicID); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		if ok, err := e.store.MarkSourceAssetDeleted(ctx, forFailed.ID, e.clock.Now(), retention); err != nil || ok {
			t.Errorf("MarkSourceAssetDeleted(asset of a retried job) = %v, %v, want false", ok, err)
		}
		if ok, err := e.store.MarkSourceAssetDeleted(ctx, unused.ID, e.clock.Now(), retention); err != nil || !ok {
			t.Errorf("MarkSourceAssetDeleted(unused) = %v, %v, want true", ok, err)
		}
		if got := ids(e.clock.Now()); len(got) != 0 {
			t.Errorf("ExpiredSourceAssets after = %v, want none", got)
		}
	})
}

// A 16-bit 4096×4096 PNG, 128 MiB decoded, is refused from its header
// (before any pixel is decoded) as bad input with a reason, and nothing is
// stored.
func TestUploadRefusesOverDecodeBudget(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db)
		_, err := e.upload(t, alice, imgchecktest.PNG(4096, 4096, 16, 6), "image/png")
		wantCode(t, "16-bit 4096x4096 png", err, jobs.CodeBadUserInput, "DECODED_TOO_LARGE")
		if err != nil && !strings.Contains(err.Error(), "8 bits per channel") {
			t.Errorf("message %q does not say how to send the image instead", err)
		}
		if n := countAssets(t, db); n != 0 {
			t.Errorf("%d assets recorded, want none", n)
		}
	})
}

// With every decode slot taken, an upload is refused as RATE_LIMITED with a
// retry time once its wait is over, rather than queued; with a slot free,
// it goes through.
func TestUploadDecodeBusy(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		gate := imgcheck.NewGate(1, 10*time.Millisecond)
		e := newAssetEnv(t, db, jobs.ServiceConfig{Decodes: gate})
		release, err := gate.Acquire(context.Background()) // a decode in progress
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.upload(t, alice, pngBytes(t, 64, 64), "")
		wantCode(t, "upload with every slot busy", err, jobs.CodeRateLimited, "BUSY")
		if e, ok := errors.AsType[*jobs.Error](err); ok && e.RetryAfter < time.Second {
			t.Errorf("RetryAfter = %s, want at least a second", e.RetryAfter)
		}
		release()
		if _, err := e.upload(t, alice, pngBytes(t, 64, 64), ""); err != nil {
			t.Errorf("upload with the slot free: %v", err)
		}
	})
}

// Over the daily upload count, an identity's next upload is RATE_LIMITED
// until its oldest upload is 24 hours old; another identity is unaffected.
func TestUploadDailyCountQuota(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newAssetEnv(t, db, jobs.ServiceConfig{DailyUploads: 2})
		img := pngBytes(t, 64, 64)
		for range 2 {
			if _, err := e.upload(t, alice, img, ""); err != nil {
				t.Fatalf("upload within the quota: %v", err)
			}
			e.clock.Advance(time.Hour)
		}
		_, err := e.upload(t, alice, img, "")
		wantCode(t, "third upload in a day", err, jobs.CodeRateLimited, "DAILY_UPLOADS")
		if e, ok := errors.AsType[*jobs.Error](err); ok && e.RetryAfter != 22*time.Hour {
			t.Errorf("RetryAfter = %s, want 22h, when the first upload is a day old", e.RetryAfter)
		}
		if _, err := e.upload(t, bob, img, ""); err != nil {
			t.Errorf("bob's upload while alice is over her quota: %v", err)
		}
		e.clock.Advance(22*time.Hour + time.Second)
		if _, err := e.upload(t, alice, img, ""); err != nil {
			t.Errorf("alice's upload once her first is a day old: %v", err)
		}
		if n := countAssets(t, db); n != 4 {
			t.Errorf("%d assets recorded, want the 4 accepted", n)
		}
	})
}

// Over the daily upload bytes, an identity's next upload is RATE_LIMITED
// until enough of its uploads are 24 hours old for the file to fit.
func TestUploadDailyBytesQuota(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		img := pngBytes(t, 64, 64)
		size := int64(len(img))
		e := newAssetEnv(t, db, jobs.ServiceConfig{DailyUploadBytes: 3*size - 1})
		for range 2 {
			if _, err := e.upload(t, alice, img, ""); err != nil {
				t.Fatalf("upload within the quota: %v", err)
			}
			e.clock.Advance(time.Hour)
		}
		_, err := e.upload(t, alice, img, "")
		wantCode(t, "upload over the daily bytes", err, jobs.CodeRateLimited, "DAILY_UPLOAD_BYTES")
		if e, ok := errors.AsType[*jobs.Error](err); ok && e.RetryAfter != 22*time.Hour {
			t.Errorf("RetryAfter = %s, want 22h, when the first upload is a day old", e.RetryAfter)
		}
		if _, err := e.upload(t, bob, img, ""); err != nil {
			t.Errorf("bob's upload while alice is over her quota: %v", err)
		}
	})
}

// A client that gives up while its upload waits for a decode slot gets
// UNAVAILABLE, not an internal error.
func TestUploadCancelledWhileWaiting(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		gate := imgcheck.NewGate(1, time.Hour)
		e := newAssetEnv(t, db, jobs.ServiceConfig{Decodes: gate})
		release, _ := gate.Acquire(context.Background())
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		img := pngBytes(t, 64, 64)
		_, err := e.svc.UploadSourceAsset(ctx, alice, jobs.UploadInput{File: bytes.NewReader(img), Size: int64(len(img))})
		wantCode(t, "upload cancelled while waiting", err, jobs.CodeUnavailable, "")
	})
}
