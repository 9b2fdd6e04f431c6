package verifier

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

// previewCache keeps what the claim page and its live status read of a
// drop (its state and stock hashes), so that a crowd opening the code on
// screen costs one store read, not one per phone.
//
// What is kept of a drop is dropped on each of its announcements on
// StateChannel but a claim's later state (every claim announces the stock
// it left, so stock is live on the next view), on a claim made through
// this process (before its 201 is written, so the claimant's next view
// shows it). Past maxAge, the next view reads it again (while it does,
// for refreshGrace at most, other views are answered from what is kept):
// that bounds staleness, to maxAge and refreshGrace, should an
// announcement be lost while the store is unreachable. Concurrent views of a drop with nothing kept
// wait for the read in flight rather than send their own, unless the
// drop changed since that read began.
//
// What is kept is the hashes as read (previewSnapshot): the drop's
// definition and the time are applied to them on every view (see
// Claims.Preview). Safe for concurrent use.
type previewCache struct {
	maxAge time.Duration

	mu    sync.Mutex
	drops map[string]*previewEntry
}

type previewEntry struct {
	gen uint64 // bumped by forget

	kept *previewSnapshot
	at   time.Time

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

// get returns the drop's snapshot as of at most maxAge before now, read
// with read when nothing usable is kept.
func (c *previewCache) get(ctx context.Context, drop string, now time.Time,
	read func(context.Context) (*previewSnapshot, error)) (*previewSnapshot, error) {
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
		// A kept snapshot has seen no change since it was read (forget
		// drops it). Past maxAge, for refreshGrace more, it still answers
		// while the one view that reads it afresh waits for the store, so
		// that a slow read holds up one view, not the crowd; a store that
		// does not answer for longer is every view's error again.
		age := now.Sub(e.at)
		if e.kept != nil && (age < c.maxAge || age < c.maxAge+refreshGrace && e.reading != nil && e.readGen == e.gen) {
			snap := e.kept
			c.mu.Unlock()
			return snap, nil
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
				return nil, err
			}
			continue // kept now, or read afresh
		}
		done := make(chan struct{})
		e.reading, e.readGen = done, e.gen
		gen := e.gen
		c.mu.Unlock()

		snap, err := read(ctx)

		c.mu.Lock()
		if err == nil && e.gen == gen && c.drops[drop] == e {
			e.kept, e.at = snap, now
		}
		if e.reading == done {
			e.reading = nil
		}
		c.mu.Unlock()
		close(done)
		return snap, err
	}
}

// forget drops what is kept of drop: it changed.
func (c *previewCache) forget(drop string) {
	c.mu.Lock()
	if e := c.drops[drop]; e != nil {
		e.gen++
		e.kept = nil
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

// previewSnapshot is a drop's state and stock hashes as read once, parsed
// once; shared by every view it serves and never modified.
type previewSnapshot struct {
	// state is the drop's state as stored: a drop past its closes_at
	// still says open here (Claims.Preview applies the time).
	state     DropState
	soldOutAt int64 // unix ms; 0 when not recorded
	stock     map[string]string

	lines atomic.Pointer[snapshotLines]
}

// snapshotLines is the snapshot's stock as a drop definition lists it.
type snapshotLines struct {
	d           *config.Drop
	stock       []StockLeft
	left, total int64
}

func newPreviewSnapshot(drop string, state, stock map[string]string) *previewSnapshot {
	s := &previewSnapshot{state: parseState(drop, state, time.Time{}), stock: stock}
	if ms, err := strconv.ParseInt(state["sold_out_at"], 10, 64); err == nil && ms > 0 {
		s.soldOutAt = ms
	}
	return s
}

// linesOf returns the snapshot's stock of each of d's lines (shared: not
// to be modified), with what is left and the total over them. A drop's
// definition is replaced, never changed, when it is edited, so the
// pointer names it.
func (s *previewSnapshot) linesOf(d *config.Drop) *snapshotLines {
	if l := s.lines.Load(); l != nil && l.d == d {
		return l
	}
	l := &snapshotLines{d: d, stock: stockOf(d, s.stock)}
	for _, line := range l.stock {
		l.left += max(line.Left, 0)
		l.total += line.Total
	}
	s.lines.Store(l)
	return l
}
