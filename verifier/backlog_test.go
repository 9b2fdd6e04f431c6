package verifier

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

type backlogClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *backlogClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *backlogClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// A drop stays in the backlog while work may still be added to it: it
// leaves only once its score has aged, and not if a replica touched it
// between the read the release is based on and the release itself (the
// work that replica adds would be found by no loop otherwise).
func TestBacklogReleaseKeepsTouchedDrop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		clock := &backlogClock{t: time.UnixMilli(1_700_000_000_000)}
		sweeper, claimer := NewBacklog(st, clock.now), NewBacklog(st, clock.now)
		one := func() BacklogDrop {
			t.Helper()
			all, err := sweeper.Drops(ctx)
			if err != nil || len(all) != 1 || all[0].ID != "spring" {
				t.Fatalf("backlog: %+v, %v; want spring alone", all, err)
			}
			return all[0]
		}
		if err := claimer.Touch(ctx, "spring"); err != nil {
			t.Fatal(err)
		}
		fresh := one()
		if fresh.Score != clock.now().UnixMilli() {
			t.Fatalf("score %d, want %d", fresh.Score, clock.now().UnixMilli())
		}
		if ok, err := sweeper.Release(ctx, fresh); ok || err != nil {
			t.Fatalf("a drop touched just now released: %v, %v", ok, err)
		}
		clock.add(backlogGrace + time.Second)
		aged := one()
		// Work about to be added while the sweep checks: the claimer's
		// refresh is due (its last one is older than backlogRefresh).
		if err := claimer.Touch(ctx, "spring"); err != nil {
			t.Fatal(err)
		}
		if ok, err := sweeper.Release(ctx, aged); ok || err != nil {
			t.Fatalf("a drop touched after the sweep read it released: %v, %v", ok, err)
		}
		if one().Score != clock.now().UnixMilli() {
			t.Fatal("the touch did not raise the score")
		}
		// Touches within backlogRefresh do not write.
		clock.add(backlogRefresh / 2)
		if err := claimer.Touch(ctx, "spring"); err != nil {
			t.Fatal(err)
		}
		if got := one().Score; got != clock.now().Add(-backlogRefresh/2).UnixMilli() {
			t.Fatalf("score %d moved within the refresh period", got)
		}
		clock.add(backlogGrace)
		if ok, err := sweeper.Release(ctx, one()); !ok || err != nil {
			t.Fatalf("an aged drop nobody touched not released: %v, %v", ok, err)
		}
		if all, err := sweeper.Drops(ctx); err != nil || len(all) != 0 {
			t.Fatalf("backlog after the release: %+v, %v", all, err)
		}
		// Touched again after the release: back in (the claimer's own
		// record of its last touch is old).
		if err := claimer.Touch(ctx, "spring"); err != nil {
			t.Fatal(err)
		}
		one()
	})
}
