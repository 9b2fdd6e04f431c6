package verifier

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// An opened drop's state is served from memory until Forget or maxAge; an
// idle one is always read, so an opening is seen at once; the window's end
// applies to a kept state too.
func TestStateCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		now := time.Now().Truncate(time.Millisecond)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		v, err := New(Config{Store: st, Drops: NewCatalog([]config.Drop{testDrop("cache", 1)}), Logger: zerolog.Nop(), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		c := NewStateCache(v, time.Second)

		if s, err := c.State(ctx, "cache"); err != nil || s.Status != StatusIdle {
			t.Fatalf("before the moment: %+v, %v", s, err)
		}
		mustIngest(t, v, srcA, trigger(srcA, "e1", "cache", "m1", clock()))
		s, err := c.State(ctx, "cache")
		if err != nil || s.Status != StatusOpen || !s.OpenedAt.Equal(clock()) {
			t.Fatalf("after the moment: %+v, %v (an idle state must not be kept)", s, err)
		}

		// Changed behind the cache's back: the kept state answers...
		stateKey := store.DropKey("cache", "state")
		if err := st.HSet(ctx, stateKey, map[string]string{"status": StatusClosed, "closed_at": fmt.Sprint(clock().UnixMilli())}); err != nil {
			t.Fatal(err)
		}
		if s, _ := c.State(ctx, "cache"); s.Status != StatusOpen {
			t.Fatalf("kept state = %s, want open", s.Status)
		}
		// ...until the change is announced,
		c.Forget("cache")
		if s, _ := c.State(ctx, "cache"); s.Status != StatusClosed {
			t.Fatalf("after Forget = %s, want closed", s.Status)
		}
		// or every kept state is forgotten (a subscription broke),
		if err := st.HSet(ctx, stateKey, map[string]string{"status": StatusOpen}); err != nil {
			t.Fatal(err)
		}
		c.ForgetAll()
		if s, _ := c.State(ctx, "cache"); s.Status != StatusOpen {
			t.Fatalf("after ForgetAll = %s, want open", s.Status)
		}
		if err := st.HSet(ctx, stateKey, map[string]string{"status": StatusClosed}); err != nil {
			t.Fatal(err)
		}
		c.Forget("cache")
		if s, _ := c.State(ctx, "cache"); s.Status != StatusClosed {
			t.Fatalf("after Forget = %s, want closed", s.Status)
		}
		// or maxAge has passed.
		if err := st.HSet(ctx, stateKey, map[string]string{"status": StatusOpen}); err != nil {
			t.Fatal(err)
		}
		if s, _ := c.State(ctx, "cache"); s.Status != StatusClosed {
			t.Fatalf("kept state = %s, want closed", s.Status)
		}
		advance(time.Second)
		s, _ = c.State(ctx, "cache")
		if s.Status != StatusOpen {
			t.Fatalf("after maxAge = %s, want open", s.Status)
		}
		// The window ends while the state is kept.
		long := NewStateCache(v, 3*time.Hour)
		if s, _ := long.State(ctx, "cache"); s.Status != StatusOpen {
			t.Fatalf("kept state = %s, want open", s.Status)
		}
		if err := st.HSet(ctx, stateKey, map[string]string{"opened_at": "1"}); err != nil {
			t.Fatal(err) // proves the next answer comes from memory
		}
		advance(s.ClosesAt.Sub(clock()))
		if s, _ := long.State(ctx, "cache"); s.Status != StatusClosed || s.OpenedAt.UnixMilli() == 1 {
			t.Fatalf("at closes_at = %+v, want the kept state, closed", s)
		}
	})
}

// The opening is announced with its whole state, so overlays need not read
// it back; other changes as "<drop> <seq>".
func TestOpeningAnnouncement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		sub, err := st.Subscribe(ctx, StateChannel)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		v := newVerifier(t, st, testDrop("ann", 1), testDrop("ann2", 1))
		at := time.Now().Truncate(time.Millisecond)
		mustIngest(t, v, srcA, trigger(srcA, "e1", "ann", "m-7", at))
		opened, err := v.State(ctx, "ann")
		if err != nil || opened.Seq == 0 {
			t.Fatalf("state %+v, %v", opened, err)
		}
		closes := at.Add(2 * time.Hour)
		want := fmt.Sprintf("ann %d open %d %d -1 m-7", opened.Seq, at.UnixMilli(), closes.UnixMilli())
		if got := next(t, sub); got != want {
			t.Fatalf("opening announced as %q, want %q", got, want)
		}

		// With stock already counted, the announcement carries what is left.
		if err := st.HSet(ctx, store.DropKey("ann2", "stock"), map[string]string{"n1:pack": "4", "n2:pack": "0", "n3:pack": "3"}); err != nil {
			t.Fatal(err)
		}
		mustIngest(t, v, srcA, trigger(srcA, "e2", "ann2", "m-8", at))
		if got := next(t, sub); !hasField(got, 5, "7") {
			t.Fatalf("opening announced as %q, want 7 left", got)
		}

		mustIngest(t, v, srcA, Event{Source: srcA.ID, Channel: ChannelWebhook, ID: "e3", Type: TypeDropClose, Drop: "ann", ReceivedAt: at.Add(time.Minute)})
		if got := next(t, sub); got != fmt.Sprintf("ann %d", opened.Seq+1) {
			t.Fatalf("close announced as %q", got)
		}
	})
}

func next(t *testing.T, sub store.Subscription) string {
	t.Helper()
	select {
	case m := <-sub.C():
		return string(m.Payload)
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement")
		return ""
	}
}

func hasField(s string, i int, want string) bool {
	f := strings.Fields(s)
	return i < len(f) && f[i] == want
}

// Past maxAge, one caller reads the state again; while its read hangs on
// a store that does not answer, the others are answered from memory, for
// refreshGrace. Once it gives up, the next caller reads.
func TestStateCacheOneReadPastMaxAge(t *testing.T) {
	ctx := context.Background()
	prefix := storetest.Prefix(t)
	storetest.RedisWithPrefix(t, prefix) // deletes the keys at the end
	proxy := storetest.NewProxy(t)
	st := proxy.Redis(t, prefix)
	var mu sync.Mutex
	now := time.Now().Truncate(time.Millisecond)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v, err := New(Config{Store: st, Drops: NewCatalog([]config.Drop{testDrop("slow", 1)}), Logger: zerolog.Nop(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := NewStateCache(v, time.Second)
	mustIngest(t, v, srcA, trigger(srcA, "e1", "slow", "m1", clock()))
	if s, err := c.State(ctx, "slow"); err != nil || s.Status != StatusOpen {
		t.Fatalf("open: %+v %v", s, err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()

	proxy.Freeze() // the store stops answering on every connection open
	proxy.Hold()   // and takes no new ones
	slow, cancel := context.WithCancel(ctx)
	leader := make(chan error, 1)
	go func() {
		_, err := c.State(slow, "slow")
		leader <- err
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.states["slow"].refreshing
	})
	for range 20 {
		if s, err := c.State(ctx, "slow"); err != nil || s.Status != StatusOpen {
			t.Fatalf("during the read: %+v %v", s, err)
		}
	}
	// Past the grace, the kept state no longer answers: the store is asked.
	mu.Lock()
	now = now.Add(refreshGrace)
	mu.Unlock()
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	if s, err := c.State(short, "slow"); err == nil {
		t.Fatalf("past the grace, with the store frozen: %+v", s)
	}
	stop()
	cancel()
	if err := <-leader; err == nil {
		t.Fatal("the read of a store that does not answer succeeded")
	}
	proxy.Sever()
	proxy.Release()
	if err := st.HSet(ctx, store.DropKey("slow", "state"), map[string]string{"status": StatusClosed}); err != nil {
		t.Fatal(err)
	}
	if s, err := c.State(ctx, "slow"); err != nil || s.Status != StatusClosed {
		t.Fatalf("after the failed read, the next one: %+v %v", s, err)
	}
}
