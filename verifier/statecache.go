package verifier

import (
	"context"
	"sync"
	"time"
)

// StateCache serves drop states from memory on the claim path, where every
// scan would otherwise read the drop's state before its claim. Only the
// state of a drop that has opened is kept: its opened_at never changes and
// the claim script checks the rest again atomically. A kept state is
// dropped on the drop's next announcement on StateChannel (Forget) and
// after maxAge, which bounds how stale it may be if an announcement is
// lost while Redis is unreachable.
type StateCache struct {
	v      *Verifier
	maxAge time.Duration

	mu     sync.Mutex
	gen    uint64 // bumped by Forget: a read that began before is not kept
	states map[string]cachedState
}

type cachedState struct {
	st DropState
	at time.Time
}

// NewStateCache returns a cache of v's states, each kept at most maxAge.
func NewStateCache(v *Verifier, maxAge time.Duration) *StateCache {
	return &StateCache{v: v, maxAge: maxAge, states: make(map[string]cachedState)}
}

// State returns the drop's state at now, as Verifier.State does.
func (c *StateCache) State(ctx context.Context, drop string) (DropState, error) {
	now := c.v.now()
	c.mu.Lock()
	cs, ok := c.states[drop]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(cs.at) < c.maxAge {
		st := cs.st
		if st.Status == StatusOpen && !st.ClosesAt.IsZero() && !now.Before(st.ClosesAt) {
			st.Status = StatusClosed
		}
		return st, nil
	}
	st, err := c.v.State(ctx, drop)
	if err != nil || st.OpenedAt.IsZero() {
		return st, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.states[drop] = cachedState{st: st, at: now}
	}
	c.mu.Unlock()
	return st, nil
}

// Forget drops what is kept of drop: it changed.
func (c *StateCache) Forget(drop string) {
	c.mu.Lock()
	c.gen++
	delete(c.states, drop)
	c.mu.Unlock()
}

// ForgetAll drops every kept state: changes may have gone unannounced.
func (c *StateCache) ForgetAll() {
	c.mu.Lock()
	c.gen++
	clear(c.states)
	c.mu.Unlock()
}
