package fulfillment

import (
	"context"
	"strconv"

	"github.com/dropwire/dropwire/internal/store"
)

// A hosted node (no url) has Dropwire as its system: its claims are not
// sent anywhere, its operator works in the pickup console. The forwarder
// still takes each of its claim.created entries, so that a hosted claim
// goes the way a forwarded one does: it joins the node's console list and
// moves to forwarded with its pickup deadline, in the drop's SLA set,
// exactly as a 2xx from a node's URL would move it. From there the
// console's actions and the SLA expiry are the same transitions as for
// any node.
//
// The console list is one sorted set per drop and node,
//
//	{d:<drop>}:console:<node>   claim id → -created_at ms
//
// scored by the negated creation time, so that an ascending range (the
// one the store scripts have) reads the newest claims first. It expires
// with the newest claim it holds.
func consoleKey(drop, node string) string { return store.DropKey(drop, "console", node) }

// deliverHosted is the delivery of an entry to a hosted node: no HTTP.
func (s *Service) deliverHosted(ctx context.Context, it item, t *nodeTarget) {
	if it.fields["type"] != TypeClaimCreated {
		s.ack(ctx, it) // nothing else goes to a node
		return
	}
	claim := it.fields["claim"]
	raw, err := s.st.Run(ctx, hostedIndexScript, []string{consoleKey(it.drop, t.id), claimKey(it.drop, claim)}, claim)
	if err != nil {
		s.retry(ctx, it, t, s.now().Add(t.backoff.Base), false, err.Error())
		return
	}
	if n, _ := raw.(int64); n == 0 {
		// The claim expired or never existed: nothing to show.
		s.done(ctx, it)
		return
	}
	s.metrics.deliveries.WithLabelValues(t.id, "hosted").Inc()
	s.delivered(ctx, it, t, nil, nil)
}

// hostedIndexScript adds a claim to its node's console list and makes the
// list live as long as the claim. KEYS: 1 console list, 2 claim hash.
// ARGV: claim id. Returns 1, or 0 for a claim that does not exist.
var hostedIndexScript = store.NewScript("console-index", `
local created = redis.call('HGET', KEYS[2], 'created_at')
if not created then return 0 end
redis.call('ZADD', KEYS[1], -tonumber(created), ARGV[1])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	created, ok := tx.HGet(keys[1], "created_at")
	if !ok {
		return int64(0), nil
	}
	ms, _ := strconv.ParseInt(created, 10, 64)
	tx.ZAdd(keys[0], -float64(ms), argv[0])
	if ttl := tx.TTL(keys[1]); ttl > 0 && tx.TTL(keys[0]) < ttl {
		tx.Expire(keys[0], ttl)
	}
	return int64(1), nil
})
