package migrations

func init() {
	all.MustRegister(sqlUp(
		// The idempotency key of the vendor call of the job's current
		// attempt, written by the transition that precedes the call, so that
		// no Redis loss or worker takeover can make a retry ask the vendor
		// for a second paid generation under a new key. NULL for jobs never
		// submitted (and jobs submitted before this column existed).
		`ALTER TABLE video_jobs ADD COLUMN submit_key VARCHAR(128)`,
	), irreversible)
}
