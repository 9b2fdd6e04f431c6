package verifier

import "slices"

// Changes made through this process reach its own caches before the
// change is acknowledged. The caches of the claim path (the claim page's
// reads, the kept drop states, the sold-out flags) follow announcements
// on StateChannel, but an announcement travels through the store and may
// arrive after the answer that made the change: a creator who adds stock
// and a viewer who opens the claim page on the same replica a moment
// later must not see the stock as it was. Other replicas still learn of
// it by announcement.

// OnChange registers f to be called by Changed with the drop that changed.
// f runs on the caller's goroutine and must not block. Safe for
// concurrent use.
func (v *Verifier) OnChange(f func(drop string)) {
	v.changeMu.Lock()
	// Replaced, never appended in place: Changed reads the slice unlocked.
	v.onChange = append(slices.Clip(v.onChange), f)
	v.changeMu.Unlock()
}

// Changed tells this process's caches that drop changed in the store
// through it (its state, stock or definition), and returns once each of
// them has forgotten what it kept of the drop: a view that begins after
// it reads the change. Call it after the store write and before the
// answer. Ingest calls it for the events that open or close a drop.
func (v *Verifier) Changed(drop string) {
	v.changeMu.Lock()
	fs := v.onChange
	v.changeMu.Unlock()
	for _, f := range fs {
		f(drop)
	}
}
