package migrations

func init() {
	all.MustRegister(sqlUp(
		// The audit trail: who did what to what, when and from where. Rows
		// are only ever inserted; nothing in vidgate updates or deletes them.
		// detail is a small JSON object that never holds a prompt or a secret.
		`CREATE TABLE audit_log (
			id {{id}},
			created_at {{ts}} NOT NULL,
			actor_subject VARCHAR(200) NOT NULL,
			actor_role VARCHAR(16) NOT NULL,
			action VARCHAR(64) NOT NULL,
			target_kind VARCHAR(32) NOT NULL,
			target_id VARCHAR(200) NOT NULL,
			detail TEXT,
			client_ip VARCHAR(64),
			user_agent VARCHAR(256),
			request_id VARCHAR(64)
		)`,
		`CREATE INDEX audit_log_action_idx ON audit_log (action, id)`,
		`CREATE INDEX audit_log_actor_idx ON audit_log (actor_subject, id)`,
		`CREATE INDEX audit_log_created_idx ON audit_log (created_at)`,
	), irreversible)
}
