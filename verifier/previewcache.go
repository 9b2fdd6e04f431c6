package verifier

import (
	"context"
	"sync"
	"time"
)

// previewCache keeps what the claim page and its live status read of a
// drop (its state and stock hashes), so that a crowd opening the code on
// screen costs one store read, not one per phone.
//
// What is kept of a drop is dropped on each of its announcements on
// StateChannel but a claim's later state (every claim announces the stock
// it left, so stock is live on the next view), on a claim made through
// this process (before its 201 is written, so the claimant's next view
// shows it), and after maxAge, which bounds staleness should an
// announcement be lost while the store is unreachable. Concurrent views
// of a drop whose hashes are being read wait for that read rather than
// send their own, unless the drop changed since the read began.
//
// Only the raw hashes are kept: the drop's definition and the time are
// applied to them on every view (see Claims.Preview). Safe for
// concurrent use.
type previewCache struct {
	maxAge time.Duration

	mu    sync.Mutex
	drops map[string]*previewEntry
}

type previewEntry struct {
	gen uint64 // bumped by forget

	kept         bool
	state, stock map[string]string // never written once kept
	at           time.Time

	reading chan struct{} // closed when the read in flight ends
	readGen uint64        // gen when that read began
	waiters int           // views waiting for it
}

// previewCacheDrops bounds the drops kept; past it everything is dropped
// (a replica serves a handful of live drops at a time).
const previewCacheDrops = 1024

func newPreviewCache(maxAge time.Duration) *previewCache {
	return &previewCache{maxAge: maxAge, drops: make(map[string]*previewEntry)}
}

// get returns the drop's state and stock hashes as of at most maxAge
// before now, read with read when nothing usable is kept. The maps
// returned must not be modified.
func (c *previewCache) get(ctx context.Context, drop string, now time.Time,
	read func(context.Context) (state, stock map[string]string, err error)) (map[string]string, map[string]string, error) {
	for {
		c.mu.Lock()
		e := c.drops[drop]
		if e == nil {
			if len(c.drops) >= previewCacheDrops {
				c.forgetAllLocked()
			}
			e = &previewEntry{}
			c.drops[drop] = e
		}
		if e.kept && now.Sub(e.at) < c.maxAge {
			state, stock := e.state, e.stock
			c.mu.Unlock()
			return state, stock, nil
		}
		if e.reading != nil && e.readGen == e.gen {
			wait := e.reading
			e.waiters++
			c.mu.Unlock()
			var err error
			select {
			case <-wait:
			case <-ctx.Done():
				err = ctx.Err()
			}
			c.mu.Lock()
			e.waiters--
			c.mu.Unlock()
			if err != nil {
				return nil, nil, err
			}
			continue // kept now, or read afresh
		}
		done := make(chan struct{})
		e.reading, e.readGen = done, e.gen
		gen := e.gen
		c.mu.Unlock()

		state, stock, err := read(ctx)

		c.mu.Lock()
		if err == nil && e.gen == gen && c.drops[drop] == e {
			e.kept, e.state, e.stock, e.at = true, state, stock, now
		}
		if e.reading == done {
			e.reading = nil
		}
		c.mu.Unlock()
		close(done)
		return state, stock, err
	}
}

// forget drops what is kept of drop: it changed.
func (c *previewCache) forget(drop string) {
	c.mu.Lock()
	if e := c.drops[drop]; e != nil {
		e.gen++
		e.kept, e.state, e.stock = false, nil, nil
	}
	c.mu.Unlock()
}

// forgetAll drops everything kept: changes may have gone unannounced.
func (c *previewCache) forgetAll() {
	c.mu.Lock()
	c.forgetAllLocked()
	c.mu.Unlock()
}

func (c *previewCache) forgetAllLocked() {
	for _, e := range c.drops {
		e.gen++
	}
	clear(c.drops)
}
