package migrations

func init() {
	all.MustRegister(sqlUp(
		`CREATE TABLE source_assets (
			id {{id}},
			public_id VARCHAR(36) NOT NULL UNIQUE,
			owner_id VARCHAR(200) NOT NULL,
			storage_key VARCHAR(500) NOT NULL,
			mime_type VARCHAR(100) NOT NULL,
			size_bytes BIGINT NOT NULL,
			width INTEGER NOT NULL,
			height INTEGER NOT NULL,
			sha256 VARCHAR(64) NOT NULL,
			created_at {{ts}} NOT NULL,
			expires_at {{ts}},
			deleted_at {{ts}}
		)`,
		`CREATE INDEX source_assets_owner_idx ON source_assets (owner_id, id)`,
		`CREATE INDEX source_assets_expires_idx ON source_assets (expires_at) WHERE deleted_at IS NULL`,

		`CREATE TABLE video_jobs (
			id {{id}},
			public_id VARCHAR(36) NOT NULL UNIQUE,
			owner_id VARCHAR(200) NOT NULL,
			workflow_type VARCHAR(32) NOT NULL,
			provider VARCHAR(64) NOT NULL,
			provider_request_id VARCHAR(255),
			status VARCHAR(16) NOT NULL,
			version BIGINT NOT NULL,
			progress INTEGER NOT NULL DEFAULT 0,
			duration_seconds INTEGER NOT NULL,
			aspect_ratio VARCHAR(16) NOT NULL,
			resolution VARCHAR(16) NOT NULL,
			model VARCHAR(200) NOT NULL DEFAULT '',
			source_asset_id BIGINT REFERENCES source_assets (id),
			prompt_hash VARCHAR(64) NOT NULL,
			attempt INTEGER NOT NULL DEFAULT 0,
			next_attempt_at {{ts}},
			error_code VARCHAR(64),
			error_message TEXT,
			idempotency_key VARCHAR(128),
			created_at {{ts}} NOT NULL,
			updated_at {{ts}} NOT NULL,
			submitted_at {{ts}},
			completed_at {{ts}},
			reviewed_at {{ts}},
			expires_at {{ts}},
			CHECK (progress BETWEEN 0 AND 100)
		)`,
		// NULLs are distinct in unique indexes on both dialects, so jobs
		// without a key or a provider request id never collide.
		`CREATE UNIQUE INDEX video_jobs_idempotency_idx ON video_jobs (owner_id, idempotency_key)`,
		`CREATE UNIQUE INDEX video_jobs_provider_request_idx ON video_jobs (provider, provider_request_id)`,
		// Keyset pagination: an owner's jobs newest first; everyone's jobs by status.
		`CREATE INDEX video_jobs_owner_idx ON video_jobs (owner_id, id)`,
		`CREATE INDEX video_jobs_status_idx ON video_jobs (status, id)`,
		// The reconciler's scans: non-terminal jobs by how long they have been idle.
		`CREATE INDEX video_jobs_status_updated_idx ON video_jobs (status, updated_at)`,

		`CREATE TABLE video_job_events (
			id {{id}},
			job_id BIGINT NOT NULL REFERENCES video_jobs (id),
			version BIGINT NOT NULL,
			event_type VARCHAR(64) NOT NULL,
			previous_status VARCHAR(16),
			new_status VARCHAR(16) NOT NULL,
			source VARCHAR(16) NOT NULL,
			actor_id VARCHAR(200),
			message TEXT,
			error_code VARCHAR(64),
			created_at {{ts}} NOT NULL
		)`,
		`CREATE INDEX video_job_events_job_idx ON video_job_events (job_id, id)`,
		`CREATE INDEX video_job_events_created_idx ON video_job_events (created_at)`,

		`CREATE TABLE video_job_prompts (
			job_id BIGINT PRIMARY KEY REFERENCES video_jobs (id),
			key_id VARCHAR(64) NOT NULL,
			ciphertext {{bytes}} NOT NULL,
			created_at {{ts}} NOT NULL
		)`,

		`CREATE TABLE provider_webhook_receipts (
			id {{id}},
			provider VARCHAR(64) NOT NULL,
			provider_event_id VARCHAR(255) NOT NULL,
			provider_request_id VARCHAR(255),
			payload_hash VARCHAR(64) NOT NULL,
			outcome VARCHAR(16) NOT NULL,
			received_at {{ts}} NOT NULL,
			UNIQUE (provider, provider_event_id)
		)`,
		`CREATE INDEX provider_webhook_receipts_received_idx ON provider_webhook_receipts (received_at)`,

		`CREATE TABLE video_artifacts (
			id {{id}},
			public_id VARCHAR(36) NOT NULL UNIQUE,
			job_id BIGINT NOT NULL REFERENCES video_jobs (id),
			kind VARCHAR(16) NOT NULL,
			storage_key VARCHAR(500) NOT NULL,
			mime_type VARCHAR(100) NOT NULL,
			size_bytes BIGINT NOT NULL,
			sha256 VARCHAR(64) NOT NULL,
			duration_seconds DOUBLE PRECISION,
			width INTEGER,
			height INTEGER,
			created_at {{ts}} NOT NULL,
			expires_at {{ts}},
			deleted_at {{ts}},
			UNIQUE (job_id, kind)
		)`,
		`CREATE INDEX video_artifacts_expires_idx ON video_artifacts (expires_at) WHERE deleted_at IS NULL`,

		`CREATE TABLE video_reviews (
			id {{id}},
			job_id BIGINT NOT NULL REFERENCES video_jobs (id),
			reviewer_id VARCHAR(200) NOT NULL,
			decision VARCHAR(16) NOT NULL,
			reasons VARCHAR(500) NOT NULL DEFAULT '',
			note TEXT,
			created_at {{ts}} NOT NULL
		)`,
		`CREATE INDEX video_reviews_job_idx ON video_reviews (job_id, id)`,
	), irreversible)
}
