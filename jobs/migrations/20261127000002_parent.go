package migrations

func init() {
	all.MustRegister(sqlUp(
		// retryVideoJob links the new job to the one it retries.
		`ALTER TABLE video_jobs ADD COLUMN parent_id BIGINT REFERENCES video_jobs (id)`,
		`CREATE INDEX video_jobs_parent_idx ON video_jobs (parent_id)`,
		// The reconciler's expiry scan.
		`CREATE INDEX video_jobs_expires_idx ON video_jobs (expires_at)`,
	), irreversible)
}
