package verifier

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// BacklogKey is the store key of the backlog index: a sorted set of the
// drops that may have fulfillment work (outbox entries not yet delivered,
// retries due, pickup deadlines, dead letters), each scored with the last
// time (unix ms) a replica was about to add work to it. The loops that do
// that work (forwarding, pickup deadlines, the dead-letter and pool
// gauges) go over it instead of every drop configured, so their cost
// follows the drops with work.
//
// It is one key outside every drop's slot (a drop's scripts cannot write
// it): each replica writes a drop's entry once per backlogRefresh at most
// while it adds work to it, and reads the whole set once per loop tick,
// so no request writes it and its slot serves a few commands a second.
const BacklogKey = "fulfillment:backlog"

// How long a drop stays in the backlog after work was last added to it,
// and how often a replica adding work writes that down again. A drop
// leaves only when it was found without work after its score had aged
// past backlogGrace (Backlog.Release); since every writer refreshes the
// score at most backlogRefresh before it adds work, work added after the
// check was preceded by a refresh that the release sees (it removes the
// drop only if the score is still the one it read before the check), or
// by one after the release, which adds the drop back. The margin between
// the two also absorbs clock differences between replicas.
const (
	backlogGrace   = 10 * time.Minute
	backlogRefresh = backlogGrace / 4
)

// Backlog is a process's handle on the backlog index. Safe for concurrent
// use.
type Backlog struct {
	st  store.Store
	now func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // drop → when this process last refreshed it
}

// BacklogDrop is a drop of the backlog with its score as read.
type BacklogDrop struct {
	ID    string
	Score int64 // unix ms of the last refresh
}

// NewBacklog returns a handle on st's backlog index; now defaults to
// time.Now.
func NewBacklog(st store.Store, now func() time.Time) *Backlog {
	if now == nil {
		now = time.Now
	}
	return &Backlog{st: st, now: now, touched: make(map[string]time.Time)}
}

// Touch records that work is about to be added to drop; call it before
// the write that adds it, and do not add the work if it fails. It writes
// to the store once per backlogRefresh per drop and process.
func (b *Backlog) Touch(ctx context.Context, drop string) error {
	now := b.now()
	b.mu.Lock()
	last, ok := b.touched[drop]
	b.mu.Unlock()
	if ok && now.Sub(last) < backlogRefresh && !now.Before(last) {
		return nil
	}
	if _, err := b.st.Run(ctx, backlogTouchScript, []string{BacklogKey}, now.UnixMilli(), drop); err != nil {
		return fmt.Errorf("verifier: backlog: %w", err)
	}
	b.mu.Lock()
	if len(b.touched) >= 4096 {
		for d, at := range b.touched {
			if now.Sub(at) >= backlogRefresh {
				delete(b.touched, d)
			}
		}
	}
	b.touched[drop] = now
	b.mu.Unlock()
	return nil
}

// Drops returns the drops of the backlog.
func (b *Backlog) Drops(ctx context.Context) ([]BacklogDrop, error) {
	raw, err := b.st.Run(ctx, backlogListScript, []string{BacklogKey})
	if err != nil {
		return nil, fmt.Errorf("verifier: backlog: %w", err)
	}
	a, _ := raw.([]any)
	out := make([]BacklogDrop, 0, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		id, _ := a[i].(string)
		var ms int64
		switch v := a[i+1].(type) {
		case string:
			f, _ := strconv.ParseFloat(v, 64)
			ms = int64(f)
		case int64:
			ms = v
		}
		out = append(out, BacklogDrop{ID: id, Score: ms})
	}
	return out, nil
}

// Aged reports whether d was last refreshed more than backlogGrace ago:
// only then may it be released.
func (b *Backlog) Aged(d BacklogDrop) bool {
	return b.now().UnixMilli()-d.Score > backlogGrace.Milliseconds()
}

// Release takes d out of the backlog. Call it only for an Aged d, read
// before the drop was found without work: it removes nothing if a replica
// refreshed the drop since d was read. It reports whether d was removed.
func (b *Backlog) Release(ctx context.Context, d BacklogDrop) (bool, error) {
	if !b.Aged(d) {
		return false, nil
	}
	raw, err := b.st.Run(ctx, backlogReleaseScript, []string{BacklogKey}, d.ID, d.Score)
	if err != nil {
		return false, fmt.Errorf("verifier: backlog: %w", err)
	}
	n, _ := raw.(int64)
	return n == 1, nil
}

// backlogTouchScript raises a drop's score to now (never lowers it: the
// clocks of replicas differ a little). KEYS: 1 backlog. ARGV: now ms, drop.
var backlogTouchScript = store.NewScript("backlog-touch", `
local cur = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not cur or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
return 0
`, func(tx store.Tx, keys, argv []string) (any, error) {
	now, _ := strconv.ParseFloat(argv[0], 64)
	if cur, ok := tx.ZScore(keys[0], argv[1]); !ok || cur < now {
		tx.ZAdd(keys[0], now, argv[1])
	}
	return int64(0), nil
})

// backlogListScript lists the backlog: drop, score, drop, score, ...
// KEYS: 1 backlog.
var backlogListScript = store.NewScript("backlog-list", `
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 2, #all, 2 do all[i] = tostring(math.floor(tonumber(all[i]))) end
return all
`, func(tx store.Tx, keys, _ []string) (any, error) {
	out := []any{}
	for _, d := range tx.ZRangeByScore(keys[0], -1e300, 1e300, 0) {
		sc, _ := tx.ZScore(keys[0], d)
		out = append(out, d, strconv.FormatInt(int64(sc), 10))
	}
	return out, nil
})

// backlogReleaseScript removes a drop whose score is still the one read.
// KEYS: 1 backlog. ARGV: drop, score read. Returns 1 removed, 0 not.
var backlogReleaseScript = store.NewScript("backlog-release", `
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if cur and math.floor(tonumber(cur)) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
`, func(tx store.Tx, keys, argv []string) (any, error) {
	want, _ := strconv.ParseInt(argv[1], 10, 64)
	if cur, ok := tx.ZScore(keys[0], argv[0]); ok && int64(cur) == want {
		return int64(tx.ZRem(keys[0], argv[0])), nil
	}
	return int64(0), nil
})
