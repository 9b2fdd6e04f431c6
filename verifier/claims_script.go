package verifier

import (
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// claimScript is one claim attempt, all in one step: an idempotent retry,
// the viewer's limit, the drop's window, the stock of one node/SKU and a
// pickup code free at that node; then it decrements the stock, writes the
// claim, its history, the viewer's record and the outbox entry, bumps the
// drop's seq and announces it. Everything is read and checked before the
// first write, so a refused claim leaves nothing behind.
//
// KEYS: 1 drop state hash, 2 stock hash ("<node>:<sku>" → left), 3 viewer
// hash (n, last, i:<idempotency key>), 4 claim hash, 5 claim history list,
// 6 outbox stream, 7 pickup hash ("<node>:<code>" → claim id), 8 the
// device's last claim of the drop (written when a device hash is given).
// ARGV: 1 now ms, 2 per_viewer, 3 idempotency key ("": none), 4 claim id,
// 5 viewer hash, 6 viewer ttl ms, 7 claim ttl ms, 8 state channel (full
// name), 9 drop, 10 number of stock lines L, 11 number of pickup code
// candidates P, then L lines of 6 values (node, sku, tier, configured qty,
// pickup_by ms, eligible 1|0) in preference order, then P codes, then the
// device hash ("": none).
//
// Returns {"created", id, node, sku, tier, pickup code, pickup_by ms,
// created_at ms, line left, drop left, seq} or {"existing", id}; error
// replies: "already_claimed:<id>", "not_open", "closed",
// "sold_out:<drop left>", "pickup_taken".
//
// The claim that takes the drop's last unit records when, as the state's
// sold_out_at (the claim page says "sold out at"); stock added later and
// sold again moves it.
//
// The claim is a Replicated script: with redis_wait_replicas, it is
// acknowledged only once that many Redis replicas hold it.
var claimScript = store.NewScript("claim", `
local vh = KEYS[3]
if ARGV[3] ~= '' then
  local prev = redis.call('HGET', vh, 'i:' .. ARGV[3])
  if prev then return {'existing', prev} end
end
local n = tonumber(redis.call('HGET', vh, 'n') or '0')
if n >= tonumber(ARGV[2]) then
  return redis.error_reply('already_claimed:' .. (redis.call('HGET', vh, 'last') or ''))
end

local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'status', 'closes_at')
local status = st[1] or 'idle'
local closesat = tonumber(st[2]) or 0
if status == 'idle' then return redis.error_reply('not_open') end
if status ~= 'open' or (closesat > 0 and now >= closesat) then return redis.error_reply('closed') end

local nlines = tonumber(ARGV[10])
local ncodes = tonumber(ARGV[11])
local total, chosen, chosenleft = 0, nil, 0
local missing = {}
for i = 0, nlines - 1 do
  local b = 12 + i * 6
  local field = ARGV[b] .. ':' .. ARGV[b + 1]
  local v = redis.call('HGET', KEYS[2], field)
  if not v then
    v = ARGV[b + 3]
    missing[#missing + 1] = field
    missing[#missing + 1] = v
  end
  v = tonumber(v) or 0
  if v > 0 then
    total = total + v
    if not chosen and ARGV[b + 5] == '1' then chosen, chosenleft = b, v end
  end
end
if not chosen then return redis.error_reply('sold_out:' .. total) end

local node = ARGV[chosen]
local code = nil
local cb = 12 + nlines * 6
for i = 0, ncodes - 1 do
  if redis.call('HEXISTS', KEYS[7], node .. ':' .. ARGV[cb + i]) == 0 then
    code = ARGV[cb + i]
    break
  end
end
if not code then return redis.error_reply('pickup_taken') end

-- Every check passed: write.
for i = 1, #missing, 2 do redis.call('HSETNX', KEYS[2], missing[i], missing[i + 1]) end
local field = node .. ':' .. ARGV[chosen + 1]
local left = redis.call('HINCRBY', KEYS[2], field, -1)
local id = ARGV[4]
redis.call('HSET', KEYS[4], 'id', id, 'drop', ARGV[9], 'state', 'claimed', 'node', node,
  'sku', ARGV[chosen + 1], 'tier', ARGV[chosen + 2], 'pickup_code', code,
  'pickup_by', ARGV[chosen + 4], 'created_at', ARGV[1], 'viewer', ARGV[5], 'device', ARGV[cb + ncodes] or '')
redis.call('PEXPIRE', KEYS[4], ARGV[7])
redis.call('RPUSH', KEYS[5], 'claimed\t' .. ARGV[1])
redis.call('PEXPIRE', KEYS[5], ARGV[7])
redis.call('HSET', KEYS[7], node .. ':' .. code, id)
redis.call('PEXPIRE', KEYS[7], ARGV[7])
redis.call('HINCRBY', vh, 'n', 1)
redis.call('HSET', vh, 'last', id)
if ARGV[3] ~= '' then redis.call('HSET', vh, 'i:' .. ARGV[3], id) end
redis.call('PEXPIRE', vh, ARGV[6])
local device = ARGV[cb + ncodes] or ''
if device ~= '' then redis.call('SET', KEYS[8], id, 'PX', ARGV[6]) end
if total - 1 == 0 then redis.call('HSET', KEYS[1], 'sold_out_at', ARGV[1]) end
redis.call('XADD', KEYS[6], '*', 'type', 'claim.created', 'claim', id, 'event', id .. '.created',
  'node', node, 'drop', ARGV[9])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
announce(ARGV[8], ARGV[9] .. ' ' .. seq .. ' ' .. (total - 1))
return {'created', id, node, ARGV[chosen + 1], ARGV[chosen + 2], code, tonumber(ARGV[chosen + 4]),
  now, left, total - 1, seq}
`, claimGo).Replicated()

// claimGo is the memory store's body of claimScript.
func claimGo(tx store.Tx, keys, argv []string) (any, error) {
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	ms := func(s string) time.Duration { return time.Duration(num(s)) * time.Millisecond }
	vh := keys[2]
	if argv[2] != "" {
		if prev, ok := tx.HGet(vh, "i:"+argv[2]); ok {
			return []any{"existing", prev}, nil
		}
	}
	n, _ := tx.HGet(vh, "n")
	if num(n) >= num(argv[1]) {
		last, _ := tx.HGet(vh, "last")
		return nil, &store.ScriptError{Code: "already_claimed:" + last}
	}

	now := num(argv[0])
	status, ok := tx.HGet(keys[0], "status")
	if !ok {
		status = StatusIdle
	}
	closes, _ := tx.HGet(keys[0], "closes_at")
	closesAt := num(closes)
	if status == StatusIdle {
		return nil, &store.ScriptError{Code: "not_open"}
	}
	if status != StatusOpen || (closesAt > 0 && now >= closesAt) {
		return nil, &store.ScriptError{Code: "closed"}
	}

	nlines, ncodes := int(num(argv[9])), int(num(argv[10]))
	var (
		total   int64
		chosen  = -1
		missing []string
	)
	for i := range nlines {
		b := 11 + i*6
		field := argv[b] + ":" + argv[b+1]
		v, ok := tx.HGet(keys[1], field)
		if !ok {
			v = argv[b+3]
			missing = append(missing, field, v)
		}
		if q := num(v); q > 0 {
			total += q
			if chosen < 0 && argv[b+5] == "1" {
				chosen = b
			}
		}
	}
	if chosen < 0 {
		return nil, &store.ScriptError{Code: "sold_out:" + itoa(total)}
	}
	node := argv[chosen]
	code := ""
	cb := 11 + nlines*6
	for i := range ncodes {
		c := argv[cb+i]
		if _, taken := tx.HGet(keys[6], node+":"+c); !taken {
			code = c
			break
		}
	}
	if code == "" {
		return nil, &store.ScriptError{Code: "pickup_taken"}
	}

	for i := 0; i < len(missing); i += 2 {
		if _, ok := tx.HGet(keys[1], missing[i]); !ok {
			tx.HSet(keys[1], missing[i], missing[i+1])
		}
	}
	left := tx.HIncrBy(keys[1], node+":"+argv[chosen+1], -1)
	id := argv[3]
	tx.HSet(keys[3], "id", id, "drop", argv[8], "state", ClaimClaimed, "node", node,
		"sku", argv[chosen+1], "tier", argv[chosen+2], "pickup_code", code,
		"pickup_by", argv[chosen+4], "created_at", argv[0], "viewer", argv[4], "device", argAt(argv, cb+ncodes))
	tx.Expire(keys[3], ms(argv[6]))
	tx.RPush(keys[4], ClaimClaimed+"\t"+argv[0])
	tx.Expire(keys[4], ms(argv[6]))
	tx.HSet(keys[6], node+":"+code, id)
	tx.Expire(keys[6], ms(argv[6]))
	tx.HIncrBy(vh, "n", 1)
	tx.HSet(vh, "last", id)
	if argv[2] != "" {
		tx.HSet(vh, "i:"+argv[2], id)
	}
	tx.Expire(vh, ms(argv[5]))
	if argAt(argv, cb+ncodes) != "" {
		tx.Set(keys[7], id, ms(argv[5]))
	}
	if total-1 == 0 {
		tx.HSet(keys[0], "sold_out_at", argv[0])
	}
	tx.XAdd(keys[5], map[string]string{"type": "claim.created", "claim": id, "event": id + ".created",
		"node": node, "drop": argv[8]})
	seq := tx.HIncrBy(keys[0], "seq", 1)
	tx.Publish(argv[7], []byte(argv[8]+" "+itoa(seq)+" "+itoa(total-1)))
	return []any{"created", id, node, argv[chosen+1], argv[chosen+2], code, num(argv[chosen+4]),
		now, left, total - 1, seq}, nil
}

// stockInitScript writes the configured quantity of every stock line that
// has none yet (HSETNX): idempotent across restarts and replicas, and it
// never resets stock that claims have taken.
//
// KEYS: 1 stock hash. ARGV: field, qty, field, qty, ...
var stockInitScript = store.NewScript("stock-init", `
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 0
`, func(tx store.Tx, keys, argv []string) (any, error) {
	for i := 0; i+1 < len(argv); i += 2 {
		if _, ok := tx.HGet(keys[0], argv[i]); !ok {
			tx.HSet(keys[0], argv[i], argv[i+1])
		}
	}
	return int64(0), nil
})

// claimReadScript reads a claim and its history in one round trip.
// KEYS: 1 claim hash, 2 history list. Returns {hash as a flat list, list}.
var claimReadScript = store.NewScript("claim-read", `
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
`, func(tx store.Tx, keys, _ []string) (any, error) {
	h := tx.HGetAll(keys[0])
	flat := make([]any, 0, 2*len(h))
	for k, v := range h {
		flat = append(flat, k, v)
	}
	items := tx.LRange(keys[1], 0, -1)
	list := make([]any, len(items))
	for i, s := range items {
		list[i] = s
	}
	return []any{flat, list}, nil
})

// argAt returns argv[i], or "" past its end.
func argAt(argv []string, i int) string {
	if i < len(argv) {
		return argv[i]
	}
	return ""
}
