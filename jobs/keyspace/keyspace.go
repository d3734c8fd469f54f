package keyspace

import (
	"errors"
	"strings"
)

// DefaultPrefix starts every key and channel when no prefix is configured
// (the --redis-prefix flag's default).
const DefaultPrefix = "vg"

// Keyspace builds the Redis keys and channel names of one prefix. The zero
// value is not usable; call New. A Keyspace is a plain value: copy it freely.
type Keyspace struct {
	prefix string
}

// New returns the keyspace of prefix ("" is DefaultPrefix).
func New(prefix string) Keyspace {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Keyspace{prefix: prefix}
}

// ErrEmptyHashTag is returned by Check for a prefix whose first '{' is
// followed at once by '}'.
var ErrEmptyHashTag = errors.New("redis prefix starts an empty hash tag \"{}\"")

// Check reports whether prefix keeps every script's keys in one Redis
// Cluster slot. Redis hashes the text between a key's first '{' and the
// first '}' after it, unless that text is empty: then it hashes the whole
// key. So a prefix such as "a{}b" would send each queue key to a slot of its
// own, and the scripts that move tasks between them would fail on a
// cluster. Every other prefix is fine: one with a tag of its own ("app:{x}")
// puts all of its keys in x's slot, and an unclosed '{' ends at the '}' of
// {q}, which every queue key shares.
func Check(prefix string) error {
	if i := strings.IndexByte(prefix, '{'); i >= 0 && strings.HasPrefix(prefix[i+1:], "}") {
		return ErrEmptyHashTag
	}
	return nil
}

// Prefix is the prefix every key and channel starts with.
func (k Keyspace) Prefix() string { return k.prefix }

// Match is the SCAN (and PSUBSCRIBE) pattern of every key and channel of
// the prefix, its glob characters escaped.
func (k Keyspace) Match() string {
	var b strings.Builder
	for _, r := range k.prefix {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String() + ":*"
}

// queue is the start of every key in the {q} slot.
func (k Keyspace) queue() string { return k.prefix + ":{q}:" }

// Stream is the live stream of a queue kind.
func (k Keyspace) Stream(kind string) string { return k.queue() + "stream:" + kind }

// Dead is the dead-letter stream of a queue kind.
func (k Keyspace) Dead(kind string) string { return k.queue() + "dead:" + kind }

// Retry is the sorted set of a queue kind's tasks scheduled for later.
func (k Keyspace) Retry(kind string) string { return k.queue() + "retry:" + kind }

// Lease is the reconciler leader's lease.
func (k Keyspace) Lease() string { return k.queue() + "reconciler:lease" }

// Generation is the reconciler's generation marker.
func (k Keyspace) Generation() string { return k.queue() + "reconciler:generation" }

// RateLimit is one owner's sliding window of the limiter named name.
func (k Keyspace) RateLimit(name, owner string) string {
	return k.prefix + ":ratelimit:" + name + ":" + owner
}

// breaker is the start of a provider's breaker keys; the provider is their
// hash tag.
func (k Keyspace) breaker(provider string) string {
	return k.prefix + ":breaker:{" + provider + "}:"
}

// BreakerState is the hash of a provider's shared circuit breaker state.
func (k Keyspace) BreakerState(provider string) string { return k.breaker(provider) + "state" }

// BreakerFails is the list of a provider's current run of failures.
func (k Keyspace) BreakerFails(provider string) string { return k.breaker(provider) + "fails" }

// The KEYS of each script that takes more than one key, in the order the
// script reads them. Each set shares one hash tag (see the package doc).

// MoveDueKeys are the KEYS of queue's moveDueScript: each kind's retry set
// followed by its stream.
func (k Keyspace) MoveDueKeys(kinds ...string) []string {
	keys := make([]string, 0, 2*len(kinds))
	for _, kind := range kinds {
		keys = append(keys, k.Retry(kind), k.Stream(kind))
	}
	return keys
}

// DeadLetterKeys are the KEYS of queue's deadLetterScript.
func (k Keyspace) DeadLetterKeys(kind string) []string {
	return []string{k.Stream(kind), k.Dead(kind)}
}

// ReplayKeys are the KEYS of queue's replayScript.
func (k Keyspace) ReplayKeys(kind string) []string {
	return []string{k.Dead(kind), k.Stream(kind)}
}

// GenerationKeys are the KEYS of reconciler's generationScript.
func (k Keyspace) GenerationKeys() []string {
	return []string{k.Lease(), k.Generation()}
}

// BreakerKeys are the KEYS of router's observeScript (admitScript takes
// the first only).
func (k Keyspace) BreakerKeys(provider string) []string {
	return []string{k.BreakerState(provider), k.BreakerFails(provider)}
}

// Channel is the pub/sub channel name of a live channel (JobChannel,
// OwnerChannel, ReviewChannel): the prefix, a colon, and the name.
func (k Keyspace) Channel(name string) string { return k.prefix + ":" + name }

// Live channel names, before Channel adds the prefix. The broker takes
// these names and prefixes them itself.

// ReviewChannel carries jobs entering or leaving review.
const ReviewChannel = "review"

// JobChannel carries every change of one job.
func JobChannel(publicID string) string { return "job:" + publicID }

// OwnerChannel carries every change of one owner's jobs.
func OwnerChannel(ownerID string) string { return "owner:" + ownerID }
