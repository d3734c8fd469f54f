package queue

// Every Redis key the queue uses is built here and nowhere else.
//
// Layout, for prefix "vg" and kind "submit":
//
//	vg:{q}:stream:submit  stream of live tasks; the consumer group reads it
//	vg:{q}:dead:submit    stream of dead letters (tasks delivered too often)
//	vg:{q}:retry:submit   sorted set of scheduled tasks, scored by due time (Unix ms)
//
// The hash tag {q} puts every key of one prefix in one Redis Cluster slot, so
// a Lua script may touch any of them together. A prefix that itself holds a
// hash tag ("app:{x}") is fine: Redis hashes the first tag, which every key
// of the prefix still shares.
type keys struct {
	prefix string
}

func (k keys) base() string { return k.prefix + ":{q}:" }

// stream is the live stream of kind.
func (k keys) stream(kind Kind) string { return k.base() + "stream:" + string(kind) }

// dead is the dead-letter stream of kind.
func (k keys) dead(kind Kind) string { return k.base() + "dead:" + string(kind) }

// retry is the sorted set of tasks of kind scheduled for later.
func (k keys) retry(kind Kind) string { return k.base() + "retry:" + string(kind) }
