package overlay

import (
	"context"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/verifier"
)

// The live index: which drops of each creator may show on an overlay, so
// that connecting an overlay, the periodic resync, a publish and a code
// rotation read and scan those drops only, however many are configured.
//
// A drop gets in when an announcement names it (an opening, a claim, any
// change), whether its creator has overlays here or not, and when a
// survey reads it showing. A survey reads the state of every drop of the
// catalog: when the hub subscribes (at start, and after the subscription
// broke, when announcements were lost), and when the store reports pub/sub
// messages dropped. Between surveys, a resync reads the drops whose
// announcement came before this replica's catalog had them (a drop just
// created on another replica), and surveys the drops the catalog gained
// when its size no longer matches what was surveyed (drops loaded after
// the hub started). A drop leaves when it can show nothing any more:
// idle, or ended longer than Linger ago.

// farFuture stands for "no end": an open drop without closes_at.
var farFuture = time.Unix(1<<40, 0)

// liveIndex is the hub's live index.
type liveIndex struct {
	mu sync.Mutex
	// drops: creator → drop → until when it may show (zero: not known,
	// read it).
	drops map[string]map[string]time.Time
	// surveyed holds every drop a survey has read, so that a resync
	// surveys only the drops the catalog gained since.
	surveyed map[string]struct{}
	// dropped is the store's count of pub/sub messages dropped, at the
	// last survey.
	dropped uint64
	// failed: the last survey did not finish; the next resync redoes it.
	failed bool
	// unknown: drops announced while the catalog did not have them, and
	// when; a resync looks them up again for a minute.
	unknown map[string]time.Time
}

// unknownFor is how long a resync looks up a drop announced before the
// catalog had it: the catalog sync between replicas takes far less, and a
// deleted drop is never found.
const unknownFor = time.Minute

// sized is a catalog that tells its size cheaply (*verifier.Catalog).
type sized interface{ Len() int }

func newLiveIndex() *liveIndex {
	return &liveIndex{drops: make(map[string]map[string]time.Time), surveyed: make(map[string]struct{}),
		unknown: make(map[string]time.Time)}
}

// mark notes that drop of creator may show until until (zero: not known).
func (l *liveIndex) mark(creator, drop string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.drops[creator]
	if m == nil {
		m = make(map[string]time.Time)
		l.drops[creator] = m
	}
	m[drop] = until
}

// extend notes that drop of creator may show until until, as a survey
// read it: an end already noted that is unknown (a change announced since
// the read) or later stays.
func (l *liveIndex) extend(creator, drop string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.drops[creator]
	if m == nil {
		m = make(map[string]time.Time)
		l.drops[creator] = m
	}
	if old, ok := m[drop]; ok && (old.IsZero() || !old.Before(until)) {
		return
	}
	m[drop] = until
}

// touch notes that drop of creator may show, keeping a known end.
func (l *liveIndex) touch(creator, drop string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.drops[creator]
	if m == nil {
		m = make(map[string]time.Time)
		l.drops[creator] = m
	}
	if _, ok := m[drop]; !ok {
		m[drop] = time.Time{}
	}
}

// remove takes drop of creator out.
func (l *liveIndex) remove(creator, drop string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.drops[creator]; m != nil {
		delete(m, drop)
		if len(m) == 0 {
			delete(l.drops, creator)
		}
	}
}

// forget takes drop out wherever it is (a deleted drop).
func (l *liveIndex) forget(drop string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.surveyed, drop)
	for c, m := range l.drops {
		delete(m, drop)
		if len(m) == 0 {
			delete(l.drops, c)
		}
	}
}

// of returns the drops of creator that may show at now.
func (l *liveIndex) of(creator string, now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.drops[creator]
	out := make([]string, 0, len(m))
	for d, until := range m {
		if until.IsZero() || now.Before(until) {
			out = append(out, d)
		}
	}
	return out
}

// unknown returns, by creator, the drops whose end is not known, and
// takes out those that ended: the resync's work.
func (l *liveIndex) prune(now time.Time) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var unknown map[string][]string
	for c, m := range l.drops {
		for d, until := range m {
			switch {
			case until.IsZero():
				if unknown == nil {
					unknown = make(map[string][]string)
				}
				unknown[c] = append(unknown[c], d)
			case !now.Before(until):
				delete(m, d)
			}
		}
		if len(m) == 0 {
			delete(l.drops, c)
		}
	}
	return unknown
}

// showsUntil returns until when a drop in state st may show on an
// overlay: zero when it never will (again).
func showsUntil(st verifier.DropState, linger time.Duration) time.Time {
	switch st.Status {
	case verifier.StatusOpen, verifier.StatusSoldOut:
		if st.ClosesAt.IsZero() {
			return farFuture
		}
		return st.ClosesAt.Add(linger) // "closed" is shown for linger after
	case verifier.StatusClosed:
		end := st.ClosedAt
		if end.IsZero() {
			end = st.ClosesAt
		}
		if end.IsZero() {
			return time.Time{}
		}
		return end.Add(linger)
	}
	return time.Time{}
}

// survey reads the state of drops and notes those that may show. It
// takes nothing out: an announcement may have come since a read, and the
// drops that can show nothing are taken out when read for an overlay, or
// when their end passes. It stops at the first read that fails and
// reports false; the next resync surveys again.
func (h *Hub) survey(drops []*config.Drop) bool {
	now := h.cfg.Now()
	for _, d := range drops {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
		st, err := h.cfg.States.State(ctx, d.ID)
		cancel()
		if err != nil {
			h.log.Warn().Err(err).Msg("overlay: cannot survey drop states; retrying at the next resync")
			return false
		}
		if until := showsUntil(st, h.keep); !until.IsZero() && now.Before(until) {
			h.live.extend(d.Creator, d.ID, until)
		}
		h.live.mu.Lock()
		h.live.surveyed[d.ID] = struct{}{}
		h.live.mu.Unlock()
	}
	return true
}

// storeDropped is the store's count of pub/sub messages it dropped
// (Redis and Memory keep one); ok is false for a store that does not.
func (h *Hub) storeDropped() (uint64, bool) {
	d, ok := h.cfg.Store.(interface{ Dropped() uint64 })
	if !ok {
		return 0, false
	}
	return d.Dropped(), true
}

// surveyAll surveys every drop of the catalog: what was announced while
// no subscription stood, or dropped, is read back.
func (h *Hub) surveyAll() {
	dropped, _ := h.storeDropped()
	ok := h.survey(h.cfg.Drops.All(""))
	h.live.mu.Lock()
	h.live.failed = !ok
	h.live.dropped = dropped
	h.live.mu.Unlock()
}

// announcedUnknown notes that drop was announced while the catalog did
// not have it.
func (l *liveIndex) announcedUnknown(drop string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.unknown[drop]; !ok && len(l.unknown) < maxUnknown {
		l.unknown[drop] = now
	}
}

// maxUnknown bounds the drops announced unknown that a resync looks up.
const maxUnknown = 1024

// surveyChanges is the resync's survey: every drop again when the last
// survey failed or the store dropped messages since; else the drops
// announced before the catalog had them, and, when the catalog's size no
// longer matches the drops surveyed, the drops it gained (one pass over
// the catalog in memory, store reads for those only).
func (h *Hub) surveyChanges() {
	dropped, _ := h.storeDropped()
	h.live.mu.Lock()
	again := h.live.failed || dropped != h.live.dropped
	unknown := h.live.unknown
	h.live.unknown = make(map[string]time.Time)
	surveyed := len(h.live.surveyed)
	h.live.mu.Unlock()
	if again {
		h.surveyAll()
		return
	}
	now := h.cfg.Now()
	var fresh []*config.Drop
	for id, at := range unknown {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
		d, err := h.cfg.Drops.Drop(ctx, id)
		cancel()
		switch {
		case err == nil:
			fresh = append(fresh, d)
		case now.Sub(at) < unknownFor:
			h.live.mu.Lock()
			h.live.unknown[id] = at // not yet: again at the next resync
			h.live.mu.Unlock()
		}
	}
	if s, ok := h.cfg.Drops.(sized); !ok || s.Len() != surveyed {
		all := h.cfg.Drops.All("")
		in := make(map[string]struct{}, len(all))
		h.live.mu.Lock()
		for _, d := range all {
			in[d.ID] = struct{}{}
			if _, ok := h.live.surveyed[d.ID]; !ok {
				fresh = append(fresh, d)
			}
		}
		for id := range h.live.surveyed {
			if _, ok := in[id]; !ok {
				delete(h.live.surveyed, id) // deleted, unannounced
			}
		}
		h.live.mu.Unlock()
	}
	if len(fresh) > 0 && !h.survey(fresh) {
		h.live.mu.Lock()
		h.live.failed = true
		h.live.mu.Unlock()
	}
}

// settleUnknown reads the drops whose end the index does not know (a
// change was announced) of creators without overlays here: those with
// overlays read theirs in their own rebuild.
func (h *Hub) settleUnknown(unknown map[string][]string) {
	now := h.cfg.Now()
	for creator, ids := range unknown {
		if h.Connected(creator) > 0 {
			continue
		}
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
			st, err := h.cfg.States.State(ctx, id)
			cancel()
			if err != nil {
				return // the next resync tries again
			}
			if until := showsUntil(st, h.keep); !until.IsZero() && now.Before(until) {
				h.live.mark(creator, id, until)
			} else {
				h.live.remove(creator, id)
			}
		}
	}
}
