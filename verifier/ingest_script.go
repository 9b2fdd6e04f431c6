package verifier

import (
	"math"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// ingestScript dedupes one event, applies its source's rate limit (GCRA)
// and advances the drop, all in one step, so an event is either wholly
// applied or not at all. Every call inside a script costs Redis a few
// microseconds, and this script runs for every event, so it makes as few
// as it can: the dedupe mark, one read of the drop state (which also holds
// each source's rate-limiter time, field "tat:<source>"), one write of it,
// and the report.
//
// KEYS: 1 dedupe mark, 2 drop state hash, 3 moment sources zset (source →
// first report, ms), 4 moment reports list, 5 stock hash (read when the
// drop opens).
// ARGV: 1 now ms, 2 dedupe ttl ms, 3 type, 4 moment, 5 source, 6 channel,
// 7 event id, 8 quorum, 9 quorum window ms, 10 window ms, 11 rate per
// period (0: none), 12 burst, 13 period ms, 14 state channel (full name),
// 15 drop, 16 moment ttl ms, 17 "1" when a trigger falls outside its
// campaign's run (recorded as the state's outside_* fields; opens nothing).
// Returns {status, moment state, sources, opened_at ms, closes_at ms,
// delay ms (-1: none), seq}; or the error reply "rate_limited:<ms>".
//
// A change is announced on the state channel as "<drop> <seq>"; an opening
// carries the whole new state, "<drop> <seq> open <opened_at ms> <closes_at
// ms> <stock left, -1: untouched> <moment>", so overlays draw it without
// reading anything back.
//
// Ingest is a Replicated script: with redis_wait_replicas, an event is
// acknowledged only once that many Redis replicas hold it.
var ingestScript = store.NewScript("ingest", `
local now = tonumber(ARGV[1])
-- Marking first saves a read; the only later refusal (the rate limit)
-- takes the mark back, and the script is atomic.
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[2], 'NX') then
  local st = redis.call('HMGET', KEYS[2], 'opened_at', 'closes_at', 'seq')
  return {'duplicate', '', 0, tonumber(st[1]) or 0, tonumber(st[2]) or 0, -1, tonumber(st[3]) or 0}
end

local tatfield = 'tat:' .. ARGV[5]
local st = redis.call('HMGET', KEYS[2], 'status', 'moment', 'opened_at', 'closes_at', 'seq', tatfield)
local writes = {}
local rate = tonumber(ARGV[11])
if rate > 0 then
  local nowus = now * 1000
  local emission = math.floor(tonumber(ARGV[13]) * 1000 / rate)
  local tat = tonumber(st[6]) or nowus
  if tat < nowus then tat = nowus end
  local newtat = tat + emission
  local allowat = newtat - emission * tonumber(ARGV[12])
  if allowat > nowus then
    redis.call('DEL', KEYS[1])
    return redis.error_reply('rate_limited:' .. math.ceil((allowat - nowus) / 1000))
  end
  writes[#writes + 1] = tatfield
  writes[#writes + 1] = string.format('%.0f', newtat)
end

local status = st[1] or 'idle'
local openedat = tonumber(st[3]) or 0
local closesat = tonumber(st[4]) or 0
local seq = tonumber(st[5]) or 0
local typ = ARGV[3]
local mstate, sources, delay = 'recorded', 0, -1
local publish = false

if typ == 'drop.trigger' and ARGV[17] == '1' then
  mstate = 'outside_window'
  for _, v in ipairs({'outside_at', now, 'outside_moment', ARGV[4], 'outside_source', ARGV[5]}) do
    writes[#writes + 1] = v
  end
  redis.call('HINCRBY', KEYS[2], 'outside_n', 1)
elseif typ == 'drop.trigger' then
  if openedat > 0 or status ~= 'idle' then
    if st[2] == ARGV[4] then
      mstate = 'corroboration'
      delay = now - openedat
    else
      mstate = 'ignored'
    end
  else
    if redis.call('ZADD', KEYS[3], 'NX', now, ARGV[5]) == 1 then
      redis.call('PEXPIRE', KEYS[3], ARGV[16])
    end
    sources = redis.call('ZCOUNT', KEYS[3], now - tonumber(ARGV[9]), '+inf')
    if sources >= tonumber(ARGV[8]) then
      openedat = now
      closesat = now + tonumber(ARGV[10])
      seq = seq + 1
      for _, v in ipairs({'status', 'open', 'moment', ARGV[4], 'opened_at', openedat, 'closes_at', closesat,
          'opened_by', ARGV[5], 'channel', ARGV[6], 'seq', seq}) do
        writes[#writes + 1] = v
      end
      publish = true
      mstate = 'opened'
    else
      mstate = 'pending'
    end
  end
  -- Reports of the moment that opened the drop, or that count towards its
  -- quorum, are kept; reports of other moments change nothing.
  if mstate ~= 'ignored' then
    -- They expire with the first one's dedupe horizon.
    if redis.call('RPUSH', KEYS[4], ARGV[5] .. '\t' .. ARGV[6] .. '\t' .. ARGV[7] .. '\t' .. ARGV[1] .. '\t' .. delay .. '\t' .. mstate) == 1 then
      redis.call('PEXPIRE', KEYS[4], ARGV[16])
    end
  end
elseif typ == 'drop.close' then
  if status == 'open' then
    seq = seq + 1
    for _, v in ipairs({'status', 'closed', 'closed_at', now, 'seq', seq}) do
      writes[#writes + 1] = v
    end
    publish = true
    mstate = 'closed'
  else
    mstate = 'ignored'
  end
end
if #writes > 0 then
  redis.call('HSET', KEYS[2], unpack(writes))
end
if publish then
  local msg = ARGV[15] .. ' ' .. seq
  if mstate == 'opened' then
    local left = -1
    local vals = redis.call('HVALS', KEYS[5])
    if #vals > 0 then
      left = 0
      for _, v in ipairs(vals) do
        local n = tonumber(v) or 0
        if n > 0 then left = left + n end
      end
    end
    msg = msg .. ' open ' .. openedat .. ' ' .. closesat .. ' ' .. left .. ' ' .. ARGV[4]
  end
  announce(ARGV[14], msg)
end
return {'accepted', mstate, sources, openedat, closesat, delay, seq}
`, ingestGo).Replicated()

// ingestGo is the memory store's body of ingestScript.
func ingestGo(tx store.Tx, keys, argv []string) (any, error) {
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	now := num(argv[0])
	stateInt := func(field string) int64 {
		v, _ := tx.HGet(keys[1], field)
		return num(v)
	}
	dedupeTTL := time.Duration(num(argv[1])) * time.Millisecond
	if !tx.SetNX(keys[0], "1", dedupeTTL) {
		return []any{StatusDuplicate, "", int64(0), stateInt("opened_at"), stateInt("closes_at"), int64(-1), stateInt("seq")}, nil
	}

	var writes []string
	if rate := num(argv[10]); rate > 0 {
		nowUS := now * 1000
		emission := num(argv[12]) * 1000 / rate
		tatField := "tat:" + argv[4]
		tat := nowUS
		if v, ok := tx.HGet(keys[1], tatField); ok {
			tat = num(v)
		}
		tat = max(tat, nowUS)
		newTAT := tat + emission
		if allowAt := newTAT - emission*num(argv[11]); allowAt > nowUS {
			tx.Del(keys[0])
			return nil, &store.ScriptError{Code: "rate_limited:" + strconv.FormatInt(ceilDiv(allowAt-nowUS, 1000), 10)}
		}
		writes = append(writes, tatField, itoa(newTAT))
	}

	status, ok := tx.HGet(keys[1], "status")
	if !ok {
		status = "idle"
	}
	openingMoment, _ := tx.HGet(keys[1], "moment")
	openedAt, closesAt, seq := stateInt("opened_at"), stateInt("closes_at"), stateInt("seq")
	mstate, sources, delay := MomentRecorded, int64(0), int64(-1)
	momentTTL := time.Duration(num(argv[15])) * time.Millisecond
	publish := false

	switch {
	case argv[2] == TypeDropTrigger && len(argv) > 16 && argv[16] == "1":
		mstate = MomentOutsideWindow
		writes = append(writes, "outside_at", argv[0], "outside_moment", argv[3], "outside_source", argv[4])
		tx.HIncrBy(keys[1], "outside_n", 1)
	case argv[2] == TypeDropTrigger:
		if openedAt > 0 || status != "idle" {
			if openingMoment == argv[3] {
				mstate, delay = MomentCorroboration, now-openedAt
			} else {
				mstate = MomentIgnored
			}
		} else {
			if _, seen := tx.ZScore(keys[2], argv[4]); !seen {
				tx.ZAdd(keys[2], float64(now), argv[4])
				tx.Expire(keys[2], momentTTL)
			}
			sources = int64(len(tx.ZRangeByScore(keys[2], float64(now-num(argv[8])), math.Inf(1), -1)))
			if sources >= num(argv[7]) {
				openedAt, closesAt, seq = now, now+num(argv[9]), seq+1
				writes = append(writes, "status", "open", "moment", argv[3], "opened_at", itoa(openedAt),
					"closes_at", itoa(closesAt), "opened_by", argv[4], "channel", argv[5], "seq", itoa(seq))
				publish = true
				mstate = MomentOpened
			} else {
				mstate = MomentPending
			}
		}
		if mstate != MomentIgnored {
			if tx.RPush(keys[3], argv[4]+"\t"+argv[5]+"\t"+argv[6]+"\t"+argv[0]+"\t"+itoa(delay)+"\t"+mstate) == 1 {
				tx.Expire(keys[3], momentTTL)
			}
		}
	case argv[2] == TypeDropClose:
		if status == "open" {
			seq++
			writes = append(writes, "status", "closed", "closed_at", itoa(now), "seq", itoa(seq))
			publish = true
			mstate = MomentClosed
		} else {
			mstate = MomentIgnored
		}
	}
	if len(writes) > 0 {
		tx.HSet(keys[1], writes...)
	}
	if publish {
		msg := argv[14] + " " + itoa(seq)
		if mstate == MomentOpened {
			left := int64(-1)
			if vals := tx.HGetAll(keys[4]); len(vals) > 0 {
				left = 0
				for _, v := range vals {
					if n := num(v); n > 0 {
						left += n
					}
				}
			}
			msg += " open " + itoa(openedAt) + " " + itoa(closesAt) + " " + itoa(left) + " " + argv[3]
		}
		tx.Publish(argv[13], []byte(msg))
	}
	return []any{StatusAccepted, mstate, sources, openedAt, closesAt, delay, seq}, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
