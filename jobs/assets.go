package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob/imgcheck"
)

// ErrSourceAssetGone is what InsertJob returns for a job whose source asset
// expired unused or was deleted before the job could take it.
var ErrSourceAssetGone = errors.New("source asset expired or deleted")

// DefaultSourceAssetTTL is how long an upload no job has used is kept.
const DefaultSourceAssetTTL = 24 * time.Hour

// UploadInput is an uploaded file. The file's name is deliberately absent:
// nothing about storage or typing may depend on it.
type UploadInput struct {
	File io.Reader
	// Size is the length the transport measured, or -1 when unknown.
	Size int64
	// ContentType is the type the client declared for the file, if any.
	ContentType string
}

// UploadSourceAsset checks an uploaded image (blob/imgcheck: type sniffed
// from the bytes, bounded size, dimensions and decoded size, fully decoded,
// nothing after its end), stores its original bytes and records it for a's
// later IMAGE_TO_VIDEO jobs. A refused file is BAD_USER_INPUT on field
// "file", with the imgcheck reason in Error.Reason, and nothing is stored.
// An upload over a's daily quota, or that finds every decode slot busy, is
// RATE_LIMITED with a RetryAfter.
func (s *Service) UploadSourceAsset(ctx context.Context, a Actor, in UploadInput) (*SourceAsset, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !a.CanUploadAssets() {
		return nil, Errorf(CodeForbidden, "role %s cannot upload source images", a.Role)
	}
	if s.cfg.Files == nil {
		return nil, Errorf(CodeUnavailable, "uploads are not configured on this server")
	}
	lim := s.cfg.Uploads
	tooLarge := &Error{Code: CodeBadUserInput, Field: "file", Reason: string(imgcheck.ReasonTooLarge),
		Message: fmt.Sprintf("file: is larger than the limit of %d bytes", lim.MaxBytes)}
	if in.Size > lim.MaxBytes {
		return nil, tooLarge
	}
	// Read at most one byte past the cap: enough to know it is over.
	data, err := io.ReadAll(io.LimitReader(in.File, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, tooLarge
	}
	if err := s.checkUploadQuota(ctx, a, int64(len(data))); err != nil {
		return nil, err
	}
	info, err := s.cfg.Decodes.Check(ctx, data, in.ContentType, lim)
	var refused *imgcheck.Error
	if errors.As(err, &refused) {
		return nil, &Error{Code: CodeBadUserInput, Field: "file", Reason: string(refused.Reason), Message: "file: " + refused.Message}
	}
	if errors.Is(err, imgcheck.ErrBusy) {
		s.log.WarnContext(ctx, "upload refused: every decode slot busy", "owner_id", a.Subject)
		return nil, &Error{Code: CodeRateLimited, Reason: "BUSY", RetryAfter: max(s.cfg.Decodes.Wait(), time.Second),
			Message: "the server is checking too many images at once; try the upload again in a few seconds"}
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The client gave up while waiting for a decode slot: not a fault.
		return nil, Errorf(CodeUnavailable, "the upload was cancelled while waiting to be checked")
	}
	if err != nil {
		return nil, err
	}
	asset := &SourceAsset{
		PublicID: uuid.NewString(), OwnerID: a.Subject, MimeType: info.ContentType,
		Width: info.Width, Height: info.Height,
	}
	asset.StorageKey = "sources/" + asset.PublicID + info.Extension()
	res, err := s.cfg.Files.PutTyped(ctx, asset.StorageKey, bytes.NewReader(data), lim.MaxBytes, info.ContentType)
	if err != nil {
		return nil, fmt.Errorf("store source asset: %w", err)
	}
	asset.SizeBytes, asset.SHA256 = res.Size, res.SHA256
	asset.CreatedAt = s.store.Now()
	exp := asset.CreatedAt.Add(s.cfg.SourceAssetTTL)
	asset.ExpiresAt = &exp
	if err := s.store.InsertSourceAsset(ctx, asset); err != nil {
		// No row points at the file: remove it rather than leave an orphan.
		if derr := s.cfg.Files.Delete(context.WithoutCancel(ctx), asset.StorageKey); derr != nil {
			s.log.ErrorContext(ctx, "remove unrecorded source asset", "key", asset.StorageKey, "err", derr)
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "source asset uploaded", "asset_id", asset.PublicID, "owner_id", a.Subject,
		"type", asset.MimeType, "bytes", asset.SizeBytes, "width", asset.Width, "height", asset.Height)
	return asset, nil
}

// uploadQuotaWindow is the window of DailyUploads and DailyUploadBytes.
const uploadQuotaWindow = 24 * time.Hour

// checkUploadQuota refuses an upload of size bytes that would take a over
// DailyUploads or DailyUploadBytes in the last 24 hours, with the time
// until enough of the window's uploads age out of it. Stored uploads count,
// deleted or not; refused ones do not. Concurrent uploads of one
// identity may each pass the check before either is recorded, so the cap
// can be passed by the uploads in flight at once (a few, with the decode
// gate).
func (s *Service) checkUploadQuota(ctx context.Context, a Actor, size int64) error {
	maxN, maxBytes := s.cfg.DailyUploads, s.cfg.DailyUploadBytes
	if maxN <= 0 && maxBytes <= 0 {
		return nil
	}
	now := s.store.Now()
	recent, err := s.store.uploadsSince(ctx, a.Subject, now.Add(-uploadQuotaWindow))
	if err != nil {
		return err
	}
	// freeAt is how long until the i oldest of recent have left the window.
	freeAt := func(i int) time.Duration {
		return max(recent[i-1].CreatedAt.Add(uploadQuotaWindow).Sub(now), time.Second)
	}
	if maxN > 0 && len(recent) >= maxN {
		wait := freeAt(len(recent) - maxN + 1)
		return &Error{Code: CodeRateLimited, Reason: "DAILY_UPLOADS", RetryAfter: wait,
			Message: fmt.Sprintf("you have uploaded %d images in the last 24 hours, the most allowed; try again in %s", len(recent), wait.Round(time.Minute))}
	}
	var used int64
	for _, u := range recent {
		used += u.SizeBytes
	}
	if maxBytes > 0 && used+size > maxBytes {
		wait := uploadQuotaWindow // the file alone is over the quota (a config the flags refuse)
		left := used
		for i, u := range recent {
			if left -= u.SizeBytes; left+size <= maxBytes {
				wait = freeAt(i + 1)
				break
			}
		}
		return &Error{Code: CodeRateLimited, Reason: "DAILY_UPLOAD_BYTES", RetryAfter: wait,
			Message: fmt.Sprintf("your uploads in the last 24 hours total %d bytes; with this file of %d bytes they would pass the limit of %d; try again in %s",
				used, size, maxBytes, wait.Round(time.Minute))}
	}
	return nil
}

// uploadUse is one stored upload, as the quota counts it.
type uploadUse struct {
	CreatedAt time.Time `bun:"created_at"`
	SizeBytes int64     `bun:"size_bytes"`
}

// uploadsSince returns owner's uploads created after since, oldest first,
// deleted ones included: a deletion does not give the quota back.
func (s *Store) uploadsSince(ctx context.Context, owner string, since time.Time) ([]uploadUse, error) {
	var out []uploadUse
	err := s.db.NewSelect().TableExpr("source_assets").Column("created_at", "size_bytes").
		Where("owner_id = ?", owner).Where("created_at > ?", since.UTC()).
		OrderExpr("created_at, id").Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("count uploads: %w", err)
	}
	return out, nil
}

// sourceAssetFor returns the asset with public id id for a new job of a,
// named by the input field field (input.sourceAssetId,
// input.endFrameAssetId): NOT_FOUND when it does not exist or a may not
// use it (the two look the same), BAD_USER_INPUT when it expired or was
// deleted.
func (s *Service) sourceAssetFor(ctx context.Context, a Actor, field, id string) (*SourceAsset, error) {
	notFound := &Error{Code: CodeNotFound, Field: field, Message: fmt.Sprintf("%s: no source asset with id %q", field, truncate(id, 64))}
	if uuid.Validate(id) != nil {
		return nil, notFound
	}
	asset, err := s.store.SourceAssetByPublicID(ctx, strings.ToLower(id))
	if errors.Is(err, ErrNotFound) || (err == nil && !a.CanUseAsset(asset)) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if asset.DeletedAt != nil || (asset.UsedAt == nil && asset.ExpiresAt != nil && !asset.ExpiresAt.After(s.store.Now())) {
		return nil, assetGone(field, asset.PublicID)
	}
	return asset, nil
}

func assetGone(field, id string) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Reason: "EXPIRED",
		Message: fmt.Sprintf("%s: source asset %s has expired or been deleted; upload the image again", field, id)}
}

// InsertSourceAsset records an uploaded source image.
func (s *Store) InsertSourceAsset(ctx context.Context, a *SourceAsset) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.Now()
	}
	if _, err := s.db.NewInsert().Model(a).Exec(ctx); err != nil {
		return fmt.Errorf("insert source asset: %w", err)
	}
	return nil
}

// claimSourceAsset marks an asset used by a job being inserted in tx: a
// guarded update that fails with ErrSourceAssetGone when the asset was
// deleted, or is unused and past its TTL. The reconciler's delete is
// guarded the other way (MarkSourceAssetDeleted), so of a job taking an
// asset and the reconciler removing it, exactly one wins.
func (s *Store) claimSourceAsset(ctx context.Context, tx bun.IDB, id int64, now time.Time) error {
	res, err := tx.NewUpdate().Model((*SourceAsset)(nil)).
		Set("used_at = COALESCE(used_at, ?)", now).
		Where("id = ?", id).Where("deleted_at IS NULL").
		Where("(used_at IS NOT NULL OR expires_at IS NULL OR expires_at > ?)", now).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("claim source asset: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrSourceAssetGone
	}
	return nil
}

// finishedUnapproved are the statuses after which a job no longer needs its
// source image, unless kept for its videos' retention.
var finishedUnapproved = []Status{StatusCompleted, StatusRejected, StatusFailed, StatusCanceled, StatusExpired}

// expiredAssetWhere narrows a query on source_assets (aliased source_asset,
// bun's alias for the model) to
// assets whose file may be deleted at now:
//
//   - unused assets past their TTL (expires_at);
//   - with retention > 0, used assets whose every job is finished and not
//     approved (COMPLETED and waiting for review counts as finished: its
//     video expires on the same clock) and has not changed for retention,
//     so the image goes about when the videos made from it go. Assets of
//     an approved job, or of a job still generating, are kept. retention 0
//     keeps used assets forever, as it keeps videos.
func expiredAssetWhere(q *bun.SelectQuery, now time.Time, retention time.Duration) *bun.SelectQuery {
	return q.Where("source_asset.deleted_at IS NULL").WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("source_asset.used_at IS NULL AND source_asset.expires_at < ?", now)
		if retention > 0 {
			q = q.WhereOr("source_asset.used_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM video_jobs AS vj WHERE (vj.source_asset_id = source_asset.id OR vj.end_frame_asset_id = source_asset.id) AND (vj.status NOT IN (?) OR vj.updated_at >= ?))",
				bun.In(finishedUnapproved), now.Add(-retention))
		}
		return q
	})
}

// ExpiredSourceAssets returns up to limit source assets whose files may be
// deleted at now (see expiredAssetWhere), oldest first.
func (s *Store) ExpiredSourceAssets(ctx context.Context, now time.Time, retention time.Duration, limit int) ([]*SourceAsset, error) {
	var out []*SourceAsset
	q := s.db.NewSelect().Model(&out)
	err := expiredAssetWhere(q, now.UTC(), retention).OrderExpr("source_asset.id").Limit(int64(max(limit, 1))).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("expired source assets: %w", err)
	}
	return out, nil
}

// MarkSourceAssetDeleted sets deleted_at on an asset if it is still
// expired at now (a job may have taken it since it was listed), and reports
// whether it did. The caller deletes the file after, and calls
// UnmarkSourceAssetDeleted if that fails, so the next pass tries again.
func (s *Store) MarkSourceAssetDeleted(ctx context.Context, id int64, now time.Time, retention time.Duration) (bool, error) {
	sub := expiredAssetWhere(s.db.NewSelect().TableExpr("source_assets AS source_asset").Column("source_asset.id"), now.UTC(), retention).Where("source_asset.id = ?", id)
	res, err := s.db.NewUpdate().Model((*SourceAsset)(nil)).Set("deleted_at = ?", s.Now()).
		Where("id = ?", id).Where("deleted_at IS NULL").Where("id IN (?)", sub).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("mark source asset deleted: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UnmarkSourceAssetDeleted undoes MarkSourceAssetDeleted after its file
// could not be deleted.
func (s *Store) UnmarkSourceAssetDeleted(ctx context.Context, id int64) error {
	_, err := s.db.NewUpdate().Model((*SourceAsset)(nil)).Set("deleted_at = NULL").Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("unmark source asset deleted: %w", err)
	}
	return nil
}
