package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Transition is one requested change of a claim's state.
type Transition struct {
	Drop, Claim string
	To          string // a verifier.Claim* state
	// Node, when set, must be the claim's node: a node only moves its own
	// claims (another node's claim is unknown to it).
	Node string
	// DedupeID and DedupeTTL make the transition idempotent on a sender's
	// id (a callback's webhook-id): a repeat answers ResultDuplicate.
	DedupeID  string
	DedupeTTL time.Duration
	// PickupBy, when set on forwarded or ready, is the new pickup deadline.
	PickupBy time.Time
	// Compensation is the drop's policy, applied in the same step when the
	// claim enters rejected, pickup_failed or forward_failed.
	Compensation string
	// DueOnly makes an SLA expiry: applied only while the claim's deadline
	// in the due-set has passed.
	DueOnly bool
	// Fields are extra claim fields to set with the change (locker slot,
	// reason, ...).
	Fields map[string]string
}

// Transition results.
const (
	ResultApplied   = "applied"   // the claim changed
	ResultUnchanged = "unchanged" // a repeat or a late event: nothing to do
	ResultDuplicate = "duplicate" // this dedupe id was already applied
)

// Outcome is what a Transition did.
type Outcome struct {
	Result string
	State  string // the claim's state afterwards
	// CompensationCode is the code handed out in this step, if any.
	CompensationCode string
	CreatedAt        time.Time
}

// transitionScript moves a claim forward, monotonically, and in the same
// step keeps its SLA deadline, hands out its compensation (a pool code, or
// a claim.compensated outbox entry) and announces the change. Everything
// is checked before the first write.
//
// A claim a dead-letter replay moved from forward_failed back to forwarded
// carries replay_pending until its delivery's outcome: a delivery gives it
// its pickup deadline (it had none), and a delivery that is given up on
// again may move it to forward_failed again, the one way out of forwarded
// the main line does not have.
//
// KEYS: 1 claim, 2 history, 3 sla zset, 4 drop state, 5 dedupe mark, 6 pool,
// 7 outbox. ARGV: 1 now ms, 2 target, 3 node ("" any), 4 dedupe ttl ms (0:
// none), 5 pickup_by ms (0: keep), 6 compensation kind, 7 state channel, 8
// drop, 9 due only (1|0), 10 claim id, then field/value pairs.
// Returns {result, state, compensation code, created_at}; error replies
// "unknown_claim", "illegal_transition:<state>".
var transitionScript = store.NewScript("claim-transition", `
local now = tonumber(ARGV[1])
local to = ARGV[2]
local dedupe = tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'state', 'node', 'created_at', 'replay_pending')
local cur = h[1]
if dedupe > 0 and redis.call('EXISTS', KEYS[5]) == 1 then
  return {'duplicate', cur or '', '', tonumber(h[3]) or 0}
end
if not cur or (ARGV[3] ~= '' and h[2] ~= ARGV[3]) then
  return redis.error_reply('unknown_claim')
end
local replay = cur == 'forwarded' and h[4] == '1'
local pickupby = tonumber(ARGV[5])
if replay and to == 'forwarded' then
  if pickupby > 0 then
    redis.call('HSET', KEYS[1], 'pickup_by', ARGV[5])
    redis.call('ZADD', KEYS[3], pickupby, ARGV[10])
  end
  redis.call('HDEL', KEYS[1], 'replay_pending')
  if dedupe > 0 then redis.call('SET', KEYS[5], '1', 'PX', dedupe) end
  return {'unchanged', cur, '', tonumber(h[3]) or 0}
end
local main = {claimed = 1, forwarded = 2, accepted = 3, ready = 4, picked_up = 5}
local failing = {rejected = true, pickup_failed = true, forward_failed = true}
local allowed = {
  claimed = {forwarded = 1, accepted = 1, rejected = 1, ready = 1, picked_up = 1, pickup_failed = 1, forward_failed = 1},
  forwarded = {accepted = 1, rejected = 1, ready = 1, picked_up = 1, pickup_failed = 1},
  accepted = {ready = 1, picked_up = 1, pickup_failed = 1},
  ready = {picked_up = 1, pickup_failed = 1},
  rejected = {compensated = 1},
  pickup_failed = {compensated = 1},
  forward_failed = {compensated = 1},
}
local unchanged = cur == to or (main[cur] and main[to] and main[to] <= main[cur]) or
  (cur == 'compensated' and failing[to])
if not unchanged and ARGV[9] == '1' then
  local s = redis.call('ZSCORE', KEYS[3], ARGV[10])
  if not s or tonumber(s) > now then unchanged = true end
end
if unchanged then
  if dedupe > 0 then redis.call('SET', KEYS[5], '1', 'PX', dedupe) end
  return {'unchanged', cur, '', tonumber(h[3]) or 0}
end
if not (allowed[cur] and allowed[cur][to]) and not (replay and to == 'forward_failed') then
  return redis.error_reply('illegal_transition:' .. cur)
end

local state = to
local code = ''
redis.call('HSET', KEYS[1], 'state', to, to .. '_at', ARGV[1])
redis.call('RPUSH', KEYS[2], to .. '\t' .. ARGV[1])
if replay then redis.call('HDEL', KEYS[1], 'replay_pending') end
for i = 11, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if (to == 'forwarded' or to == 'ready') and pickupby > 0 then
  redis.call('HSET', KEYS[1], 'pickup_by', ARGV[5])
  redis.call('ZADD', KEYS[3], pickupby, ARGV[10])
elseif to ~= 'accepted' then
  redis.call('ZREM', KEYS[3], ARGV[10])
end
if failing[to] then
  local kind = ARGV[6]
  if kind == 'code' then
    local c = redis.call('LPOP', KEYS[6])
    if c then
      code = c
      state = 'compensated'
      redis.call('HSET', KEYS[1], 'state', state, 'compensated_at', ARGV[1], 'compensation', 'code', 'compensation_code', c)
      redis.call('RPUSH', KEYS[2], 'compensated\t' .. ARGV[1])
    else
      redis.call('HSET', KEYS[1], 'compensation', 'pool_empty')
    end
  elseif kind == 'webhook' then
    redis.call('XADD', KEYS[7], '*', 'type', 'claim.compensated', 'claim', ARGV[10],
      'event', ARGV[10] .. '.compensated', 'node', h[2] or '', 'drop', ARGV[8])
    redis.call('HSET', KEYS[1], 'compensation', 'webhook')
  else
    redis.call('HSET', KEYS[1], 'compensation', 'none')
  end
end
local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
announce(ARGV[7], ARGV[8] .. ' ' .. seq .. ' claim ' .. ARGV[2])
if dedupe > 0 then redis.call('SET', KEYS[5], '1', 'PX', dedupe) end
return {'applied', state, code, tonumber(h[3]) or 0}
`, transitionGo)

var (
	mainLine = map[string]int{verifier.ClaimClaimed: 1, verifier.ClaimForwarded: 2, verifier.ClaimAccepted: 3,
		verifier.ClaimReady: 4, verifier.ClaimPickedUp: 5}
	failing = map[string]bool{verifier.ClaimRejected: true, verifier.ClaimPickupFailed: true,
		verifier.ClaimForwardFailed: true}
	allowed = map[string]map[string]bool{
		verifier.ClaimClaimed: set(verifier.ClaimForwarded, verifier.ClaimAccepted, verifier.ClaimRejected,
			verifier.ClaimReady, verifier.ClaimPickedUp, verifier.ClaimPickupFailed, verifier.ClaimForwardFailed),
		verifier.ClaimForwarded: set(verifier.ClaimAccepted, verifier.ClaimRejected, verifier.ClaimReady,
			verifier.ClaimPickedUp, verifier.ClaimPickupFailed),
		verifier.ClaimAccepted:      set(verifier.ClaimReady, verifier.ClaimPickedUp, verifier.ClaimPickupFailed),
		verifier.ClaimReady:         set(verifier.ClaimPickedUp, verifier.ClaimPickupFailed),
		verifier.ClaimRejected:      set(verifier.ClaimCompensated),
		verifier.ClaimPickupFailed:  set(verifier.ClaimCompensated),
		verifier.ClaimForwardFailed: set(verifier.ClaimCompensated),
	}
)

func set(states ...string) map[string]bool {
	m := make(map[string]bool, len(states))
	for _, s := range states {
		m[s] = true
	}
	return m
}

// Allowed reports whether a claim in state from may move to state to.
func Allowed(from, to string) bool { return allowed[from][to] }

// transitionGo is the memory store's body of transitionScript.
func transitionGo(tx store.Tx, keys, argv []string) (any, error) {
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	now, to, dedupe := num(argv[0]), argv[1], num(argv[3])
	cur, ok := tx.HGet(keys[0], "state")
	node, _ := tx.HGet(keys[0], "node")
	created, _ := tx.HGet(keys[0], "created_at")
	pending, _ := tx.HGet(keys[0], "replay_pending")
	if dedupe > 0 && tx.Exists(keys[4]) {
		return []any{ResultDuplicate, cur, "", num(created)}, nil
	}
	if !ok || (argv[2] != "" && node != argv[2]) {
		return nil, &store.ScriptError{Code: "unknown_claim"}
	}
	replay := cur == verifier.ClaimForwarded && pending == "1"
	pickupBy := num(argv[4])
	if replay && to == verifier.ClaimForwarded {
		if pickupBy > 0 {
			tx.HSet(keys[0], "pickup_by", argv[4])
			tx.ZAdd(keys[2], float64(pickupBy), argv[9])
		}
		tx.HDel(keys[0], "replay_pending")
		if dedupe > 0 {
			tx.Set(keys[4], "1", time.Duration(dedupe)*time.Millisecond)
		}
		return []any{ResultUnchanged, cur, "", num(created)}, nil
	}
	mc, mt := mainLine[cur], mainLine[to]
	unchanged := cur == to || (mc > 0 && mt > 0 && mt <= mc) || (cur == verifier.ClaimCompensated && failing[to])
	if !unchanged && argv[8] == "1" {
		s, ok := tx.ZScore(keys[2], argv[9])
		if !ok || int64(s) > now {
			unchanged = true
		}
	}
	if unchanged {
		if dedupe > 0 {
			tx.Set(keys[4], "1", time.Duration(dedupe)*time.Millisecond)
		}
		return []any{ResultUnchanged, cur, "", num(created)}, nil
	}
	if !allowed[cur][to] && !(replay && to == verifier.ClaimForwardFailed) {
		return nil, &store.ScriptError{Code: "illegal_transition:" + cur}
	}
	state, code := to, ""
	tx.HSet(keys[0], "state", to, to+"_at", argv[0])
	tx.RPush(keys[1], to+"\t"+argv[0])
	if replay {
		tx.HDel(keys[0], "replay_pending")
	}
	for i := 10; i+1 < len(argv); i += 2 {
		tx.HSet(keys[0], argv[i], argv[i+1])
	}
	switch {
	case (to == verifier.ClaimForwarded || to == verifier.ClaimReady) && pickupBy > 0:
		tx.HSet(keys[0], "pickup_by", argv[4])
		tx.ZAdd(keys[2], float64(pickupBy), argv[9])
	case to != verifier.ClaimAccepted:
		tx.ZRem(keys[2], argv[9])
	}
	if failing[to] {
		switch argv[5] {
		case config.CompensationCode:
			if c, ok := tx.LPop(keys[5]); ok {
				code, state = c, verifier.ClaimCompensated
				tx.HSet(keys[0], "state", state, "compensated_at", argv[0], "compensation", "code", "compensation_code", c)
				tx.RPush(keys[1], verifier.ClaimCompensated+"\t"+argv[0])
			} else {
				tx.HSet(keys[0], "compensation", "pool_empty")
			}
		case config.CompensationWebhook:
			tx.XAdd(keys[6], map[string]string{"type": TypeClaimCompensated, "claim": argv[9],
				"event": argv[9] + ".compensated", "node": node, "drop": argv[7]})
			tx.HSet(keys[0], "compensation", "webhook")
		default:
			tx.HSet(keys[0], "compensation", "none")
		}
	}
	seq := tx.HIncrBy(keys[3], "seq", 1)
	tx.Publish(argv[6], []byte(argv[7]+" "+strconv.FormatInt(seq, 10)+" claim "+argv[1]))
	if dedupe > 0 {
		tx.Set(keys[4], "1", time.Duration(dedupe)*time.Millisecond)
	}
	return []any{ResultApplied, state, code, num(created)}, nil
}

// transition runs one Transition. Errors: ErrUnknownClaim,
// *IllegalTransitionError, store errors.
func transition(ctx context.Context, st store.Store, t Transition, now time.Time) (Outcome, error) {
	dedupe := "-"
	var ttl int64
	if t.DedupeID != "" {
		dedupe = callbackKey(t.Drop, t.Node, t.DedupeID)
		ttl = max(t.DedupeTTL.Milliseconds(), 1)
	}
	var pickupBy int64
	if !t.PickupBy.IsZero() {
		pickupBy = t.PickupBy.UnixMilli()
	}
	due := "0"
	if t.DueOnly {
		due = "1"
	}
	kind := t.Compensation
	if kind == "" {
		kind = config.CompensationNone
	}
	args := []any{now.UnixMilli(), t.To, t.Node, ttl, pickupBy, kind, st.Prefix() + verifier.StateChannel,
		t.Drop, due, t.Claim}
	for k, v := range t.Fields {
		args = append(args, k, v)
	}
	keys := []string{claimKey(t.Drop, t.Claim), historyKey(t.Drop, t.Claim), slaKey(t.Drop), stateKey(t.Drop),
		dedupe, poolKey(t.Drop), outboxKey(t.Drop)}
	if t.DedupeID == "" {
		keys[4] = store.DropKey(t.Drop, "cb", "-") // never written
	}
	raw, err := st.Run(ctx, transitionScript, keys, args...)
	if err != nil {
		var se *store.ScriptError
		if errors.As(err, &se) {
			code, detail, _ := strings.Cut(se.Code, ":")
			switch code {
			case "unknown_claim":
				return Outcome{}, fmt.Errorf("%w: %q", ErrUnknownClaim, t.Claim)
			case "illegal_transition":
				return Outcome{State: detail}, &IllegalTransitionError{From: detail, To: t.To}
			}
		}
		return Outcome{}, fmt.Errorf("fulfillment: transition %s → %s: %w", t.Claim, t.To, err)
	}
	a, _ := raw.([]any)
	if len(a) != 4 {
		return Outcome{}, fmt.Errorf("fulfillment: unexpected transition reply %v", raw)
	}
	str := func(i int) string { s, _ := a[i].(string); return s }
	created, _ := a[3].(int64)
	return Outcome{Result: str(0), State: str(1), CompensationCode: str(2),
		CreatedAt: time.UnixMilli(created).UTC()}, nil
}
