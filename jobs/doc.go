// Package jobs is vidgate's domain: the job state machine, the store that
// keeps jobs in PostgreSQL or SQLite, the prompt vault, the authorization
// policy, and the Service that the API calls.
//
// The rules it enforces:
//   - Postgres (or the embedded SQLite) is the source of truth. Every status
//     change is a guarded update (WHERE status = expected) that bumps the
//     job's version and appends its event row in the same transaction. A
//     guard that fails leaves the job as it is and is reported as a
//     *GuardError, never silently.
//   - Nothing moves backwards: the allowed transitions are the table in
//     status.go and nothing else.
//   - The raw prompt lives only in video_job_prompts, encrypted; the jobs
//     table keeps a keyed HMAC of it.
//   - Every error that reaches a client is an *Error with a Code.
//   - Decisions people make (reviews, cancels, retries, API keys) append an
//     audit_log row in the same transaction as the change (audit.go,
//     Store.AppendAudit); audit rows are never updated or deleted.
package jobs
