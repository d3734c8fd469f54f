package reconciler

// Every Redis key the reconciler uses is built here and nowhere else.
//
// Layout, for prefix "vg":
//
//	vg:{q}:reconciler:lease       the leader's lease: its fencing token, with a TTL
//	vg:{q}:reconciler:generation  the generation marker: a random value, no TTL
//
// Both carry the queue's hash tag {q} (jobs/queue/keys.go), so in Redis
// Cluster they live in the slot of the queue's streams: the node that loses
// the queue's tasks loses the marker with them, and one Lua script can check
// the lease and read or write the marker together.
type keys struct {
	prefix string
}

func (k keys) base() string { return k.prefix + ":{q}:reconciler:" }

// lease holds the leader's token while it leads.
func (k keys) lease() string { return k.base() + "lease" }

// generation is present while Redis still holds what it held when the
// leader last saw it; its absence means Redis lost its data.
func (k keys) generation() string { return k.base() + "generation" }
