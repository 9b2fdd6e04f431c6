package store

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// scanCount is how many keys one SCAN step looks at: small enough that a
// step costs Redis well under a millisecond.
const scanCount = 1000

// ScanPrefix implements Store with SCAN … MATCH <prefix>*: on a cluster,
// on each master in turn.
func (r *Redis) ScanPrefix(ctx context.Context, prefix string, fn func(keys []string) error) error {
	if r.cluster != nil {
		return r.scanCluster(ctx, prefix, fn)
	}
	return r.scanNode(ctx, r.c, r.prefix+prefix, fn)
}

// scanNode walks the keys of one node that start with full.
func (r *Redis) scanNode(ctx context.Context, c redis.Cmdable, full string, fn func(keys []string) error) error {
	match := globEscape(full) + "*"
	var cursor uint64
	for {
		found, next, err := c.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return redisErr(ctx, err)
		}
		if len(found) > 0 {
			keys := make([]string, len(found))
			for i, k := range found {
				keys[i] = strings.TrimPrefix(k, r.prefix)
			}
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
