package migrations

func init() {
	all.MustRegister(sqlUp(
		// The review lease: who has the job open in the review dashboard,
		// and until when. Both NULL when nobody does; a lease past its
		// expiry frees the job without anyone clearing it. Cleared when the
		// job leaves COMPLETED.
		`ALTER TABLE video_jobs ADD COLUMN claimed_by VARCHAR(200)`,
		`ALTER TABLE video_jobs ADD COLUMN claim_expires_at {{ts}}`,
	), irreversible)
}
