package fulfillment

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff is a node's retry schedule: exponential from Base, capped at Max,
// with full jitter, until Horizon after the first attempt.
type Backoff struct {
	Base    time.Duration
	Max     time.Duration
	Horizon time.Duration
}

// Default retry schedule.
const (
	DefaultRetryBase    = time.Second
	DefaultRetryMax     = 10 * time.Minute
	DefaultRetryHorizon = 24 * time.Hour
)

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = DefaultRetryBase
	}
	if b.Max <= 0 {
		b.Max = DefaultRetryMax
	}
	if b.Max < b.Base {
		b.Max = b.Base
	}
	if b.Horizon <= 0 {
		b.Horizon = DefaultRetryHorizon
	}
	return b
}

// Delay returns the wait before the next attempt after attempts failed
// ones: uniform in [0, min(Max, Base·2^(attempts-1))] ("full jitter"), so
// that a node coming back is not hit by every replica at once.
func (b Backoff) Delay(attempts int) time.Duration {
	b = b.withDefaults()
	ceil := b.Base
	for i := 1; i < attempts && ceil < b.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, b.Max)
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// retryAfter parses a Retry-After header (delay seconds or an HTTP date)
// and reports whether it held one. Only 429 and 503 answers are asked.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, 86400*7)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
