// Package queue is vidgate's durable task queue: one Redis stream per task
// kind, read by one consumer group of workers, with retries scheduled in
// sorted sets and dead letters kept in streams of their own.
//
// The queue carries wake-ups, not state. PostgreSQL is the source of truth:
// a handler reads the job, does its work, records the outcome, and only then
// returns nil, which acknowledges the entry. Losing Redis (a FLUSHALL, a
// restart without persistence) may delay work but never loses it, because
// the reconciler rebuilds entries from the database; Run itself survives
// such an outage and recreates its streams and group when Redis is back.
//
// Delivery is at least once, so handlers must be idempotent and use
// Task.Attempt to spot tasks that belong to an older attempt of the job:
//   - An entry is delivered to one consumer and stays pending in the group
//     until its handler returns nil (XACK, then XDEL so the stream holds only
//     unfinished work).
//   - A handler that returns an error leaves its entry pending; once it has
//     been idle for Config.VisibilityTimeout any consumer takes it over
//     (XAUTOCLAIM) and delivers it again with Task.Deliveries one higher.
//   - While a handler runs, its entry's idle time is refreshed every third of
//     the visibility timeout, so a long handler is never taken over from a
//     live worker; a worker that dies stops refreshing and loses its entries.
//   - An entry delivered more than Config.MaxDeliveries times is handed to the
//     DeadLetterFunc (to fail the job with a clear code) and then moved to
//     the kind's dead-letter stream, from which operators can Replay it.
//   - Schedule puts a task in its kind's retry set (a sorted set scored by due
//     time); Run moves due tasks to their stream with one Lua script, so a
//     task is never in both places or in neither.
//
// Every key is built by jobs/keyspace, whose package doc is the keyspace's
// documentation, and shares the hash tag {q}, so every Lua script touches
// one cluster slot and the queue works on Redis Cluster. The scripts, with
// their KEYS, ARGV and replies, are in scripts.go. The
// background services Run starts each have a file: consume.go (readers and
// handlers), heartbeat.go, claimer.go and scheduler.go.
package queue
