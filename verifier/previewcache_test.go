package verifier

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// previewReads counts the reads of drops' state and stock for the claim
// page, over a real store.
type previewReads struct {
	store.Store
	n atomic.Int64
}

func (s *previewReads) Run(ctx context.Context, sc *store.Script, keys []string, args ...any) (any, error) {
	if sc == previewScript {
		s.n.Add(1)
	}
	return s.Store.Run(ctx, sc, keys, args...)
}

// A crowd opening one code costs one read of the drop; a claim made here
// is on the next view at once, a claim's later state costs nothing, and a
// kept read serves for at most a second.
func TestPreviewReadOncePerChange(t *testing.T) {
	ctx := context.Background()
	st := &previewReads{Store: storetest.Redis(t)}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	e := newClaimEnv(t, st, now, claimDrop("spring", 5, 5))
	e.open(t, "spring")
	settle(t, e.claims, st)

	left := func() int64 {
		t.Helper()
		p, err := e.claims.Preview(ctx, "open-spring")
		if err != nil {
			t.Fatal(err)
		}
		return p.Left
	}
	before := st.n.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if p, err := e.claims.Preview(ctx, "open-spring"); err != nil || p.Left != 10 {
				t.Errorf("preview: %d left, %v", p.Left, err)
			}
		})
	}
	wg.Wait()
	if n := st.n.Load() - before; n != 1 {
		t.Fatalf("50 concurrent views read the drop %d times, want once", n)
	}

	if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-spring", Viewer: "v1", Node: "south"}); err != nil {
		t.Fatal(err)
	}
	if got := left(); got != 9 {
		t.Fatalf("after a claim here: %d left, want 9", got)
	}
	p, err := e.claims.Preview(ctx, "open-spring")
	if err != nil || p.Stock[1].Node != "south" || p.Stock[1].Left != 4 {
		t.Fatalf("the claimed node after a claim: %+v %v", p.Stock, err)
	}

	// A claim moving on leaves the drop as it was: nothing is read again.
	// The claim's own announcement may be taken in after the views above
	// (it forgets the read), so the page is viewed once more after it.
	settle(t, e.claims, st)
	if got := left(); got != 9 {
		t.Fatalf("after the claim's announcement: %d left, want 9", got)
	}
	seen := st.n.Load()
	if err := st.Publish(ctx, StateChannel, []byte("spring 99 claim forwarded")); err != nil {
		t.Fatal(err)
	}
	settle(t, e.claims, st)
	if left(); st.n.Load() != seen {
		t.Fatalf("a claim's later state made the page read the drop again")
	}

	clock.Add(int64(previewMaxAge))
	if left(); st.n.Load() != seen+1 {
		t.Fatalf("a read %v old still served", previewMaxAge)
	}
}

// settle returns once c has taken in every announcement published
// before the call: it publishes a marker drop's change until c forgets
// the marker (announcements arrive in order; the first markers may go
// out before c's subscription stands).
func settle(t *testing.T, c *Claims, st store.Store) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		marker := "marker-" + strconv.Itoa(i)
		c.previews.get(ctx, marker, c.now(), func(context.Context) (*previewSnapshot, error) {
			return newPreviewSnapshot(marker, nil, nil), nil
		})
		if err := st.Publish(ctx, StateChannel, []byte(marker+" 1")); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if !c.previews.kept(marker) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatal("announcements not taken in within 10 s")
		}
	}
}

// waitFor polls cond until it holds, failing the test after 10 s (a bound
// for a lost message, not a timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A claim on another replica reaches this replica's page through its
// announcement, with the clock standing still (so not by the kept read
// growing old), and so does the sold-out state.
func TestPreviewFollowsOtherReplicas(t *testing.T) {
	ctx := context.Background()
	st := storetest.Redis(t)
	at := time.Now()
	now := func() time.Time { return at }
	a := newClaimEnv(t, st, now, claimDrop("spring", 1, 1))
	b := newClaimEnv(t, st, now, claimDrop("spring", 1, 1))
	a.open(t, "spring")
	preview := func() Preview {
		t.Helper()
		p, err := b.claims.Preview(ctx, "open-spring")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := preview(); p.Left != 2 || p.SoldOut {
		t.Fatalf("before: %+v", p)
	}
	for i, viewer := range []string{"v1", "v2"} {
		if _, err := a.claims.Claim(ctx, ClaimRequest{Code: "open-spring", Viewer: viewer}); err != nil {
			t.Fatal(err)
		}
		want := int64(1 - i)
		waitFor(t, func() bool { return preview().Left == want })
	}
	if p := preview(); !p.SoldOut || !p.SoldOutAt.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("sold out on the other replica: %v at %v", p.SoldOut, p.SoldOutAt)
	}
}

// The kept read of a drop never predates a change the cache was told of:
// a read in flight when the drop changes answers its own caller but is
// not kept, and views that were waiting for it read afresh.
func TestPreviewCacheForgetDuringRead(t *testing.T) {
	ctx := context.Background()
	c := newPreviewCache(time.Hour)
	now := time.Now()
	release := make(chan struct{})
	var reads atomic.Int64
	read := func(version string, block bool) func(context.Context) (*previewSnapshot, error) {
		return func(context.Context) (*previewSnapshot, error) {
			reads.Add(1)
			if block {
				<-release
			}
			return newPreviewSnapshot("d", nil, map[string]string{"v": version}), nil
		}
	}
	version := func(s *previewSnapshot, _ error) string { return s.stock["v"] }
	first := make(chan string)
	go func() {
		first <- version(c.get(ctx, "d", now, read("old", true)))
	}()
	waitFor(t, func() bool { return reads.Load() == 1 })
	// A view arriving now waits for that read.
	waiter := make(chan string)
	go func() {
		waiter <- version(c.get(ctx, "d", now, read("fresh", false)))
	}()
	waitFor(t, func() bool { return c.waiting("d") })
	c.forget("d")
	close(release)
	if v := <-first; v != "old" {
		t.Fatalf("the read in flight answered %q to its caller", v)
	}
	if v := <-waiter; v != "fresh" {
		t.Fatalf("a view waiting across the change got %q, want a fresh read", v)
	}
	if v := version(c.get(ctx, "d", now, read("third", false))); v != "fresh" {
		t.Fatalf("kept %q, want the read made after the change", v)
	}

	// A failed read is not kept.
	boom := errors.New("store down")
	if _, err := c.get(ctx, "e", now, func(context.Context) (*previewSnapshot, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if c.kept("e") {
		t.Fatal("a failed read was kept")
	}
}

// kept reports whether a read of drop is kept.
func (c *previewCache) kept(drop string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.drops[drop]
	return e != nil && e.kept != nil
}

// waiting reports whether a view waits for a read of drop in flight.
func (c *previewCache) waiting(drop string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.drops[drop]
	return e != nil && e.waiters > 0
}

// A kept read of an open drop says closed once the clock passes the
// drop's closes_at, without reading it again.
func TestPreviewKeptReadClosesOnTime(t *testing.T) {
	ctx := context.Background()
	st := &previewReads{Store: storetest.Redis(t)}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	d := claimDrop("brief", 3)
	d.Window = config.Duration(400 * time.Millisecond)
	e := newClaimEnv(t, st, now, d)
	e.open(t, "brief")
	settle(t, e.claims, st)
	p, err := e.claims.Preview(ctx, "open-brief")
	if err != nil || p.State.Status != StatusOpen || p.Code != nil {
		t.Fatalf("open: %v %v %v", p.State.Status, p.Code, err)
	}
	reads := st.n.Load()
	clock.Store(p.State.ClosesAt.UnixNano())
	p, err = e.claims.Preview(ctx, "open-brief")
	if err != nil || p.State.Status != StatusClosed || !errors.Is(p.Code, ErrDropClosed) {
		t.Fatalf("at closes_at: %v %v %v", p.State.Status, p.Code, err)
	}
	if st.n.Load() != reads {
		t.Fatal("the drop was read again")
	}
}

// Past maxAge, one view reads the drop again and the others are answered
// with what is kept until it has (for refreshGrace at most); a change
// forgets it for all of them.
func TestPreviewCacheOneReadPastMaxAge(t *testing.T) {
	ctx := context.Background()
	c := newPreviewCache(time.Second)
	t0 := time.Now()
	snap := func(v string) *previewSnapshot { return newPreviewSnapshot("d", nil, map[string]string{"v": v}) }
	if s, _ := c.get(ctx, "d", t0, func(context.Context) (*previewSnapshot, error) { return snap("one"), nil }); s.stock["v"] != "one" {
		t.Fatal("first read")
	}
	release := make(chan struct{})
	leader := make(chan string)
	later := t0.Add(time.Second)
	go func() {
		s, _ := c.get(ctx, "d", later, func(context.Context) (*previewSnapshot, error) {
			<-release
			return snap("two"), nil
		})
		leader <- s.stock["v"]
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.drops["d"].reading != nil
	})
	for range 10 {
		s, err := c.get(ctx, "d", later, func(context.Context) (*previewSnapshot, error) {
			t.Error("a second read while one is in flight")
			return snap("three"), nil
		})
		if err != nil || s.stock["v"] != "one" {
			t.Fatalf("during the read: %v %v", s.stock, err)
		}
	}
	// Past the grace, a view no longer gets what is kept: it waits for
	// the read in flight.
	late := make(chan string)
	go func() {
		s, _ := c.get(ctx, "d", t0.Add(time.Second+refreshGrace), func(context.Context) (*previewSnapshot, error) {
			return snap("late"), nil
		})
		late <- s.stock["v"]
	}()
	waitFor(t, func() bool { return c.waiting("d") })
	close(release)
	if v := <-leader; v != "two" {
		t.Fatalf("the reader got %q", v)
	}
	// (Its clock is past the new read's maxAge too: it reads again.)
	if v := <-late; v == "one" {
		t.Fatalf("a view past the grace got what was kept, %q", v)
	}
	if s, _ := c.get(ctx, "d", t0.Add(time.Second+refreshGrace), nil); s.stock["v"] != "late" {
		t.Fatalf("kept %q after the reads", s.stock["v"])
	}
	c.forget("d")
	if s, _ := c.get(ctx, "d", t0.Add(time.Second+refreshGrace), func(context.Context) (*previewSnapshot, error) { return snap("four"), nil }); s.stock["v"] != "four" {
		t.Fatal("a change did not make the next view read")
	}
}
