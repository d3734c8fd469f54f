// Package keyspace builds every Redis key and pub/sub channel name vidgate
// uses, and is the documentation of its Redis keyspace. No other package
// assembles a key: the queue, the reconciler, the rate limiter, the shared
// circuit breakers and the live-update broker all ask a Keyspace, and a
// test (TestNoKeyBuiltOutside) fails when a key-shaped string literal
// appears anywhere else in the module.
//
// Redis only carries wake-ups, limits and notifications. PostgreSQL is the
// source of truth: every key below may be lost (FLUSHALL, a restart without
// persistence), and the reconciler rebuilds the queue from the database.
//
// # Keys
//
// Every key starts with the prefix (--redis-prefix, default "vg"), so that
// deployments and tests can share one Redis. For prefix "vg", queue kind K
// (submit, poll, ingest, cancel), limiter N, owner O and provider P:
//
//	vg:{q}:stream:K   Stream. K's live tasks; the consumer group "workers"
//	                  reads it. No TTL: an entry is deleted (XDEL) when it is
//	                  acknowledged, so the length is the backlog; XADD
//	                  MAXLEN ~ queue.Config.MaxLen trims only an overflowing
//	                  backlog. Created with its group by XGROUP CREATE
//	                  MKSTREAM. Scripts: ackScript, heartbeatScript,
//	                  claimScript, deadLetterScript, replayScript,
//	                  moveDueScript.
//	vg:{q}:dead:K     Stream. K's dead letters: tasks delivered more than
//	                  MaxDeliveries times, with dl_* fields. No TTL; MAXLEN ~
//	                  MaxLen. Scripts: deadLetterScript, replayScript.
//	vg:{q}:retry:K    Sorted set. K's tasks scheduled for later, scored by
//	                  due time (Unix ms); members are JSON {"n","k","f"}. No
//	                  TTL: moveDueScript empties it as tasks fall due.
//	vg:{q}:reconciler:lease
//	                  String. The reconciler leader's fencing token. TTL:
//	                  reconciler.Config.Lease (30 s), renewed every third of
//	                  it. Taken by SET NX PX. Scripts: renewScript,
//	                  releaseScript, generationScript.
//	vg:{q}:reconciler:generation
//	                  String. The generation marker: a random value, no TTL.
//	                  Its absence tells the leader that Redis lost its data,
//	                  and the leader rebuilds every live job's task.
//	                  Scripts: generationScript.
//	vg:ratelimit:N:O  Sorted set. O's events in limiter N's sliding window
//	                  (N is "create"), scored by time (Unix ms). TTL: the
//	                  window, from the last event. Scripts: slideScript.
//	vg:breaker:{P}:state
//	                  Hash: state (open | half-open; no key means closed),
//	                  opened and trial (Unix ms). TTL: 4 cooldowns plus a
//	                  window after its last change. Read by HMGET. Scripts:
//	                  observeScript, admitScript.
//	vg:breaker:{P}:fails
//	                  List. Unix ms of P's current run of consecutive
//	                  failures within the window. TTL: a window after the
//	                  last one. Scripts: observeScript.
//
// # Channels
//
// Pub/sub channels hold nothing; every process publishes each committed
// change of a job (jobs.PublishChanges) and subscribers resynchronise from
// the database after a gap. The broker (jobs/broker) takes the names
// JobChannel, OwnerChannel and ReviewChannel build and adds the prefix:
//
//	vg:job:<public id>   every change of one job
//	vg:owner:<owner id>  every change of one owner's jobs
//	vg:review            jobs entering or leaving review (COMPLETED)
//
// Classic PUBLISH reaches every node of a Redis Cluster whatever the
// channel's slot, so channels carry no hash tag.
//
// # Hash tags and Redis Cluster
//
// A Lua script may only touch keys of one cluster slot, and Redis hashes
// only the text between a key's first '{' and the '}' after it. So:
//
//   - Every queue key and both reconciler keys carry the one tag {q}. Each
//     queue script sees one slot (moveDueScript takes every kind's retry set
//     and stream in one call), and generationScript checks the lease and the
//     marker together. It also puts the marker on the node that holds the
//     queue: a node that loses its data loses the marker with the tasks,
//     which is exactly when a rebuild is due.
//   - The consequence: the whole queue of one deployment (one prefix) lives
//     in one slot, on one master, however many nodes the cluster has. The
//     queue scales up, not out; a cluster gives failover, not throughput.
//     Spreading queues over slots (a tag per kind or partition, with
//     moveDueScript called per tag) is separate, open work.
//   - A provider's two breaker keys share the tag {P}, so observeScript sees
//     one slot; different providers spread over the cluster.
//   - A rate-limit window is one key; slideScript touches nothing else, so
//     it needs no tag.
//   - A prefix with a tag of its own ("app:{x}") puts every key of the
//     prefix in x's slot: Redis hashes the first tag. Every script still
//     sees one slot. A prefix whose first '{' is followed at once by '}'
//     would not (an empty tag makes Redis hash the whole key); Check
//     rejects it, and queue.New calls Check. Likewise a provider's name
//     must not be empty or start with '}', or its breaker keys would hash
//     apart (the registry's names are lowercase words).
//
// TestScriptKeysShareASlot computes the CRC16 slot of every script's keys,
// for several prefixes, and TestEveryScriptIsListed fails when a script is
// added without an entry here and in that test.
//
// # Scripts
//
// Each Lua script stays beside the Go code that calls it and reads its
// reply (the queue's field names, the breaker's state parsing): moved here,
// a script and its caller would be read in two packages. Instead, every
// script takes its KEYS from this package (the *Keys methods for the ones
// that take several), and is listed here with its KEYS, ARGV and reply;
// the script's own header comment has the details.
//
// jobs/queue (scripts.go):
//
//	moveDueScript     KEYS MoveDueKeys(kinds...): retry set, stream, for
//	                  each kind. ARGV now ms, batch, MAXLEN. Reply {moved,
//	                  dropped}. Moves due scheduled tasks to their streams.
//	ackScript         KEYS Stream(K). ARGV group, entry id. Reply 1 if the
//	                  entry was pending, else 0. XACK then XDEL.
//	heartbeatScript   KEYS Stream(K). ARGV group, consumer, ids... Reply the
//	                  ids the consumer no longer owns. Resets idle times.
//	claimScript       KEYS Stream(K). ARGV group, consumer, min idle ms,
//	                  cursor, count. Reply {cursor, {{id, deliveries,
//	                  fields}...}}. XAUTOCLAIM of stale entries.
//	deadLetterScript  KEYS DeadLetterKeys(K): stream, dead. ARGV group, id,
//	                  MAXLEN, fields... Reply the dead letter's id.
//	replayScript      KEYS ReplayKeys(K): dead, stream. ARGV id or "",
//	                  count, MAXLEN. Reply how many were replayed.
//
// jobs/reconciler (lease.go, reconciler.go):
//
//	renewScript       KEYS Lease(). ARGV token, lease ms. Reply 1 if
//	                  renewed, 0 if the token does not hold the lease.
//	releaseScript     KEYS Lease(). ARGV token. Reply 1 if released, else 0.
//	generationScript  KEYS GenerationKeys(): lease, generation. ARGV token
//	                  ("" unfenced), new value ("" to read). Reply -1 if the
//	                  token lost the lease, else 1 if the marker exists (or
//	                  was written), 0 if not.
//
// jobs/ratelimit (ratelimit.go):
//
//	slideScript       KEYS RateLimit(N, O). ARGV now ms, window ms, limit,
//	                  unique member. Reply {1, 0} if allowed, {0, ms to wait}
//	                  if not.
//
// providers/router (shared.go):
//
//	observeScript     KEYS BreakerKeys(P): state, fails. ARGV now, started,
//	                  failed (1/0), failures, window, cooldown, ttl (ms).
//	                  Reply {state, opened, trial}. Records one outcome.
//	admitScript       KEYS BreakerState(P). ARGV now, cooldown, ttl (ms).
//	                  Reply {state, opened, trial, ok, isTrial}. Admits a
//	                  job, claiming the half-open trial.
package keyspace
