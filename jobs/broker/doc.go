// Package broker carries live job updates between processes over Redis
// pub/sub, and fans them out to the subscriptions of this process (one per
// GraphQL subscription).
//
// # One connection per process
//
// A Broker owns one Redis pub/sub connection, opened and read by Run. The
// first local Subscribe of a channel sends SUBSCRIBE and returns once Redis
// confirmed it, so a PUBLISH issued after Subscribe returns is received; the
// last Close sends UNSUBSCRIBE. However many browsers follow a channel, Redis
// sees one subscription of this process (PUBSUB NUMSUB counts 1).
// SUBSCRIBE and UNSUBSCRIBE are written by Run's goroutine, batched, in the
// order the reference counts changed; nothing a subscriber does waits on
// Redis except Subscribe waiting for its confirmation.
//
// # State, not a log
//
// A Message is the whole status of one key (a job's public id) at one
// version, so a newer one makes every older one useless. Each Subscription
// therefore keeps at most one pending message per key, the newest, in the
// order keys first arrived, and Next never returns a version at or below one
// it already returned or was told about with Seen. The Redis reader never
// waits on a subscriber: it coalesces into the subscription and wakes its
// reader with a non-blocking signal. A subscription that would need more
// than Config.Buffer distinct pending keys is ended with ErrSlowConsumer;
// its client reconnects and starts again from the current state.
//
// # Losing Redis
//
// Pub/sub keeps nothing for an absent subscriber. When the connection drops
// (a Redis restart, CLIENT KILL, a dead network noticed by a missed PING),
// Run reconnects with a growing, jittered delay and subscribes again to
// every channel that still has local subscribers. Whatever was published in
// between is gone, so once a channel is confirmed on the new connection,
// Next of each subscription that was live before the drop returns ErrGap,
// once: the caller re-reads the current state from the database (and passes
// its version to Seen), then goes on with Next. Delivering ErrGap only after
// the new SUBSCRIBE is confirmed is what makes the re-read safe: any change
// committed after it is published to a subscribed connection.
//
// Typical use by a subscription resolver:
//
//	sub, err := b.Subscribe(ctx, jobs.JobChannel(id)) // before reading the state
//	defer sub.Close()
//	job := read(ctx, id)
//	send(job)
//	sub.Seen(id, job.Version)
//	for {
//		m, err := sub.Next(ctx)
//		switch {
//		case errors.Is(err, broker.ErrGap):
//			job := read(ctx, id)
//			send(job)
//			sub.Seen(id, job.Version)
//		case err != nil:
//			return err // ErrSlowConsumer, ErrClosed, ctx.Err()
//		default:
//			send(m.Payload)
//		}
//	}
//
// # Cost
//
// An idle subscription holds its Subscription (with one signalling
// channel, or none with SubscribeNotify, whose reader needs no goroutine
// while nothing arrives), a slot in its channel's subscriber list, and the highest version
// returned per key. A channel with local subscribers costs one map entry
// here and one in go-redis. BenchmarkSubscriptionMemory measures it.
package broker
