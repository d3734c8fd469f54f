package keyspace_test

import (
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/keyspace"
	"github.com/vidgate/vidgate/jobs/queue"
)

// slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash
// tag — the text between the first '{' and the first '}' after it, when
// that text is not empty — or of the whole key, modulo 16384.
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// The values CLUSTER KEYSLOT gives, from the Redis Cluster specification
// and redis-cli.
func TestSlot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want uint16
	}{
		{"123456789", 0x31C3 % 16384},
		{"foo", 12182},
		{"somekey", 11058},
		{"{user1000}.following", slot("user1000")},
		{"foo{}{bar}", slot("foo{}{bar}")}, // an empty first tag: the whole key
		{"foo{{bar}}zap", slot("{bar")},
	}
	for _, tt := range tests {
		if got := slot(tt.key); got != tt.want {
			t.Errorf("slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	if slot("foo{}{bar}") == slot("bar") {
		t.Errorf("slot(%q) = slot(%q), want the whole key hashed", "foo{}{bar}", "bar")
	}
}

func kinds() []string {
	var ks []string
	for _, k := range queue.Kinds {
		ks = append(ks, string(k))
	}
	return ks
}

// scripts lists every Lua script of the module, by package and variable
// name, with the KEYS its caller passes (id is a provider, or an owner).
// TestEveryScriptIsListed keeps it complete.
var scripts = map[string]func(ks keyspace.Keyspace, kind, id string) []string{
	"queue.moveDueScript":         func(ks keyspace.Keyspace, _, _ string) []string { return ks.MoveDueKeys(kinds()...) },
	"queue.ackScript":             func(ks keyspace.Keyspace, kind, _ string) []string { return []string{ks.Stream(kind)} },
	"queue.heartbeatScript":       func(ks keyspace.Keyspace, kind, _ string) []string { return []string{ks.Stream(kind)} },
	"queue.claimScript":           func(ks keyspace.Keyspace, kind, _ string) []string { return []string{ks.Stream(kind)} },
	"queue.deadLetterScript":      func(ks keyspace.Keyspace, kind, _ string) []string { return ks.DeadLetterKeys(kind) },
	"queue.replayScript":          func(ks keyspace.Keyspace, kind, _ string) []string { return ks.ReplayKeys(kind) },
	"reconciler.renewScript":      func(ks keyspace.Keyspace, _, _ string) []string { return []string{ks.Lease()} },
	"reconciler.releaseScript":    func(ks keyspace.Keyspace, _, _ string) []string { return []string{ks.Lease()} },
	"reconciler.generationScript": func(ks keyspace.Keyspace, _, _ string) []string { return ks.GenerationKeys() },
	"ratelimit.slideScript":       func(ks keyspace.Keyspace, _, id string) []string { return []string{ks.RateLimit("create", id)} },
	"router.observeScript":        func(ks keyspace.Keyspace, _, id string) []string { return ks.BreakerKeys(id) },
	"router.admitScript":          func(ks keyspace.Keyspace, _, id string) []string { return []string{ks.BreakerState(id)} },
}

// checkSlots reports, for every script, keys it receives that Redis Cluster
// would refuse to run together, and queue and reconciler keys that have
// left the {q} slot they are documented to share.
func checkSlots(t *testing.T, prefix, id string) {
	t.Helper()
	ks := keyspace.New(prefix)
	for name, keys := range scripts {
		for _, kind := range kinds() {
			k := keys(ks, kind, id)
			for _, key := range k[1:] {
				if slot(key) != slot(k[0]) {
					t.Errorf("%s KEYS for prefix %q, kind %s, id %q: slot(%q) = %d, slot(%q) = %d; want one slot",
						name, prefix, kind, id, k[0], slot(k[0]), key, slot(key))
				}
			}
		}
	}
	q := append(ks.MoveDueKeys(kinds()...), ks.GenerationKeys()...)
	for _, kind := range kinds() {
		q = append(q, ks.Dead(kind))
	}
	for _, key := range q {
		if slot(key) != slot(q[0]) {
			t.Errorf("prefix %q: slot(%q) = %d, slot(%q) = %d; want the queue and the reconciler in one slot",
				prefix, q[0], slot(q[0]), key, slot(key))
		}
	}
}

// Every script's keys hash to one slot, which is what makes the scripts
// legal on Redis Cluster; for a prefix with a hash tag of its own too.
func TestScriptKeysShareASlot(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"vg", "vgtest-0a1b2c", "app:{tenant-7}", "a{b", "x}y{", "{a}{}"} {
		for _, id := range []string{"sim", "luma", "veo", "alice", "a}b", "{x}"} {
			checkSlots(t, prefix, id)
		}
	}
	// With its own tag, the prefix decides the slot of all of its keys.
	ks := keyspace.New("app:{tenant-7}")
	if got, want := slot(ks.Stream("submit")), slot("tenant-7"); got != want {
		t.Errorf("slot(%q) = %d, want %d (the prefix's tag)", ks.Stream("submit"), got, want)
	}
}

// Any prefix Check accepts keeps every script in one slot.
func FuzzScriptKeysShareASlot(f *testing.F) {
	for _, s := range []string{"vg", "{", "}", "{}", "a{b}", "{}{x}", "a{}"} {
		f.Add(s, "sim")
	}
	f.Fuzz(func(t *testing.T, prefix, id string) {
		// A provider's name is a tag of its keys: it must not be empty or
		// start with '}' (the package doc says so; the registry's names are
		// lowercase words).
		if keyspace.Check(prefix) != nil || id == "" || id[0] == '}' {
			return
		}
		checkSlots(t, prefix, id)
	})
}
