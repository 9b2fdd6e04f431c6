package store

import (
	"context"
	"slices"
	"strings"
)

// ScanPrefix implements Store. The keys are collected under the lock and
// passed after it is released, so fn may use the store.
func (m *Memory) ScanPrefix(ctx context.Context, prefix string, fn func(keys []string) error) error {
	tx, err := m.lock(ctx)
	if err != nil {
		return err
	}
	full := m.prefix + prefix
	var keys []string
	for k := range m.data {
		if strings.HasPrefix(k, full) && tx.lookup(k) != nil {
			keys = append(keys, strings.TrimPrefix(k, m.prefix))
		}
	}
	m.mu.Unlock()
	slices.Sort(keys)
	for len(keys) > 0 {
		n := min(len(keys), scanCount)
		if err := fn(keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
