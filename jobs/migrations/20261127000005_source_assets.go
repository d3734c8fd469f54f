package migrations

func init() {
	all.MustRegister(sqlUp(
		// When a job first took the asset. Until then the asset expires at
		// expires_at (the upload TTL); from then on it follows the retention
		// of the jobs that use it (see Store.ExpiredSourceAssets).
		`ALTER TABLE source_assets ADD COLUMN used_at {{ts}}`,
		// The reconciler's scan for unused assets past their TTL.
		`CREATE INDEX source_assets_unused_idx ON source_assets (expires_at) WHERE used_at IS NULL AND deleted_at IS NULL`,
		`CREATE INDEX video_jobs_source_asset_idx ON video_jobs (source_asset_id) WHERE source_asset_id IS NOT NULL`,
	), irreversible)
}
