package fulfillment

import (
	"sync"
	"time"
)

// Breaker states, as the breaker-state metric reports them.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// breaker is one node's circuit breaker in this replica: after Failures
// consecutive failed attempts it opens for Cooldown, during which no
// request is made (entries wait in the due-set); then one probe is let
// through (half-open) and its outcome closes or reopens it.
type breaker struct {
	failures int
	cooldown time.Duration
	onChange func(state int)

	mu       sync.Mutex
	state    int
	fails    int
	openedAt time.Time
	probing  bool
}

func newBreaker(failures int, cooldown time.Duration, onChange func(int)) *breaker {
	if failures <= 0 {
		failures = 5
	}
	if cooldown <= 0 {
		cooldown = 30 * time.Second
	}
	if onChange == nil {
		onChange = func(int) {}
	}
	return &breaker{failures: failures, cooldown: cooldown, onChange: onChange}
}

// allow reports whether a request may be made now; when not, retryAt is
// when the breaker will let a probe through.
func (b *breaker) allow(now time.Time) (ok bool, retryAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true, time.Time{}
	case BreakerOpen:
		reopen := b.openedAt.Add(b.cooldown)
		if now.Before(reopen) {
			return false, reopen
		}
		b.set(BreakerHalfOpen)
		b.probing = true
		return true, time.Time{}
	default: // half-open: one probe at a time
		if b.probing {
			return false, now.Add(b.cooldown / 4)
		}
		b.probing = true
		return true, time.Time{}
	}
}

// record reports the outcome of an allowed request.
func (b *breaker) record(ok bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if ok {
		b.fails = 0
		b.set(BreakerClosed)
		return
	}
	b.fails++
	if b.state == BreakerHalfOpen || b.fails >= b.failures {
		b.openedAt = now
		b.set(BreakerOpen)
	}
}

func (b *breaker) set(s int) {
	if b.state != s {
		b.state = s
		b.onChange(s)
	}
}

// State returns the breaker's state.
func (b *breaker) State() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// breakerSnapshot is what a breaker shows other replicas (see the
// delivery log): its state, the consecutive failures it counted, and
// while open, when it lets a probe through.
type breakerSnapshot struct {
	State     int
	Failures  int
	OpenUntil time.Time
}

func (b *breaker) snapshot() breakerSnapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := breakerSnapshot{State: b.state, Failures: b.fails}
	if b.state == BreakerOpen {
		s.OpenUntil = b.openedAt.Add(b.cooldown)
	}
	return s
}
