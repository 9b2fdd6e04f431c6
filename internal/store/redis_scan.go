package store

import (
	"context"
	"strings"
)

// scanCount is how many keys one SCAN step looks at: small enough that a
// step costs Redis well under a millisecond.
const scanCount = 1000

// ScanPrefix implements Store with SCAN … MATCH <prefix>*.
func (r *Redis) ScanPrefix(ctx context.Context, prefix string, fn func(keys []string) error) error {
	match := globEscape(r.prefix+prefix) + "*"
	var cursor uint64
	for {
		full, next, err := r.c.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return redisErr(ctx, err)
		}
		if len(full) > 0 {
			keys := make([]string, len(full))
			for i, k := range full {
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
