package migrations

func init() {
	all.MustRegister(sqlUp(
		// Redeliveries of a webhook are counted on its receipt, so that
		// operators see how often providers repeat themselves.
		`ALTER TABLE provider_webhook_receipts ADD COLUMN duplicates INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX video_jobs_completed_idx ON video_jobs (completed_at)`,
		`CREATE INDEX video_reviews_created_idx ON video_reviews (created_at)`,
	), irreversible)
}
