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

// refreshGrace is how long past its maxAge a kept state (or claim-page
// read, see previewCache) still answers while one caller reads it
// afresh: longer than a read of a store that answers, shorter than an
// outage.
const refreshGrace = 5 * time.Second

type cachedState struct {
	st DropState
	at time.Time
	// refreshing is set while one caller reads the state again past
	// maxAge; the others are answered with st meanwhile.
	refreshing bool
}

// NewStateCache returns a cache of v's states, each kept at most maxAge;
// it forgets a drop's state on v.Changed too.
func NewStateCache(v *Verifier, maxAge time.Duration) *StateCache {
	c := &StateCache{v: v, maxAge: maxAge, states: make(map[string]cachedState)}
	v.OnChange(c.Forget)
	return c
}

// State returns the drop's state at now, as Verifier.State does.
//
// Past maxAge the first caller reads the state again, and the others are
// answered with the kept state until it has (for refreshGrace at most): a
// slow store then holds up one scan, not the crowd's. A kept state has
// seen no announced change (Forget drops it), so this serves nothing a
// change has overtaken.
func (c *StateCache) State(ctx context.Context, drop string) (DropState, error) {
	now := c.v.now()
	c.mu.Lock()
	cs, ok := c.states[drop]
	gen := c.gen
	age := now.Sub(cs.at)
	if ok && (age < c.maxAge || age < c.maxAge+refreshGrace && cs.refreshing) {
		c.mu.Unlock()
		st := cs.st
		if st.Status == StatusOpen && !st.ClosesAt.IsZero() && !now.Before(st.ClosesAt) {
			st.Status = StatusClosed
		}
		return st, nil
	}
	if ok {
		cs.refreshing = true
		c.states[drop] = cs
	}
	c.mu.Unlock()
	st, err := c.v.State(ctx, drop)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.states[drop]; ok && e.refreshing {
		e.refreshing = false // whatever happens below, the next caller may read
		c.states[drop] = e
	}
	switch {
	case err != nil || c.gen != gen:
		// Failed, or a change was announced meanwhile: nothing of this
		// read is kept.
	case st.OpenedAt.IsZero():
		delete(c.states, drop)
	default:
		c.states[drop] = cachedState{st: st, at: now}
	}
	return st, err
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
