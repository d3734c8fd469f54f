package migrations

func init() {
	all.MustRegister(sqlUp(
		// The options a job asks its model for (createVideoJob's seed,
		// audio and endFrameAssetId); NULL: not asked for. The negative
		// prompt is user text: it is sealed with the prompt in
		// video_job_prompts, and only its keyed hash is here, so that an
		// idempotent replay can be compared without the text.
		`ALTER TABLE video_jobs ADD COLUMN seed BIGINT`,
		`ALTER TABLE video_jobs ADD COLUMN audio BOOLEAN`,
		`ALTER TABLE video_jobs ADD COLUMN negative_prompt_hash VARCHAR(64)`,
		`ALTER TABLE video_jobs ADD COLUMN end_frame_asset_id BIGINT REFERENCES source_assets (id)`,
		`CREATE INDEX video_jobs_end_frame_asset_idx ON video_jobs (end_frame_asset_id) WHERE end_frame_asset_id IS NOT NULL`,
	), irreversible)
}
