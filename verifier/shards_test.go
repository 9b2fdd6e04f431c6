package verifier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

func shardedDrop(id string, shards int, qty ...int) config.Drop {
	d := claimDrop(id, qty...)
	d.Shards = &shards
	return d
}

// viewersOn returns n viewer keys whose home shard among shards is shard.
func viewersOn(prefix string, shard, shards, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		v := fmt.Sprintf("%s-%d", prefix, i)
		if ShardOf(v, shards) == shard {
			out = append(out, v)
		}
	}
	return out
}

// shardStock reads each shard's count of each line.
func shardStock(t *testing.T, st store.Store, d *config.Drop) []map[string]int64 {
	t.Helper()
	out := make([]map[string]int64, d.ShardCount())
	for i := range out {
		h, err := st.HGetAll(context.Background(), ShardKey(d.ID, i, "stock"))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = map[string]int64{}
		for k, v := range h {
			out[i][k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

// A rush on a drop of 4 shards: many viewers at once, each trying
// several times (with and without an idempotency key), all of them at
// home on two shards, so that the other two sell only by lending units.
// Every unit is claimed exactly once, no viewer holds two claims, the
// shards end at zero, and sold out is announced once.
func TestShardedClaimRush(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("rush", 4, 7, 5) // 12 units: shares 2,2,2,1 and 2,1,1,1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		sub, err := st.Subscribe(ctx, StateChannel)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		e.open(t, d.ID)
		if p, err := e.claims.Preview(ctx, "open-"+d.ID); err != nil || p.Left != 12 || p.Total != 12 || p.SoldOut {
			t.Fatalf("claim page before the rush: %d of %d, sold out %v, %v; want 12 of 12", p.Left, p.Total, p.SoldOut, err)
		}

		viewers := append(viewersOn("v0", 0, 4, 40), viewersOn("v1", 1, 4, 10)...)
		type outcome struct {
			viewer string
			res    ClaimResult
			err    error
		}
		var (
			mu   sync.Mutex
			outs []outcome
			wg   sync.WaitGroup
		)
		for _, v := range viewers {
			for try := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := ClaimRequest{Code: "open-" + d.ID, Viewer: v}
					if try < 2 {
						req.IdempotencyKey = "k-" + v // the same attempt sent twice
					}
					res, err := e.claims.Claim(ctx, req)
					mu.Lock()
					outs = append(outs, outcome{v, res, err})
					mu.Unlock()
				}()
			}
		}
		wg.Wait()

		claimOf := map[string]string{} // viewer → claim id
		created := 0
		for _, o := range outs {
			var already *AlreadyClaimedError
			switch {
			case o.err == nil:
				if prev, ok := claimOf[o.viewer]; ok && prev != o.res.Claim.ID {
					t.Errorf("viewer %s holds two claims: %s and %s", o.viewer, prev, o.res.Claim.ID)
				}
				claimOf[o.viewer] = o.res.Claim.ID
				if o.res.Created {
					created++
				}
			case errors.Is(o.err, ErrSoldOut), errors.As(o.err, &already):
			default:
				t.Errorf("viewer %s: unexpected error %v", o.viewer, o.err)
			}
		}
		if created != 12 || len(claimOf) != 12 {
			t.Errorf("created %d claims for %d viewers, want 12 and 12 (the stock)", created, len(claimOf))
		}
		// Every claim is stored, by its viewer, and the store agrees
		// that each viewer holds one.
		home := map[int]int{}
		for v, id := range claimOf {
			cl, err := e.claims.Get(ctx, id)
			if err != nil {
				t.Fatalf("claim %s: %v", id, err)
			}
			if cl.Viewer != v {
				t.Errorf("claim %s has viewer %q, want %q", id, cl.Viewer, v)
			}
			n, err := st.HGet(ctx, ShardKey(d.ID, ShardOf(v, 4), "v", v), "n")
			if err != nil || n != "1" {
				t.Errorf("viewer %s: n = %q (%v), want 1", v, n, err)
			}
			home[ShardOf(v, 4)]++
		}
		// Shards 2 and 3 have no viewers: their 5 units were lent, so
		// shard 0 or 1 sold more than its own stock (4 and 3).
		if home[0]+home[1] != 12 || home[0] <= 4 && home[1] <= 3 {
			t.Errorf("claims by home shard %v: want all 12 on shards 0 and 1, beyond the own stock of one of them", home)
		}
		for i, s := range shardStock(t, st, &d) {
			for f, n := range s {
				if n != 0 {
					t.Errorf("shard %d line %s: %d left, want 0", i, f, n)
				}
			}
		}
		for i := range 4 {
			for _, part := range []string{"resv", "xout"} {
				if h, _ := st.HGetAll(ctx, ShardKey(d.ID, i, part)); len(h) != 0 {
					t.Errorf("shard %d %s still logs %v", i, part, h)
				}
			}
		}
		stock, err := e.claims.Stock(ctx, &d)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range stock {
			if l.Left != 0 {
				t.Errorf("Stock(): %s left %d, want 0", l.Node, l.Left)
			}
		}
		if at, err := st.HGet(ctx, store.DropKey(d.ID, "state"), "sold_out_at"); err != nil || at == "" {
			t.Errorf("sold_out_at = %q, %v; want set", at, err)
		}
		e.claims.previews.forgetAll()
		if p, err := e.claims.Preview(ctx, "open-"+d.ID); err != nil || p.Left != 0 || p.Total != 12 || !p.SoldOut || p.SoldOutAt.IsZero() {
			t.Errorf("claim page after the rush: %d of %d, sold out %v at %v, %v; want 0 of 12, sold out", p.Left, p.Total, p.SoldOut, p.SoldOutAt, err)
		}

		// Twelve claims announced, the last one alone with nothing left.
		claims, soldOut := 0, 0
		timeout := time.After(30 * time.Second)
		for claims < 12 {
			select {
			case m, ok := <-sub.C():
				if !ok {
					t.Fatal("subscription closed")
				}
				a := ParseAnnouncement(string(m.Payload))
				if a.Drop == d.ID && a.Kind == AnnouncedClaim {
					claims++
					if a.Left == 0 {
						soldOut++
					}
				}
			case <-timeout:
				t.Fatalf("heard %d claim announcements, want 12", claims)
			}
		}
		if soldOut != 1 {
			t.Errorf("sold out (left 0) announced %d times, want once", soldOut)
		}

		// Sold out for a newcomer; a claimant still gets its claim back.
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: "late"}); !errors.Is(err, ErrSoldOut) {
			t.Errorf("claim after sell-out: %v, want ErrSoldOut", err)
		}
		for v, id := range claimOf {
			res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v, IdempotencyKey: "k-" + v})
			var already *AlreadyClaimedError
			switch {
			case err == nil && res.Claim.ID == id && !res.Created:
			case errors.As(err, &already) && already.ClaimID == id: // its claim came from the attempt without a key
			default:
				t.Errorf("retry of %s after sell-out: %+v, %v; want claim %s again", v, res.Claim, err, id)
			}
		}
	})
}

// A viewer at its limit is refused at home before any unit is moved for
// it; a unit moved for a viewer whose concurrent attempt won meanwhile
// is refused at the credit and goes back to its donor, once.
func TestShardedClaimGivesBackLentUnit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("lend", 2, 3) // shares 2, 1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		e.open(t, d.ID)
		vs := viewersOn("w", 1, 2, 2)
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: vs[0]}); err != nil {
			t.Fatal(err)
		}
		// Shard 1 is empty now; vs[0] asks again and is refused.
		var already *AlreadyClaimedError
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: vs[0]}); !errors.As(err, &already) {
			t.Fatalf("second claim: %v, want already claimed", err)
		}
		if s := shardStock(t, st, &d); s[0]["north:pack"] != 2 || s[1]["north:pack"] != 0 {
			t.Errorf("stock by shard %v, want 2 and 0", s)
		}
		// The claim path's steps for vs[0] as if a second attempt had
		// found shard 1 empty before the first was written.
		now := time.Now()
		args := append([]any{"lend.xfer000000000000", now.UnixMilli(), 1}, shardLines(&d, d.Stock, []bool{true}, 0)...)
		if _, err := st.Run(ctx, takeScript, []string{ShardKey(d.ID, 0, "stock"), ShardKey(d.ID, 0, "xout"), ShardKey(d.ID, 0, "resv")}, args...); err != nil {
			t.Fatal(err)
		}
		args = append([]any{1, "", "lend.second00000000000", now.UnixMilli(), int64(3600000), "lend.xfer000000000000", "north:pack", vs[0]},
			shardLines(&d, d.Stock, []bool{true}, 1)...)
		_, err := st.Run(ctx, reserveScript, []string{ShardKey(d.ID, 1, "stock"), ShardKey(d.ID, 1, "v", vs[0]),
			ShardKey(d.ID, 1, "resv"), ShardKey(d.ID, 1, "xin"), ShardKey(d.ID, 1, "xout")}, args...)
		if !errors.Is(err, store.ErrScript) {
			t.Fatalf("credit for a viewer at its limit: %v, want refused", err)
		}
		for range 2 {
			if _, err := st.Run(ctx, giveBackScript, []string{ShardKey(d.ID, 0, "stock"), ShardKey(d.ID, 0, "xout")}, "lend.xfer000000000000"); err != nil {
				t.Fatal(err)
			}
		}
		if s := shardStock(t, st, &d); s[0]["north:pack"] != 2 || s[1]["north:pack"] != 0 {
			t.Errorf("stock by shard %v, want 2 and 0: the unit back on shard 0, once", s)
		}
		// vs[1] borrows one of them through the claim path.
		res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: vs[1]})
		if err != nil || !res.Created {
			t.Fatalf("claim with a borrowed unit: %v", err)
		}
		if s := shardStock(t, st, &d); s[0]["north:pack"] != 1 || s[1]["north:pack"] != 0 {
			t.Errorf("stock by shard %v, want 1 and 0", s)
		}
		if h, _ := st.HGetAll(ctx, ShardKey(d.ID, 0, "xout")); len(h) != 0 {
			t.Errorf("shard 0 still logs transfers %v", h)
		}
	})
}

// A replica that stops between a claim's steps leaves a unit reserved or
// in transit; Reconcile, 30 s on, gives it back (once, whoever runs it),
// and a commit arriving after that is refused.
func TestShardedReconcile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("crash", 2, 2) // shares 1, 1
		e := newClaimEnv(t, st, time.Now, d)
		e.open(t, d.ID)
		now := time.Now()
		v := viewersOn("c", 0, 2, 1)[0]
		lines := shardLines(&d, d.Stock, []bool{true}, 0)
		// Reserved on shard 0, never committed.
		args := append([]any{1, "", "crash.reserved00000000", now.UnixMilli(), int64(3600000), "", "", v}, lines...)
		if _, err := st.Run(ctx, reserveScript, []string{ShardKey(d.ID, 0, "stock"), ShardKey(d.ID, 0, "v", v),
			ShardKey(d.ID, 0, "resv"), ShardKey(d.ID, 0, "xin"), ShardKey(d.ID, 0, "xout")}, args...); err != nil {
			t.Fatal(err)
		}
		// Taken from shard 1 for shard 0, never credited.
		args = append([]any{"crash.xfer000000000000", now.UnixMilli(), 0}, shardLines(&d, d.Stock, []bool{true}, 1)...)
		if _, err := st.Run(ctx, takeScript, []string{ShardKey(d.ID, 1, "stock"), ShardKey(d.ID, 1, "xout"), ShardKey(d.ID, 1, "resv")}, args...); err != nil {
			t.Fatal(err)
		}
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: "other"}); !errors.Is(err, ErrSoldOut) {
			t.Fatalf("claim while both units are held: %v, want sold out", err)
		}
		if n, err := e.claims.Reconcile(ctx, &d, now.Add(10*time.Second)); err != nil || n != 0 {
			t.Fatalf("Reconcile too early: %d, %v; want 0", n, err)
		}
		later := now.Add(reconcileAfter + time.Second)
		if n, err := e.claims.Reconcile(ctx, &d, later); err != nil || n != 2 {
			t.Fatalf("Reconcile: %d, %v; want 2 units back", n, err)
		}
		if n, err := e.claims.Reconcile(ctx, &d, later); err != nil || n != 0 {
			t.Fatalf("Reconcile again: %d, %v; want 0", n, err)
		}
		if s := shardStock(t, st, &d); s[0]["north:pack"] != 1 || s[1]["north:pack"] != 1 {
			t.Errorf("stock by shard %v, want 1 and 1", s)
		}
		// The voided claim cannot be written any more; its viewer may claim.
		sc := shardClaim{d: &d, req: ClaimRequest{Viewer: v}, now: now, lines: d.Stock, eligible: []bool{true},
			pickupBy: []int64{now.Add(time.Hour).UnixMilli()}, viewerTTL: time.Hour, claimTTL: time.Hour}
		if _, err := e.claims.commit(ctx, sc, 0, "crash.reserved00000000", "north:pack"); err == nil {
			t.Error("late commit of a voided claim succeeded")
		}
		// A transfer credited at home is only forgotten: the unit stays claimed.
		args = append([]any{"crash.xfer111111111111", now.UnixMilli(), 0}, shardLines(&d, d.Stock, []bool{true}, 1)...)
		if _, err := st.Run(ctx, takeScript, []string{ShardKey(d.ID, 1, "stock"), ShardKey(d.ID, 1, "xout"), ShardKey(d.ID, 1, "resv")}, args...); err != nil {
			t.Fatal(err)
		}
		args = append([]any{1, "", "crash.credited0000000", now.UnixMilli(), int64(3600000), "crash.xfer111111111111", "north:pack", v},
			lines...)
		if _, err := st.Run(ctx, reserveScript, []string{ShardKey(d.ID, 0, "stock"), ShardKey(d.ID, 0, "v", v),
			ShardKey(d.ID, 0, "resv"), ShardKey(d.ID, 0, "xin"), ShardKey(d.ID, 0, "xout")}, args...); err != nil {
			t.Fatal(err)
		}
		res, err := e.claims.commit(ctx, sc, 0, "crash.credited0000000", "north:pack")
		if err != nil || !res.Created {
			t.Fatalf("commit: %v", err)
		}
		if n, err := e.claims.Reconcile(ctx, &d, later); err != nil || n != 0 {
			t.Fatalf("Reconcile of a credited transfer: %d, %v; want 0", n, err)
		}
		if s := shardStock(t, st, &d); s[0]["north:pack"] != 1 || s[1]["north:pack"] != 0 {
			t.Errorf("stock by shard %v, want 1 and 0", s)
		}
	})
}
