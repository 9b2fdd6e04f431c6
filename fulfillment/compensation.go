package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// Compensation is applied by the transition script itself, in the step
// that moves a claim to rejected, pickup_failed or forward_failed, so it
// happens exactly once however many replicas race:
//
//   - code: the next code of the drop's pool is popped (LPOP) and the claim
//     becomes compensated with it, shown on the receipt page. A drop's
//     codes_file is loaded into the pool once, ever (for a drop of the
//     file at start, for one of the admin API when it is created, and by
//     a sweep of the SLA loop for any the first try missed); more codes are
//     added with AddCodes (the admin API's upload). The pool never takes a
//     code it has held before, handed out or not, so a code goes to one
//     viewer at most and an upload repeated changes nothing. An empty
//     pool leaves the claim failed with compensation=pool_empty (metric
//     kind "pool_empty").
//   - webhook: a claim.compensated entry joins the drop's outbox and goes to
//     the creator's URL through the forwarder (signed, retried); the claim
//     becomes compensated when it is delivered.
//   - none: the claim stays in its failed state.

// codesBatch bounds the codes one store script adds, so that a large
// upload does not hold Redis for long. Each batch is atomic; a batch
// repeated after a failure adds nothing twice.
const codesBatch = 1000

// poolLowShare: a pool holding fewer codes than this share of the drop's
// stock is low (dashboard warning, metric).
const poolLowShare = 0.10

// PoolLow reports whether a pool of left codes is low for drop d: fewer
// than 10 % of its stock.
func PoolLow(d *config.Drop, left int64) bool {
	var total int64
	for _, l := range d.Stock {
		total += int64(l.Qty)
	}
	return float64(left) < poolLowShare*float64(total)
}

// LoadPools loads the codes_file of every drop of the catalog with
// compensation kind code that this process has not seen loaded yet. Every
// replica may call it at every start and as often as it likes: a drop's
// file is loaded once, ever, and then only remembered here.
func (s *Service) LoadPools(ctx context.Context) error {
	var errs []error
	for _, d := range s.cfg.Drops.All("") {
		if d.Compensation.Kind != config.CompensationCode || d.Compensation.CodesFile == "" {
			continue
		}
		if _, done := s.pools.Load(d.ID); done {
			continue
		}
		n, err := s.LoadPool(ctx, d.ID, s.cfg.ResolvePath(d.Compensation.CodesFile))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.pools.Store(d.ID, struct{}{})
		if n > 0 {
			s.log.Info().Str("drop", d.ID).Int("codes", n).Msg("compensation code pool loaded")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("fulfillment: load pools: %w", errors.Join(errs...))
	}
	return nil
}

// LoadPool adds the codes of file (see config.ParseCodes) to drop's pool,
// unless a file was loaded for the drop before. It returns the number of
// codes added (0: loaded before). Errors: the file's (config.ReadCodes),
// store errors.
func (s *Service) LoadPool(ctx context.Context, drop, file string) (int, error) {
	switch _, err := s.st.Get(ctx, poolLoadedKey(drop)); {
	case err == nil:
		return 0, nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, err
	}
	codes, err := config.ReadCodes(file)
	if err != nil {
		return 0, fmt.Errorf("fulfillment: drop %s: %w", drop, err)
	}
	added, _, err := s.AddCodes(ctx, drop, codes)
	if err != nil {
		return added, err
	}
	// Two replicas loading at once both add: the pool takes each code once.
	return added, s.st.Set(ctx, poolLoadedKey(drop), strconv.Itoa(len(codes)), 0)
}

// AddCodes adds to drop's pool the codes it never held, and returns how
// many it added and how many the pool holds now. codes must be valid
// (config.ParseCodes).
func (s *Service) AddCodes(ctx context.Context, drop string, codes []string) (added int, available int64, err error) {
	if len(codes) == 0 {
		available, err = s.PoolLeft(ctx, drop)
		return 0, available, err
	}
	// Every replica's pool gauge reads the pools of the backlog's drops.
	if err := s.backlog.Touch(ctx, drop); err != nil {
		return 0, 0, err
	}
	for len(codes) > 0 {
		n := min(len(codes), codesBatch)
		args := make([]any, n)
		for i, c := range codes[:n] {
			args[i] = c
		}
		codes = codes[n:]
		raw, err := s.st.Run(ctx, poolAddScript, []string{poolKey(drop), poolCodesKey(drop)}, args...)
		if err != nil {
			return added, available, err
		}
		res, _ := raw.([]any)
		if len(res) != 2 {
			return added, available, fmt.Errorf("fulfillment: unexpected pool reply %v", raw)
		}
		a, _ := res[0].(int64)
		available, _ = res[1].(int64)
		added += int(a)
	}
	return added, available, nil
}

// PoolLeft returns how many compensation codes drop has left.
func (s *Service) PoolLeft(ctx context.Context, drop string) (int64, error) {
	raw, err := s.st.Run(ctx, llenScript, []string{poolKey(drop)})
	n, _ := raw.(int64)
	return n, err
}

// PoolStatus returns how many codes drop d has left and whether that is
// low (PoolLow).
func (s *Service) PoolStatus(ctx context.Context, d *config.Drop) (left int64, low bool, err error) {
	left, err = s.PoolLeft(ctx, d.ID)
	return left, PoolLow(d, left), err
}

// poolAddScript adds the codes the drop's pool never held. KEYS: 1 pool
// list, 2 every code the pool ever held. ARGV: the codes. Returns {added,
// codes in the pool}. A pool filled before the set existed seeds it from
// what it still holds.
var poolAddScript = store.NewScript("comp-pool-add", `
if redis.call('EXISTS', KEYS[2]) == 0 then
  local cur = redis.call('LRANGE', KEYS[1], 0, -1)
  for i = 1, #cur do redis.call('SADD', KEYS[2], cur[i]) end
end
local added = 0
for i = 1, #ARGV do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i])
    added = added + 1
  end
end
return {added, redis.call('LLEN', KEYS[1])}
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if !tx.Exists(keys[1]) {
		if cur := tx.LRange(keys[0], 0, -1); len(cur) > 0 {
			tx.SAdd(keys[1], cur...)
		}
	}
	var added int64
	for _, c := range argv {
		if tx.SAdd(keys[1], c) == 1 {
			tx.RPush(keys[0], c)
			added++
		}
	}
	return []any{added, tx.LLen(keys[0])}, nil
})

var llenScript = store.NewScript("llen", `return redis.call('LLEN', KEYS[1])`,
	func(tx store.Tx, keys, _ []string) (any, error) { return tx.LLen(keys[0]), nil })

// Pool metrics, read at scrape time so that every replica reports what
// the store holds (codes are popped by whichever replica fails a claim).
var (
	poolCodesDesc = prometheus.NewDesc("dropwire_compensation_pool_codes",
		"Compensation codes left in the pool of a drop with compensation kind code.", []string{"drop"}, nil)
	poolLowDesc = prometheus.NewDesc("dropwire_compensation_pool_low",
		"1 while a drop's compensation pool holds fewer codes than 10% of its stock (alert on it).", []string{"drop"}, nil)
)

// poolCollector exports the pools of the drops with compensation kind
// code, every one of them (a pool may be low before its drop opens).
// What a pool holds changes only by a code handed out (a transition) or
// codes added (AddCodes), and both touch the backlog first: a scrape
// reads the pools of the drops of the backlog, and of drops it has never
// read, and answers the others from what it read last (poolLevels). The
// store reads per scrape follow the drops with work, not those configured.
type poolCollector struct{ s *Service }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolCodesDesc
	ch <- poolLowDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	work, err := c.s.workDrops(ctx)
	if err != nil {
		// Missing beats wrong: an alert on the pool sees no data.
		c.s.storeErr(ctx, err, "pool metrics")
		return
	}
	busy := make(map[string]bool, len(work))
	for _, w := range work {
		busy[w.ID] = true
	}
	for _, d := range c.s.cfg.Drops.All("") {
		if d.Compensation.Kind != config.CompensationCode {
			continue
		}
		c.s.poolMu.Lock()
		left, known := c.s.poolLevels[d.ID]
		c.s.poolMu.Unlock()
		if !known || busy[d.ID] {
			if left, err = c.s.PoolLeft(ctx, d.ID); err != nil {
				c.s.storeErr(ctx, err, "pool metrics")
				return
			}
			c.s.poolMu.Lock()
			c.s.poolLevels[d.ID] = left
			c.s.poolMu.Unlock()
		}
		v := 0.0
		if PoolLow(d, left) {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(poolCodesDesc, prometheus.GaugeValue, float64(left), d.ID)
		ch <- prometheus.MustNewConstMetric(poolLowDesc, prometheus.GaugeValue, v, d.ID)
	}
}
