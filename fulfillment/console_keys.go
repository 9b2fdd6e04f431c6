package fulfillment

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// DefaultConsoleKeyGrace is how long a rotated-out console key keeps
// working, as for overlay keys.
const DefaultConsoleKeyGrace = 10 * time.Minute

// ConsoleKeys answers which keys open a hosted node's pickup console: the
// node's console_keys until the first rotation; after it, the newest key
// from the store and the ones it replaced until their grace ends. It is
// the console's admin.KeyRing. Safe for concurrent use.
type ConsoleKeys struct {
	st    store.Store
	nodes map[string]*config.Node // hosted nodes only
	grace time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string][]string // last answer read from the store, by node
}

// consoleKeySet is a node's stored console keys.
type consoleKeySet struct {
	Current   string       `json:"current"`
	RotatedAt int64        `json:"rotated_at"`
	Previous  []retiredKey `json:"previous"`
}

type retiredKey struct {
	Key   string `json:"key"`
	Until int64  `json:"until"` // ms
}

func consoleKeysKey(node string) string { return "fulfillment:console-keys:" + node }

// noNode stands in for an unknown (or not hosted) node in Keys: no node
// has this id, so its stored keys never exist.
const noNode = "-"

// minConsoleKeyChecks is how many keys Match compares with at least: more
// than a node usually has, so the count of its keys, or whether it exists,
// does not show in the time of a refusal.
const minConsoleKeyChecks = 8

// noConsoleKey pads the comparisons of Match; it never counts as a match.
const noConsoleKey = "\x00 no console key \x00"

func newConsoleKeys(st store.Store, nodes []config.Node, grace time.Duration, now func() time.Time) *ConsoleKeys {
	if grace <= 0 {
		grace = DefaultConsoleKeyGrace
	}
	k := &ConsoleKeys{st: st, nodes: map[string]*config.Node{}, grace: grace, now: now, last: map[string][]string{}}
	for i := range nodes {
		if nodes[i].Hosted() {
			k.nodes[nodes[i].ID] = &nodes[i]
		}
	}
	return k
}

// Keys returns the keys that open node's console now, false for a node
// that is unknown or not hosted. When the store does not answer it
// returns its last answer (or the configured keys).
//
// An unknown node costs what a known one does: the same store read (of
// noNode's keys) and the same fallback, so the time of a refusal does not
// tell whether a node exists.
func (k *ConsoleKeys) Keys(ctx context.Context, node string) ([]string, bool) {
	n, known := k.nodes[node]
	id, keys := noNode, []string(nil)
	if known {
		id, keys = node, n.ConsoleKeys
	}
	set, err := k.read(ctx, id)
	if err == nil && set != nil {
		keys = set.valid(k.now())
	}
	k.mu.Lock()
	if err != nil {
		if last, seen := k.last[id]; seen {
			keys = last
		}
	} else {
		k.last[id] = keys
	}
	k.mu.Unlock()
	if !known {
		return nil, false
	}
	return keys, true
}

// Match returns the key of node that key is, comparing in constant time
// with every key of the node padded to minConsoleKeyChecks comparisons.
func (k *ConsoleKeys) Match(ctx context.Context, node, key string) (string, bool) {
	keys, known := k.Keys(ctx, node)
	got := sha256.Sum256([]byte(key))
	match, at := 0, 0
	for i := range max(len(keys), minConsoleKeyChecks) {
		want, counts := noConsoleKey, 0
		if i < len(keys) {
			want, counts = keys[i], 1
		}
		w := sha256.Sum256([]byte(want))
		eq := subtle.ConstantTimeCompare(got[:], w[:]) & counts
		at = subtle.ConstantTimeSelect(eq&(1-match), i, at)
		match |= eq
	}
	if !known || key == "" || match != 1 {
		return "", false
	}
	return keys[at], true
}

// Current returns the key new console links carry, "" when the node has
// none yet (a rotation makes one).
func (k *ConsoleKeys) Current(ctx context.Context, node string) (string, error) {
	n, ok := k.nodes[node]
	if !ok {
		return "", ErrUnknownNode
	}
	set, err := k.read(ctx, node)
	if err != nil {
		return "", err
	}
	if set != nil {
		return set.Current, nil
	}
	if len(n.ConsoleKeys) == 0 {
		return "", nil
	}
	return n.ConsoleKeys[0], nil
}

func (k *ConsoleKeys) read(ctx context.Context, node string) (*consoleKeySet, error) {
	js, err := k.st.Get(ctx, consoleKeysKey(node))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var set consoleKeySet
	if err := json.Unmarshal([]byte(js), &set); err != nil {
		return nil, fmt.Errorf("fulfillment: console keys of %s: %w", node, err)
	}
	return &set, nil
}

func (s *consoleKeySet) valid(now time.Time) []string {
	keys := []string{s.Current}
	for _, p := range s.Previous {
		if now.UnixMilli() < p.Until {
			keys = append(keys, p.Key)
		}
	}
	return keys
}

// rotate makes a new key current; the keys valid now stay valid for the
// grace period. It returns the new key and the end of the grace.
// Concurrent rotations on several replicas: the last write wins — rotate
// from one place at a time, as with overlay keys.
func (k *ConsoleKeys) rotate(ctx context.Context, node string) (string, time.Time, error) {
	n, ok := k.nodes[node]
	if !ok {
		return "", time.Time{}, ErrUnknownNode
	}
	set, err := k.read(ctx, node)
	if err != nil {
		return "", time.Time{}, err
	}
	now := k.now()
	until := now.Add(k.grace).UnixMilli()
	next := &consoleKeySet{Current: rand.Text(), RotatedAt: now.UnixMilli()}
	old := n.ConsoleKeys
	if set != nil {
		old = []string{set.Current}
		for _, p := range set.Previous {
			if now.UnixMilli() < p.Until {
				next.Previous = append(next.Previous, p)
			}
		}
	}
	for _, o := range old {
		next.Previous = append(next.Previous, retiredKey{Key: o, Until: until})
	}
	js, _ := json.Marshal(next)
	if err := k.st.Set(ctx, consoleKeysKey(node), string(js), 0); err != nil {
		return "", time.Time{}, err
	}
	return next.Current, time.UnixMilli(until).UTC(), nil
}
