package fulfillment

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// slaLoop expires pickup deadlines every SLATick. Deadlines live in each
// drop's sla sorted set (written by the transitions to forwarded and
// ready), so they survive restarts; every replica runs the loop, and the
// transition script applies each expiry once (DueOnly: the deadline is
// checked again inside the atomic step, and a claim already failed or
// compensated is left unchanged).
//
// Every poolSweep it also loads the pools not loaded yet: a file that
// was missing, a store that did not answer, a drop created meanwhile.
func (s *Service) slaLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.SLATick)
	defer tick.Stop()
	poolTry := s.now()
	for {
		if s.now().Sub(poolTry) >= poolSweep {
			poolTry = s.now()
			if err := s.LoadPools(ctx); err != nil {
				s.log.Debug().Err(err).Msg("compensation pools not loaded yet")
			}
		}
		if _, err := s.ExpirePickups(ctx); err != nil {
			s.storeErr(ctx, err, "pickup deadlines")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poolSweep is how often the SLA loop loads the pools not loaded yet.
const poolSweep = 10 * time.Second

// ExpirePickups moves every claim whose pickup deadline has passed to
// pickup_failed (and compensates it) and returns how many this call
// changed. It reads the deadlines of the drops of the backlog (a
// deadline is set by a transition, which touches it), sweepWorkers at a
// time (see eachDrop).
func (s *Service) ExpirePickups(ctx context.Context) (int, error) {
	drops, err := s.workDrops(ctx)
	if err != nil {
		return 0, err
	}
	var (
		n        atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	eachDrop(ctx, workDropIDs(drops), func(drop string) bool {
		k, err := s.expireDrop(ctx, drop)
		n.Add(int64(k))
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return false
		}
		return true
	})
	return int(n.Load()), firstErr
}

// expireDrop is ExpirePickups for one drop.
func (s *Service) expireDrop(ctx context.Context, drop string) (int, error) {
	n := 0
	// The series exists from the first pass, at 0, so that an alert on
	// its increase sees the first miss too.
	missed := s.metrics.slaMissed.WithLabelValues(drop)
	for ctx.Err() == nil {
		raw, err := s.st.Run(ctx, slaDueScript, []string{slaKey(drop)}, s.now().UnixMilli(), DefaultBatch)
		if err != nil {
			return n, err
		}
		ids, _ := raw.([]any)
		changed := 0
		for _, v := range ids {
			id, _ := v.(string)
			o, err := s.Apply(ctx, Transition{Drop: drop, Claim: id, To: verifier.ClaimPickupFailed, DueOnly: true,
				Fields: map[string]string{"failure": "pickup_sla"}})
			var ill *IllegalTransitionError
			switch {
			case errors.As(err, &ill), errors.Is(err, ErrUnknownClaim):
				// Already past pickup, or expired: drop the deadline.
				_, _ = s.st.Run(ctx, zremScript, []string{slaKey(drop)}, id)
			case err != nil:
				return n, err
			case o.Result == ResultApplied:
				n++
				changed++
				missed.Inc()
			}
		}
		// Another replica may be expiring the same ids: stop when a batch
		// changed nothing here, the rest waits for the next tick.
		if len(ids) < DefaultBatch || changed == 0 {
			break
		}
	}
	return n, nil
}

// pickupDeadline is the deadline of a claim of node t whose SLA clock
// starts now: its tier's pickup_sla (else the node's), counted in the
// node's open hours, so that it never falls while the node is closed.
func (s *Service) pickupDeadline(ctx context.Context, t *nodeTarget, drop, claim string) time.Time {
	now := s.now()
	if t.node == nil {
		return now.Add(t.pickupBy)
	}
	var tier *config.Tier
	if len(s.tiers) > 0 {
		// A claim that cannot be read keeps the node's SLA: the deadline
		// is still set, and the transition reports the claim's trouble.
		if id, err := s.st.HGet(ctx, claimKey(drop, claim), "tier"); err == nil {
			tier = s.tiers[id]
		}
	}
	return config.PickupDeadline(t.node, tier, now)
}

// slaDueScript lists due deadlines. KEYS: 1 sla zset. ARGV: now ms, limit.
var slaDueScript = store.NewScript("sla-due", `
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
`, func(tx store.Tx, keys, argv []string) (any, error) {
	now, limit := parseFloat(argv[0]), int(parseFloat(argv[1]))
	out := []any{}
	for _, id := range tx.ZRangeByScore(keys[0], -1e300, now, limit) {
		out = append(out, id)
	}
	return out, nil
})

var zremScript = store.NewScript("zrem", `return redis.call('ZREM', KEYS[1], ARGV[1])`,
	func(tx store.Tx, keys, argv []string) (any, error) { return int64(tx.ZRem(keys[0], argv[0])), nil })

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
