package fulfillment

import (
	"context"
	"errors"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// The loops of this package (forwarding sweeps, pickup deadlines, the
// dead-letter and pool gauges, the dead-letter list) go over the drops of
// the backlog index (verifier.Backlog), not over every drop configured:
// what they cost follows the drops with work. Whatever adds work touches
// the index first (a claim, a transition, a retry, a dead letter, a
// replay); the forwarder's sweep releases a drop it found without work
// once the drop has had none added for a while.

// workDrop is a drop of the backlog that the catalog defines.
type workDrop struct {
	*config.Drop
	entry verifier.BacklogDrop
}

// workDrops returns the drops of the backlog that the catalog defines.
func (s *Service) workDrops(ctx context.Context) ([]workDrop, error) {
	all, err := s.backlog.Drops(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]workDrop, 0, len(all))
	for _, e := range all {
		d, err := s.cfg.Drops.Drop(ctx, e.ID)
		if err != nil {
			continue // deleted, or not in this replica's catalog yet
		}
		out = append(out, workDrop{Drop: d, entry: e})
	}
	return out, nil
}

// workDropIDs returns the ids of drops, in order.
func workDropIDs(drops []workDrop) []string {
	ids := make([]string, len(drops))
	for i, d := range drops {
		ids[i] = d.ID
	}
	return ids
}

// indexBacklog adds to the backlog the drops that have work but are not
// in it: work added before the index existed. It reads each configured
// drop once, so Run calls it once, in the background.
func (s *Service) indexBacklog(ctx context.Context) error {
	var errs []error
	for _, d := range s.cfg.Drops.All("") {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		raw, err := s.st.Run(ctx, hasWorkScript, []string{slaKey(d.ID), dlqKey(d.ID), dueKey(d.ID), outboxKey(d.ID)})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n, _ := raw.(int64); n > 0 {
			if err := s.backlog.Touch(ctx, d.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// hasWorkScript counts what a drop holds of fulfillment work, its outbox
// counted whole (delivered entries stay in the stream).
// KEYS: 1 sla zset, 2 dead letters, 3 retry due-set, 4 outbox stream.
var hasWorkScript = store.NewScript("fulfillment-has-work", `
return redis.call('ZCARD', KEYS[1]) + redis.call('HLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]) +
  redis.call('EXISTS', KEYS[4])
`, func(tx store.Tx, keys, _ []string) (any, error) {
	n := tx.ZCard(keys[0]) + tx.HLen(keys[1]) + tx.ZCard(keys[2])
	if tx.Exists(keys[3]) {
		n++
	}
	return n, nil
})

// idleScript counts the work a drop holds but its outbox: pickup
// deadlines, dead letters, retries due. KEYS: 1 sla, 2 dlq, 3 due-set.
var idleScript = store.NewScript("fulfillment-idle", `
return redis.call('ZCARD', KEYS[1]) + redis.call('HLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3])
`, func(tx store.Tx, keys, _ []string) (any, error) {
	return tx.ZCard(keys[0]) + tx.HLen(keys[1]) + tx.ZCard(keys[2]), nil
})
