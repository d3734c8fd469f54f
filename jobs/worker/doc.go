// Package worker moves jobs through their lifecycle. It owns all traffic to
// the providers: workers consume the queue's streams (submit, poll, ingest,
// cancel), and the webhook intake turns verified provider deliveries into
// guarded transitions. Every handler is idempotent: a task delivered twice,
// late, or for an attempt that is over changes nothing, because every
// change is a guarded update in the store.
//
// The life of a job, and who writes each event:
//
//	queued                    API        createVideoJob commits, with its submit task (outbox)
//	submitted                 worker     guarded QUEUED|RETRYING → SUBMITTED, attempt+1,
//	                                     storing the vendor call's idempotency key first
//	provider_request_created  worker     the provider's id for this attempt
//	processing, progress      webhook    (or poll) SUBMITTED → PROCESSING, progress up
//	provider_completed        webhook    (or poll) progress 100, with its ingest task (outbox)
//	ingest_resumed            worker     a delivery continued the copy where an earlier one stopped
//	ingest_restarted          worker     …or could not, and says why (no ranges, the file changed)
//	artifact_stored           worker     the output copied into the bucket, checked
//	completed                 worker     → COMPLETED
//	retrying / failed         worker     transient errors back off; permanent ones fail
package worker
