package fulfillment

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// Compensation is applied by the transition script itself, in the step
// that moves a claim to rejected, pickup_failed or forward_failed, so it
// happens exactly once however many replicas race:
//
//   - code: the next code of the drop's pool is popped (LPOP) and the claim
//     becomes compensated with it, shown on the receipt page. The pool is
//     loaded from codes_file into the store once, ever; a code is handed out
//     at most once. An empty pool leaves the claim failed with
//     compensation=pool_empty (metric kind "pool_empty").
//   - webhook: a claim.compensated entry joins the drop's outbox and goes to
//     the creator's URL through the forwarder (signed, retried); the claim
//     becomes compensated when it is delivered.
//   - none: the claim stays in its failed state.

// LoadPools loads the code pool of every drop with compensation kind code
// that has none loaded yet. Every replica may call it at every start: the
// first load wins and later ones change nothing.
func (s *Service) LoadPools(ctx context.Context) error {
	var errs []error
	for _, d := range s.cfg.Drops.All("") {
		if d.Compensation.Kind != config.CompensationCode || d.Compensation.CodesFile == "" {
			continue
		}
		n, err := s.LoadPool(ctx, d.ID, s.cfg.ResolvePath(d.Compensation.CodesFile))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n > 0 {
			s.log.Info().Str("drop", d.ID).Int("codes", n).Msg("compensation code pool loaded")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("fulfillment: load pools: %v", errs)
	}
	return nil
}

// LoadPool loads the codes of file (one a line; blank lines and lines
// starting with # are skipped) as drop's pool, unless a pool was loaded
// before. It returns the number of codes loaded (0: already loaded).
func (s *Service) LoadPool(ctx context.Context, drop, file string) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("fulfillment: drop %s: codes file: %w", drop, err)
	}
	var args []any
	seen := make(map[string]bool)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		c := strings.TrimSpace(sc.Text())
		if c == "" || strings.HasPrefix(c, "#") || seen[c] {
			continue
		}
		seen[c] = true
		args = append(args, c)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("fulfillment: drop %s: codes file: %w", drop, err)
	}
	raw, err := s.st.Run(ctx, poolLoadScript, []string{poolKey(drop), poolLoadedKey(drop)}, args...)
	if err != nil {
		return 0, err
	}
	n, _ := raw.(int64)
	return int(n), nil
}

// PoolLeft returns how many compensation codes drop has left.
func (s *Service) PoolLeft(ctx context.Context, drop string) (int64, error) {
	raw, err := s.st.Run(ctx, llenScript, []string{poolKey(drop)})
	n, _ := raw.(int64)
	return n, err
}

// poolLoadScript loads a pool once. KEYS: 1 pool list, 2 loaded mark.
// ARGV: the codes. Returns the number loaded, 0 if loaded before.
var poolLoadScript = store.NewScript("comp-pool-load", `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 1, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('SET', KEYS[2], #ARGV)
return #ARGV
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if tx.Exists(keys[1]) {
		return int64(0), nil
	}
	if len(argv) > 0 {
		tx.RPush(keys[0], argv...)
	}
	tx.Set(keys[1], fmt.Sprint(len(argv)), 0)
	return int64(len(argv)), nil
})

var llenScript = store.NewScript("llen", `return redis.call('LLEN', KEYS[1])`,
	func(tx store.Tx, keys, _ []string) (any, error) { return tx.LLen(keys[0]), nil })
