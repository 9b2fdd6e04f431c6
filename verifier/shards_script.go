package verifier

import (
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// The scripts of a sharded drop (shards > 1; see shards.go). Each keeps
// to one slot: the shard scripts to one shard's `{d:<drop>:s<i>}`, the
// commit and void scripts to the drop's own `{d:<drop>}`.
//
// The scripts whose writes a claim's 201 stands on are Replicated (with
// redis_wait_replicas, answered only once the replicas hold them): the
// reservation (unit and viewer's mark), a unit taken from a donor, the
// commit, and the voids that let an attempt or a transfer be undone. A
// write lost with its master must never leave a unit counted twice or a
// viewer unmarked; the scripts that give a unit back may lose theirs (a
// unit is then held until Reconcile, never sold twice).
//
// Stock lines reach the shard scripts as ARGV triples (field, this
// shard's share of the configured qty, eligible 1|0) after a count; a
// field the shard has no count for yet starts at its share, as the
// single-slot claim script starts a line at its qty.

// reserveScript is a claim's first step, on the viewer's home shard: an
// idempotent retry, the viewer's limit, then (when a unit was moved here
// for it) the credit of that unit, then one unit of the first eligible
// line with stock, reserved for the claim id; the viewer's record is
// written as the single-slot script writes it. Everything is checked
// before the first write.
//
// KEYS: 1 shard stock hash, 2 shard viewer hash, 3 shard reservations
// ("<claim id>" → "<ms>\t<field>\t<viewer>\t<idempotency key>"), 4 shard
// transfers in ("<transfer id>" → "in" | "void"), 5 shard transfers out.
// ARGV: 1 per_viewer, 2 idempotency key, 3 claim id, 4 now ms, 5 viewer
// ttl ms, 6 transfer id ("": none), 7 credited field, 8 viewer, 9 L,
// then L triples.
//
// Returns {"reserved", field, line left, shard left}, {"existing", id}
// or {"empty", shard left, units in flight (reserved for claims not yet
// settled, or moved out and not yet settled)}; error replies
// "already_claimed:<id>", "transfer_void".
var reserveScript = store.NewScript("claim-reserve", `
local vh = KEYS[2]
if ARGV[2] ~= '' then
  local prev = redis.call('HGET', vh, 'i:' .. ARGV[2])
  if prev then return {'existing', prev} end
end
local n = tonumber(redis.call('HGET', vh, 'n') or '0')
if n >= tonumber(ARGV[1]) then
  return redis.error_reply('already_claimed:' .. (redis.call('HGET', vh, 'last') or ''))
end
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[6]) == 1 then
  return redis.error_reply('transfer_void')
end
local nlines = tonumber(ARGV[9])
for i = 0, nlines - 1 do
  redis.call('HSETNX', KEYS[1], ARGV[10 + i * 3], ARGV[11 + i * 3])
end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[6], 'in')
  redis.call('PEXPIRE', KEYS[4], 604800000)
  redis.call('HINCRBY', KEYS[1], ARGV[7], 1)
end
local total, chosen = 0, nil
for i = 0, nlines - 1 do
  local b = 10 + i * 3
  local v = tonumber(redis.call('HGET', KEYS[1], ARGV[b])) or 0
  if v > 0 then
    total = total + v
    if not chosen and ARGV[b + 2] == '1' then chosen = b end
  end
end
if not chosen then
  return {'empty', total, redis.call('HLEN', KEYS[3]) + redis.call('HLEN', KEYS[5])}
end
local field = ARGV[chosen]
local left = redis.call('HINCRBY', KEYS[1], field, -1)
local id = ARGV[3]
redis.call('HSET', KEYS[3], id, ARGV[4] .. '\t' .. field .. '\t' .. ARGV[8] .. '\t' .. ARGV[2])
redis.call('HINCRBY', vh, 'n', 1)
redis.call('HSET', vh, 'last', id)
if ARGV[2] ~= '' then redis.call('HSET', vh, 'i:' .. ARGV[2], id) end
redis.call('PEXPIRE', vh, ARGV[5])
return {'reserved', field, left, total - 1}
`, func(tx store.Tx, keys, argv []string) (any, error) {
	vh := keys[1]
	if argv[1] != "" {
		if prev, ok := tx.HGet(vh, "i:"+argv[1]); ok {
			return []any{"existing", prev}, nil
		}
	}
	n, _ := tx.HGet(vh, "n")
	if num(n) >= num(argv[0]) {
		last, _ := tx.HGet(vh, "last")
		return nil, &store.ScriptError{Code: "already_claimed:" + last}
	}
	if argv[5] != "" {
		if _, ok := tx.HGet(keys[3], argv[5]); ok {
			return nil, &store.ScriptError{Code: "transfer_void"}
		}
	}
	nlines := int(num(argv[8]))
	initShare(tx, keys[0], argv[9:9+3*nlines])
	if argv[5] != "" {
		tx.HSet(keys[3], argv[5], "in")
		tx.Expire(keys[3], 7*24*time.Hour)
		tx.HIncrBy(keys[0], argv[6], 1)
	}
	total, chosen := pickLine(tx, keys[0], argv[9:9+3*nlines])
	if chosen == "" {
		return []any{"empty", total, tx.HLen(keys[2]) + tx.HLen(keys[4])}, nil
	}
	left := tx.HIncrBy(keys[0], chosen, -1)
	id := argv[2]
	tx.HSet(keys[2], id, argv[3]+"\t"+chosen+"\t"+argv[7]+"\t"+argv[1])
	tx.HIncrBy(vh, "n", 1)
	tx.HSet(vh, "last", id)
	if argv[1] != "" {
		tx.HSet(vh, "i:"+argv[1], id)
	}
	tx.Expire(vh, time.Duration(num(argv[4]))*time.Millisecond)
	return []any{"reserved", chosen, left, total - 1}, nil
}).Replicated()

// takeScript moves one unit out of a donor shard for a viewer whose home
// shard has none: it takes one unit of the first eligible line with
// stock and logs the transfer, so that a unit never credited at home
// comes back (see Claims.Reconcile).
//
// KEYS: 1 shard stock hash, 2 shard transfers out ("<transfer id>" →
// "<ms>\t<field>\t<home shard>"), 3 shard reservations. ARGV: 1 transfer
// id, 2 now ms, 3 home shard, 4 L, then L triples. Returns {field, shard
// left, units in flight (as reserveScript)}; field "" when the shard has
// no eligible unit.
var takeScript = store.NewScript("stock-take", `
local nlines = tonumber(ARGV[4])
for i = 0, nlines - 1 do
  redis.call('HSETNX', KEYS[1], ARGV[5 + i * 3], ARGV[6 + i * 3])
end
local total, chosen = 0, nil
for i = 0, nlines - 1 do
  local b = 5 + i * 3
  local v = tonumber(redis.call('HGET', KEYS[1], ARGV[b])) or 0
  if v > 0 then
    total = total + v
    if not chosen and ARGV[b + 2] == '1' then chosen = b end
  end
end
if not chosen then return {'', total, redis.call('HLEN', KEYS[2]) + redis.call('HLEN', KEYS[3])} end
redis.call('HINCRBY', KEYS[1], ARGV[chosen], -1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '\t' .. ARGV[chosen] .. '\t' .. ARGV[3])
return {ARGV[chosen], total - 1, 0}
`, func(tx store.Tx, keys, argv []string) (any, error) {
	nlines := int(num(argv[3]))
	lines := argv[4 : 4+3*nlines]
	initShare(tx, keys[0], lines)
	total, chosen := pickLine(tx, keys[0], lines)
	if chosen == "" {
		return []any{"", total, tx.HLen(keys[1]) + tx.HLen(keys[2])}, nil
	}
	tx.HIncrBy(keys[0], chosen, -1)
	tx.HSet(keys[1], argv[0], argv[1]+"\t"+chosen+"\t"+argv[2])
	return []any{chosen, total - 1, int64(0)}, nil
}).Replicated()

// giveBackScript returns a transferred unit to its donor, once: only
// while the transfer is still logged there.
// KEYS: 1 shard stock hash, 2 shard transfers out. ARGV: 1 transfer id.
// Returns 1 when the unit went back, 0 when it had already.
var giveBackScript = store.NewScript("stock-give-back", `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local field = string.match(v, '^[^\t]*\t([^\t]*)')
redis.call('HINCRBY', KEYS[1], field, 1)
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	v, ok := tx.HGet(keys[1], argv[0])
	if !ok {
		return int64(0), nil
	}
	tx.HDel(keys[1], argv[0])
	tx.HIncrBy(keys[0], strings.Split(v, "\t")[1], 1)
	return int64(1), nil
})

// voidTransferScript settles a transfer its donor still logs after the
// claim that made it stopped: it marks the transfer void at the home
// shard unless the unit was credited there. Returns "in" (credited: the
// donor forgets the transfer) or "void" (never credited, and now never
// will be: the donor takes the unit back).
// KEYS: 1 home shard transfers in. ARGV: 1 transfer id.
var voidTransferScript = store.NewScript("stock-void-transfer", `
if redis.call('HSETNX', KEYS[1], ARGV[1], 'void') == 1 then
  redis.call('PEXPIRE', KEYS[1], 604800000)
end
return redis.call('HGET', KEYS[1], ARGV[1])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if _, ok := tx.HGet(keys[0], argv[0]); !ok {
		tx.HSet(keys[0], argv[0], "void")
		tx.Expire(keys[0], 7*24*time.Hour)
	}
	v, _ := tx.HGet(keys[0], argv[0])
	return v, nil
}).Replicated()

// releaseScript undoes a reservation whose claim was refused or voided:
// the unit goes back to the shard's stock and the viewer's record loses
// the claim, once (only while the reservation is logged).
// KEYS: 1 shard stock hash, 2 shard viewer hash, 3 shard reservations.
// ARGV: 1 claim id. Returns 1 when released, 0 when it was not reserved.
var releaseScript = store.NewScript("claim-release", `
local v = redis.call('HGET', KEYS[3], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
local _, field, _, idem = string.match(v, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
redis.call('HINCRBY', KEYS[1], field, 1)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'n', -1)
  if redis.call('HGET', KEYS[2], 'last') == ARGV[1] then redis.call('HDEL', KEYS[2], 'last') end
  if idem ~= '' and redis.call('HGET', KEYS[2], 'i:' .. idem) == ARGV[1] then
    redis.call('HDEL', KEYS[2], 'i:' .. idem)
  end
end
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	v, ok := tx.HGet(keys[2], argv[0])
	if !ok {
		return int64(0), nil
	}
	tx.HDel(keys[2], argv[0])
	f := strings.SplitN(v, "\t", 4)
	tx.HIncrBy(keys[0], f[1], 1)
	if tx.Exists(keys[1]) {
		tx.HIncrBy(keys[1], "n", -1)
		if last, _ := tx.HGet(keys[1], "last"); last == argv[0] {
			tx.HDel(keys[1], "last")
		}
		if f[3] != "" {
			if id, _ := tx.HGet(keys[1], "i:"+f[3]); id == argv[0] {
				tx.HDel(keys[1], "i:"+f[3])
			}
		}
	}
	return int64(1), nil
})

// forgetScript removes fields of one hash: a settled reservation or
// transfer. KEYS: 1 hash. ARGV: fields.
var forgetScript = store.NewScript("shard-forget", `
return redis.call('HDEL', KEYS[1], unpack(ARGV))
`, func(tx store.Tx, keys, argv []string) (any, error) {
	return int64(tx.HDel(keys[0], argv...)), nil
})

// commitScript is a sharded claim's second step, in the drop's own slot:
// the window, a pickup code, then the claim, its history, its outbox
// entry, the pickup index and the device's last claim, as the
// single-slot claim script writes them. The drop's count of claims
// (state "claimed") gives what is left: the configured total less it;
// the claim that takes the last unit records sold_out_at. A claim id
// already written answers "existing"; one voided by Reconcile is refused.
//
// KEYS: 1 drop state hash, 2 claim hash, 3 claim history, 4 outbox
// stream, 5 pickup hash, 6 device's last claim, 7 voided claim ids.
// ARGV: 1 now ms, 2 claim id, 3 viewer, 4 claim ttl ms, 5 state channel,
// 6 drop, 7 node, 8 sku, 9 tier, 10 pickup_by ms, 11 total stock,
// 12 device hash ("": none), 13 viewer ttl ms, 14 P, then P codes.
//
// Returns {"created", id, node, sku, tier, pickup code, pickup_by ms,
// created_at ms, 0, drop left, seq} or {"existing", id}; error replies
// "void", "not_open", "closed", "pickup_taken".
var commitScript = store.NewScript("claim-commit", `
local id = ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 1 then return {'existing', id} end
if redis.call('SISMEMBER', KEYS[7], id) == 1 then return redis.error_reply('void') end
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'status', 'closes_at')
local status = st[1] or 'idle'
local closesat = tonumber(st[2]) or 0
if status == 'idle' then return redis.error_reply('not_open') end
if status ~= 'open' or (closesat > 0 and now >= closesat) then return redis.error_reply('closed') end
local node = ARGV[7]
local code = nil
for i = 0, tonumber(ARGV[14]) - 1 do
  if redis.call('HEXISTS', KEYS[5], node .. ':' .. ARGV[15 + i]) == 0 then
    code = ARGV[15 + i]
    break
  end
end
if not code then return redis.error_reply('pickup_taken') end

redis.call('HSET', KEYS[2], 'id', id, 'drop', ARGV[6], 'state', 'claimed', 'node', node,
  'sku', ARGV[8], 'tier', ARGV[9], 'pickup_code', code,
  'pickup_by', ARGV[10], 'created_at', ARGV[1], 'viewer', ARGV[3], 'device', ARGV[12])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('RPUSH', KEYS[3], 'claimed\t' .. ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('HSET', KEYS[5], node .. ':' .. code, id)
redis.call('PEXPIRE', KEYS[5], ARGV[4])
if ARGV[12] ~= '' then redis.call('SET', KEYS[6], id, 'PX', ARGV[13]) end
local claimed = redis.call('HINCRBY', KEYS[1], 'claimed', 1)
local left = tonumber(ARGV[11]) - claimed
if left == 0 then redis.call('HSET', KEYS[1], 'sold_out_at', ARGV[1]) end
if left < 0 then left = 0 end
redis.call('XADD', KEYS[4], '*', 'type', 'claim.created', 'claim', id, 'event', id .. '.created',
  'node', node, 'drop', ARGV[6])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
announce(ARGV[5], ARGV[6] .. ' ' .. seq .. ' ' .. left)
return {'created', id, node, ARGV[8], ARGV[9], code, tonumber(ARGV[10]), now, 0, left, seq}
`, commitGo).Replicated()

func commitGo(tx store.Tx, keys, argv []string) (any, error) {
	id := argv[1]
	if tx.Exists(keys[1]) {
		return []any{"existing", id}, nil
	}
	if tx.SIsMember(keys[6], id) {
		return nil, &store.ScriptError{Code: "void"}
	}
	now := num(argv[0])
	status, ok := tx.HGet(keys[0], "status")
	if !ok {
		status = StatusIdle
	}
	closes, _ := tx.HGet(keys[0], "closes_at")
	if status == StatusIdle {
		return nil, &store.ScriptError{Code: "not_open"}
	}
	if closesAt := num(closes); status != StatusOpen || (closesAt > 0 && now >= closesAt) {
		return nil, &store.ScriptError{Code: "closed"}
	}
	node := argv[6]
	code := ""
	for i := range int(num(argv[13])) {
		if _, taken := tx.HGet(keys[4], node+":"+argv[14+i]); !taken {
			code = argv[14+i]
			break
		}
	}
	if code == "" {
		return nil, &store.ScriptError{Code: "pickup_taken"}
	}
	ttl := time.Duration(num(argv[3])) * time.Millisecond
	tx.HSet(keys[1], "id", id, "drop", argv[5], "state", ClaimClaimed, "node", node,
		"sku", argv[7], "tier", argv[8], "pickup_code", code,
		"pickup_by", argv[9], "created_at", argv[0], "viewer", argv[2], "device", argv[11])
	tx.Expire(keys[1], ttl)
	tx.RPush(keys[2], ClaimClaimed+"\t"+argv[0])
	tx.Expire(keys[2], ttl)
	tx.HSet(keys[4], node+":"+code, id)
	tx.Expire(keys[4], ttl)
	if argv[11] != "" {
		tx.Set(keys[5], id, time.Duration(num(argv[12]))*time.Millisecond)
	}
	claimed := tx.HIncrBy(keys[0], "claimed", 1)
	left := num(argv[10]) - claimed
	if left == 0 {
		tx.HSet(keys[0], "sold_out_at", argv[0])
	}
	left = max(left, 0)
	tx.XAdd(keys[3], map[string]string{"type": "claim.created", "claim": id, "event": id + ".created",
		"node": node, "drop": argv[5]})
	seq := tx.HIncrBy(keys[0], "seq", 1)
	tx.Publish(argv[4], []byte(argv[5]+" "+itoa(seq)+" "+itoa(left)))
	return []any{"created", id, node, argv[7], argv[8], code, num(argv[9]), now, int64(0), left, seq}, nil
}

// voidScript settles a reservation its shard still logs after the claim
// that made it stopped: "committed" when the claim was written, else the
// claim id is voided (a commit still on its way is refused) and "void".
// KEYS: 1 claim hash, 2 voided claim ids. ARGV: 1 claim id, 2 ttl ms.
var voidScript = store.NewScript("claim-void", `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'committed' end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 'void'
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if tx.Exists(keys[0]) {
		return "committed", nil
	}
	tx.SAdd(keys[1], argv[0])
	tx.Expire(keys[1], time.Duration(num(argv[1]))*time.Millisecond)
	return "void", nil
}).Replicated()

// initShare gives every line the shard has no count for its share.
func initShare(tx store.Tx, stock string, lines []string) {
	for i := 0; i+2 < len(lines); i += 3 {
		if _, ok := tx.HGet(stock, lines[i]); !ok {
			tx.HSet(stock, lines[i], lines[i+1])
		}
	}
}

// pickLine sums the shard's stock and returns the first eligible line
// with some ("" when none).
func pickLine(tx store.Tx, stock string, lines []string) (int64, string) {
	var total int64
	chosen := ""
	for i := 0; i+2 < len(lines); i += 3 {
		v, _ := tx.HGet(stock, lines[i])
		if q := num(v); q > 0 {
			total += q
			if chosen == "" && lines[i+2] == "1" {
				chosen = lines[i]
			}
		}
	}
	return total, chosen
}

func num(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
