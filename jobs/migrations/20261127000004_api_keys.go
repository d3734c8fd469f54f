package migrations

func init() {
	all.MustRegister(sqlUp(
		// Partner apps' API keys: only a lookup prefix and a hash are kept;
		// the key itself is shown once, when it is made.
		`CREATE TABLE api_keys (
			id {{id}},
			prefix VARCHAR(32) NOT NULL UNIQUE,
			secret_hash VARCHAR(64) NOT NULL,
			owner_id VARCHAR(200) NOT NULL,
			role VARCHAR(16) NOT NULL,
			name VARCHAR(200) NOT NULL,
			created_at {{ts}} NOT NULL,
			last_used_at {{ts}},
			revoked_at {{ts}}
		)`,
		`CREATE INDEX api_keys_owner_idx ON api_keys (owner_id)`,
	), irreversible)
}
