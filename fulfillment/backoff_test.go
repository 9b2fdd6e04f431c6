package fulfillment

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffFullJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second, Horizon: time.Hour}
	for _, tc := range []struct {
		attempts int
		ceil     time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {60, time.Second}} {
		var top time.Duration
		for range 2000 {
			d := b.Delay(tc.attempts)
			if d < 0 || d > tc.ceil {
				t.Fatalf("attempt %d: delay %s outside [0, %s]", tc.attempts, d, tc.ceil)
			}
			top = max(top, d)
		}
		if top < tc.ceil*8/10 {
			t.Fatalf("attempt %d: largest of 2000 delays %s, not spread up to %s", tc.attempts, top, tc.ceil)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		got, ok := retryAfter(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Retry-After %q = %s %v, want %s %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBreaker(t *testing.T) {
	var states []int
	b := newBreaker(3, time.Second, func(s int) { states = append(states, s) })
	now := time.Unix(1000, 0)
	for range 2 {
		if ok, _ := b.allow(now); !ok {
			t.Fatal("closed breaker refused")
		}
		b.record(false, now)
	}
	if b.State() != BreakerClosed {
		t.Fatal("opened before the threshold")
	}
	b.allow(now)
	b.record(false, now)
	if ok, at := b.allow(now.Add(500 * time.Millisecond)); ok || !at.Equal(now.Add(time.Second)) {
		t.Fatalf("open breaker: %v %v", ok, at)
	}
	// After the cooldown one probe goes through, a second waits.
	if ok, _ := b.allow(now.Add(time.Second)); !ok {
		t.Fatal("no probe after the cooldown")
	}
	if ok, _ := b.allow(now.Add(time.Second)); ok {
		t.Fatal("two probes at once")
	}
	b.record(false, now.Add(time.Second))
	if b.State() != BreakerOpen {
		t.Fatal("a failed probe did not reopen")
	}
	b.allow(now.Add(2 * time.Second))
	b.record(true, now.Add(2*time.Second))
	if b.State() != BreakerClosed {
		t.Fatal("a good probe did not close")
	}
	want := []int{BreakerOpen, BreakerHalfOpen, BreakerOpen, BreakerHalfOpen, BreakerClosed}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
}

// Every pair of states: what Allowed says matches the documented graph.
func TestTransitionGraph(t *testing.T) {
	legal := map[[2]string]bool{}
	for from, tos := range allowed {
		for to := range tos {
			legal[[2]string{from, to}] = true
		}
	}
	for _, bad := range [][2]string{{"picked_up", "rejected"}, {"accepted", "rejected"}, {"compensated", "claimed"},
		{"pickup_failed", "picked_up"}, {"forward_failed", "forwarded"}, {"ready", "accepted"}} {
		if Allowed(bad[0], bad[1]) {
			t.Errorf("%s → %s allowed", bad[0], bad[1])
		}
	}
	for _, good := range [][2]string{{"claimed", "forwarded"}, {"forwarded", "accepted"}, {"forwarded", "rejected"},
		{"accepted", "ready"}, {"ready", "picked_up"}, {"rejected", "compensated"}, {"pickup_failed", "compensated"},
		{"forward_failed", "compensated"}} {
		if !Allowed(good[0], good[1]) {
			t.Errorf("%s → %s refused", good[0], good[1])
		}
	}
}
