package fulfillment

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// Pacing: a tier with max_ready_per_hour caps how many of its claims one
// node is asked to prepare in any hour. Each claim.created of such a tier
// reserves, the first time the forwarder takes it, the earliest release
// time that keeps the cap: the later of now and an hour after the cap-th
// latest release at that node. Reservations are made in the order the
// forwarder takes the entries (the order of the claims), so releases keep
// that order (see reserveInOrder). A claim whose release is still to come waits in the retry
// set until then, without counting an attempt; its pickup deadline is set
// when it is delivered, so its SLA clock starts at the release.
//
// The releases of one node and tier live in one sorted set, under the
// campaign's hash tag when the drop is in a campaign (the cap is shared by
// the campaign's drops), else under the drop's:
//
//	{c:<campaign>}:ready:<node>:<tier>   claim id → release ms
//	{d:<drop>}:ready:<node>:<tier>
func (s *Service) paceKey(drop, node, tier string) string {
	if s.cfg.CampaignOf != nil {
		if c, ok := s.cfg.CampaignOf(drop); ok {
			return "{c:" + c + "}:" + strings.Join([]string{"ready", node, tier}, ":")
		}
	}
	return store.DropKey(drop, "ready", node, tier)
}

// pacedReason is the retry reason of a claim waiting for its release;
// its retry horizon starts at the release.
const pacedReason = "waits for its release (max_ready_per_hour)"

// release returns when the claim of it may be sent to t's node: the zero
// time when its tier has no cap. ok is false when the store did not
// answer (the entry is retried).
func (s *Service) release(ctx context.Context, it item, t *nodeTarget) (at time.Time, ok bool) {
	if !s.paced || t == nil || t.node == nil || it.fields["type"] != TypeClaimCreated {
		return time.Time{}, true
	}
	claim := it.fields["claim"]
	tierID, err := s.st.HGet(ctx, claimKey(it.drop, claim), "tier")
	if err != nil {
		return time.Time{}, true // an unknown claim is dropped by the delivery
	}
	tier := s.tiers[tierID]
	if tier == nil || tier.MaxReadyPerHour <= 0 {
		return time.Time{}, true
	}
	now := s.now()
	raw, err := s.st.Run(ctx, reserveScript, []string{s.paceKey(it.drop, t.id, tierID)},
		claim, now.UnixMilli(), tier.MaxReadyPerHour, time.Hour.Milliseconds(), (7 * 24 * time.Hour).Milliseconds())
	if err != nil {
		s.storeErr(ctx, err, "reserve a release")
		return time.Time{}, false
	}
	ms, _ := raw.(int64)
	return time.UnixMilli(ms), true
}

// reserveInOrder reserves the release of a claim.created entry as the
// outbox is read, one entry after the other, so that the workers that
// deliver them concurrently cannot reorder the queue.
func (s *Service) reserveInOrder(ctx context.Context, it item) {
	if !s.paced || it.fields["type"] != TypeClaimCreated {
		return
	}
	_, _ = s.release(ctx, it, s.nodes[it.fields["node"]])
}

// reserveScript reserves a claim's release. KEYS: 1 releases zset. ARGV:
// claim id, now ms, cap, period ms, ttl ms. Returns the release ms (the
// one reserved before, for a claim that has one).
var reserveScript = store.NewScript("pace-reserve", `
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
if prev then return tonumber(prev) end
local now, cap, period = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- Releases an hour old no longer bound anything.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local rel = now
if redis.call('ZCARD', KEYS[1]) >= cap then
  local r = redis.call('ZREVRANGE', KEYS[1], cap - 1, cap - 1, 'WITHSCORES')
  local t = tonumber(r[2]) + period
  if t > rel then rel = t end
end
redis.call('ZADD', KEYS[1], rel, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return rel
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if v, ok := tx.ZScore(keys[0], argv[0]); ok {
		return int64(v), nil
	}
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	now, capN, period := num(argv[1]), num(argv[2]), num(argv[3])
	for _, m := range tx.ZRangeByScore(keys[0], -1e300, float64(now-period), -1) {
		tx.ZRem(keys[0], m)
	}
	rel := now
	members := tx.ZRangeByScore(keys[0], -1e300, 1e300, -1) // ascending
	if n := int64(len(members)); n >= capN {
		v, _ := tx.ZScore(keys[0], members[n-capN])
		rel = max(rel, int64(v)+period)
	}
	tx.ZAdd(keys[0], float64(rel), argv[0])
	tx.Expire(keys[0], time.Duration(num(argv[4]))*time.Millisecond)
	return rel, nil
})
