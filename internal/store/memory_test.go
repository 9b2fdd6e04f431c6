package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeClock is a settable clock for MemoryConfig.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestMemory(t *testing.T, cfg MemoryConfig) (*Memory, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	m, err := NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, clock
}

func (m *Memory) keyCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}

func TestMemoryCloseStopsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	m, err := NewMemory(MemoryConfig{JanitorInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := m.Subscribe(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.OutboxRead(context.Background(), "o", "g", "c", 1, time.Hour)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked read after Close: %v, want ErrClosed", err)
	}
	if _, ok := <-sub.C(); ok {
		t.Fatal("subscription open after Close")
	}
}

func TestMemoryJanitor(t *testing.T) {
	m, clock := newTestMemory(t, MemoryConfig{JanitorInterval: 5 * time.Millisecond})
	ctx := context.Background()
	for i := range 2500 {
		_ = m.Set(ctx, strconv.Itoa(i), "v", time.Minute)
	}
	_ = m.Set(ctx, "keep", "v", 0)
	_ = m.Set(ctx, "later", "v", time.Hour)
	// Re-expiring a key leaves a stale deadline in the heap that must
	// not delete it early.
	_ = m.Set(ctx, "0", "v", time.Hour)
	clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(3 * time.Second)
	for m.keyCount() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys left, want 3", m.keyCount())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, k := range []string{"keep", "later", "0"} {
		if _, err := m.Get(ctx, k); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
}

func TestMemoryExpiryHeapCompacts(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{})
	ctx := context.Background()
	for range 10000 {
		_ = m.Set(ctx, "hot", "v", time.Hour)
	}
	m.mu.Lock()
	n := len(m.expiries)
	m.mu.Unlock()
	if n > 2000 {
		t.Fatalf("%d deadlines tracked for 1 key", n)
	}
}

func TestMemoryAllowExact(t *testing.T) {
	m, clock := newTestMemory(t, MemoryConfig{})
	ctx := context.Background()
	// 8 a second: an emission interval of 1/8s is exact in binary, so
	// with a frozen clock no rounding moves the boundary.
	l := Limit{Rate: 8, Burst: 8, Period: time.Second}
	for i := range 8 {
		d, err := m.Allow(ctx, "k", l)
		if err != nil || !d.Allowed {
			t.Fatalf("event %d: %+v, %v", i, d, err)
		}
	}
	d, _ := m.Allow(ctx, "k", l)
	if d.Allowed || d.RetryAfter != 125*time.Millisecond {
		t.Fatalf("9th event: %+v, want denied for 125ms", d)
	}
	clock.Advance(125 * time.Millisecond)
	if d, _ := m.Allow(ctx, "k", l); !d.Allowed {
		t.Fatalf("after one emission interval: %+v", d)
	}
	clock.Advance(2 * time.Second)
	if d, _ := m.Allow(ctx, "k", l); !d.Allowed || d.Remaining != 7 {
		t.Fatalf("after a full period: %+v, want the burst back", d)
	}
}

func TestMemoryScriptAbort(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{Prefix: "p:"})
	ctx := context.Background()
	_ = m.Set(ctx, "str", "v", 0)
	var kept Tx
	s := NewScript("abort", "", func(tx Tx, keys, _ []string) (any, error) {
		tx.Set(keys[0], "before", 0)
		tx.Publish(keys[2], []byte("sent"))
		tx.HSet(keys[1], "f", "v") // WRONGTYPE: aborts here on Redis
		tx.Set(keys[0], "after", 0)
		kept = tx
		return "done", nil
	})
	sub, _ := m.Subscribe(ctx, "ch")
	defer func() { _ = sub.Close() }()
	_, err := m.Run(ctx, s, []string{"a", "str", "ch"})
	if !errors.Is(err, ErrScript) || !errors.Is(err, ErrWrongType) {
		t.Fatalf("Run = %v, want ErrScript and ErrWrongType", err)
	}
	if v, _ := m.Get(ctx, "a"); v != "before" {
		t.Fatalf("a = %q; writes before the failure stay, later ones do not happen", v)
	}
	if msg := <-sub.C(); string(msg.Payload) != "sent" || msg.Channel != "ch" {
		t.Fatalf("published before the failure: %+v", msg)
	}
	kept.Set("p:a", "outside", 0) // a Tx kept past its script is inert
	if v, _ := m.Get(ctx, "a"); v != "before" {
		t.Fatalf("a = %q after writing through a kept Tx", v)
	}

	boom := NewScript("boom", "", func(Tx, []string, []string) (any, error) { panic("boom") })
	if _, err := m.Run(ctx, boom, nil); !errors.Is(err, ErrScript) {
		t.Fatalf("panicking script: %v, want ErrScript", err)
	}
	if err := m.Set(ctx, "still", "works", 0); err != nil {
		t.Fatalf("store after a panicking script: %v", err)
	}
	plain := NewScript("plain", "", func(Tx, []string, []string) (any, error) { return nil, errors.New("bad") })
	if _, err := m.Run(ctx, plain, nil); !errors.Is(err, ErrScript) {
		t.Fatalf("script error: %v, want ErrScript", err)
	}
	odd := NewScript("odd", "", func(Tx, []string, []string) (any, error) { return struct{}{}, nil })
	if _, err := m.Run(ctx, odd, nil); !errors.Is(err, ErrScript) {
		t.Fatalf("unsupported result: %v, want ErrScript", err)
	}
}

func TestMemorySlowSubscriberDrops(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{SubscriptionBuffer: 2})
	ctx := context.Background()
	sub, _ := m.Subscribe(ctx, "c")
	defer func() { _ = sub.Close() }()
	for range 5 {
		if err := m.Publish(ctx, "c", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if m.Dropped() != 3 || sub.(*memorySubscription).Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", m.Dropped())
	}
}

func TestMemoryStreamIDsGrow(t *testing.T) {
	m, clock := newTestMemory(t, MemoryConfig{})
	ctx := context.Background()
	a, _ := m.OutboxAdd(ctx, "s", map[string]string{"k": "v"})
	b, _ := m.OutboxAdd(ctx, "s", map[string]string{"k": "v"})
	clock.Advance(-time.Hour)
	c, _ := m.OutboxAdd(ctx, "s", map[string]string{"k": "v"})
	ms := strconv.FormatInt(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli(), 10)
	if a != ms+"-0" || b != ms+"-1" || c != ms+"-2" {
		t.Fatalf("ids %s %s %s", a, b, c)
	}
}

func TestParseRedisInt(t *testing.T) {
	for in, ok := range map[string]bool{
		"0": true, "-1": true, "42": true, "9223372036854775807": true, "-9223372036854775808": true,
		"": false, "-": false, "+1": false, "01": false, "-0": false, " 1": false, "1.0": false,
		"9223372036854775808": false, "12345678901234567890": false,
	} {
		if _, err := parseRedisInt(in); (err == nil) != ok {
			t.Errorf("parseRedisInt(%q) = %v, want ok %v", in, err, ok)
		}
	}
}

func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-3", "5", "18446744073709551615-18446744073709551615", "-", "1-", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseStreamID(s)
		if err != nil {
			return
		}
		back, err := parseStreamID(id.String())
		if err != nil || back != id {
			t.Fatalf("%q → %v → %q → %v, %v", s, id, id.String(), back, err)
		}
	})
}

func FuzzParseRedisInt(f *testing.F) {
	for _, s := range []string{"0", "-1", "9223372036854775807", "01", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseRedisInt(s)
		if err == nil && strconv.FormatInt(n, 10) != s {
			t.Fatalf("%q accepted as %d, which Redis would print differently", s, n)
		}
	})
}
