package migrations

func init() {
	all.MustRegister(sqlUp(
		// The transactional enqueue: a task that must follow a change is
		// written here in the change's own transaction, then relayed to its
		// Redis stream and deleted (jobs.Relay). A row is a task not yet
		// known to be on its stream; rows live for milliseconds, or for as
		// long as Redis is unreachable. data is the task's JSON object of
		// strings (NULL: none); due_at, when set, is the time the task is
		// scheduled for (NULL: at once).
		`CREATE TABLE task_outbox (
			id {{id}},
			kind VARCHAR(16) NOT NULL,
			job_id BIGINT NOT NULL REFERENCES video_jobs (id) ON DELETE CASCADE,
			attempt INTEGER NOT NULL DEFAULT 0,
			data TEXT,
			due_at {{ts}},
			created_at {{ts}} NOT NULL
		)`,
		// The relay's scan: rows older than its grace, oldest first.
		`CREATE INDEX task_outbox_created_idx ON task_outbox (created_at, id)`,
	), irreversible)
}
