package queue

import "github.com/redis/go-redis/v9"

// The Lua scripts that change several things at once. Each lists its KEYS,
// ARGV and reply; every key a script touches is built by jobs/keyspace and
// shares the {q} hash tag, so each script runs on one Redis Cluster slot.
//
// They run unchanged on Redis 7 and on miniredis: both give scripts cjson
// and unpack, and both keep a stream's pending entries (XPENDING, XCLAIM,
// XAUTOCLAIM) the same way for what these scripts use. Where they differ,
// the scripts take the common ground:
//   - XCLAIM … JUSTID leaves the delivery count alone on Redis but adds one
//     on miniredis, so the heartbeat passes RETRYCOUNT with the count it read.
//   - XAUTOCLAIM replies with two elements on Redis 6.2, three on Redis 7
//     (the third lists entries that were deleted), and on Redis 6.2 a deleted
//     entry comes back as nil; the claim script reads only the first two and
//     skips nils.

// Stream entries hold a task in these fields. Dead letters add fields whose
// names start with deadFieldPrefix, which Replay strips.
const (
	fieldJob        = "job"
	fieldAttempt    = "attempt"
	fieldData       = "data" // JSON object of strings; absent when empty
	deadFieldPrefix = "dl_"
	fieldDeadReason = "dl_reason"
	fieldDeadID     = "dl_id"         // the entry's id in the live stream
	fieldDeadCount  = "dl_deliveries" // how many times it was delivered
	fieldDeadAt     = "dl_at"         // when it died, Unix ms
)

// moveDueScript moves due scheduled tasks into their streams.
//
// KEYS[2i-1]: retry set of a kind; members are JSON {"n": nonce, "k": kind,
// "f": [field, value, ...]}, scored by due time in Unix ms
// KEYS[2i]:   that kind's stream
// ARGV[1]: now, Unix ms: members scored <= now are due
// ARGV[2]: most members moved per kind in one call
// ARGV[3]: approximate MAXLEN of the streams
//
// Reply: {moved, dropped}; dropped counts members that could not be decoded.
// They are removed all the same (the reconciler rebuilds their work), since
// left in place they would fail every call forever.
var moveDueScript = redis.NewScript(`
local function valid(f)
	if type(f) ~= 'table' or #f == 0 or #f % 2 ~= 0 then return false end
	for _, v in ipairs(f) do
		if type(v) ~= 'string' then return false end
	end
	return true
end
local moved, dropped = 0, 0
for i = 1, #KEYS, 2 do
	local due = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
	for _, m in ipairs(due) do
		local ok, t = pcall(cjson.decode, m)
		if ok and type(t) == 'table' and valid(t.f) then
			redis.call('XADD', KEYS[i + 1], 'MAXLEN', '~', ARGV[3], '*', unpack(t.f))
			moved = moved + 1
		else
			dropped = dropped + 1
		end
		redis.call('ZREM', KEYS[i], m)
	end
end
return {moved, dropped}
`)

// ackScript acknowledges an entry and deletes it, so that the stream holds
// only work not yet done: its length is the backlog, and MAXLEN trims only
// when the backlog itself overflows.
//
// KEYS[1]: stream
// ARGV[1]: group
// ARGV[2]: entry id
//
// Reply: 1 if the entry was pending in the group, else 0 (acknowledged
// already, or lost with Redis's data).
var ackScript = redis.NewScript(`
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return n
`)

// heartbeatScript resets the idle time of entries a consumer is still
// working on, so that no other consumer takes them over. An entry that is no
// longer the consumer's is left alone: claiming it back would make two
// workers run it at once.
//
// KEYS[1]: stream
// ARGV[1]: group
// ARGV[2]: consumer
// ARGV[3...]: ids of the entries the consumer is working on
//
// Reply: the ids the consumer no longer owns (taken over by another
// consumer, acknowledged, or lost with Redis's data).
var heartbeatScript = redis.NewScript(`
local lost = {}
for i = 3, #ARGV do
	local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
	if #p == 1 then
		redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'RETRYCOUNT', p[1][4], 'JUSTID')
	else
		lost[#lost + 1] = ARGV[i]
	end
end
return lost
`)

// claimScript takes over entries that have been pending, untouched, for
// longer than the visibility timeout (their consumer died, or its handler
// failed), and reports how many times each has now been delivered.
// XAUTOCLAIM adds one to the count; it does not reply with it.
//
// KEYS[1]: stream
// ARGV[1]: group
// ARGV[2]: consumer taking the entries
// ARGV[3]: minimum idle time, ms
// ARGV[4]: cursor: the id to start scanning the pending entries from ("0-0" at first)
// ARGV[5]: most entries to take
//
// Reply: {next cursor, {{id, deliveries, {field, value, ...}}, ...}}
var claimScript = redis.NewScript(`
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
	if type(e) == 'table' and type(e[2]) == 'table' then
		local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
		local n = 1
		if #p == 1 then n = p[1][4] end
		out[#out + 1] = {e[1], n, e[2]}
	end
end
return {r[1], out}
`)

// deadLetterScript moves an entry to the dead-letter stream of its kind:
// it adds the dead letter, acknowledges the entry and deletes it.
//
// KEYS[1]: stream
// KEYS[2]: dead-letter stream of the same kind
// ARGV[1]: group
// ARGV[2]: entry id
// ARGV[3]: approximate MAXLEN of the dead-letter stream
// ARGV[4...]: fields of the dead letter: the entry's own, then the dl_ ones
//
// Reply: the id of the dead letter.
var deadLetterScript = redis.NewScript(`
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return id
`)

// replayScript moves dead letters back to their live stream as fresh
// entries (delivery count starting over), without their dl_ fields, and
// deletes them from the dead-letter stream.
//
// KEYS[1]: dead-letter stream
// KEYS[2]: live stream of the same kind
// ARGV[1]: id of the dead letter to replay, or empty for the oldest ones
// ARGV[2]: how many of the oldest to replay when ARGV[1] is empty
// ARGV[3]: approximate MAXLEN of the live stream
//
// Reply: how many dead letters were replayed.
var replayScript = redis.NewScript(`
local entries
if ARGV[1] ~= '' then
	entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
else
	entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])
end
for _, e in ipairs(entries) do
	local f = {}
	for i = 1, #e[2], 2 do
		if string.sub(e[2][i], 1, 3) ~= 'dl_' then
			f[#f + 1] = e[2][i]
			f[#f + 1] = e[2][i + 1]
		end
	end
	if #f > 0 then
		redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(f))
	end
	redis.call('XDEL', KEYS[1], e[1])
end
return #entries
`)
