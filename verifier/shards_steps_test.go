package verifier

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The tests in this file drive a sharded claim's steps one by one, in the
// orders that concurrent attempts of one viewer (and a replica whose
// clock is behind) can run them, so each interleaving is tested on every
// run rather than when a rush happens to hit it.

// reserveAttempt runs a claim's first step for viewer on its home shard
// as attempt id with idempotency key, as claimSharded does, and returns
// the field reserved.
func reserveAttempt(t *testing.T, st store.Store, d *config.Drop, viewer, key, id string, now time.Time) string {
	t.Helper()
	home := ShardOf(viewer, d.ShardCount())
	args := append([]any{max(d.PerViewer, 1), key, id, now.UnixMilli(), int64(time.Hour / time.Millisecond), "", "", viewer},
		shardLines(d, d.Stock, []bool{true}, home)...)
	raw, err := st.Run(context.Background(), reserveScript, []string{ShardKey(d.ID, home, "stock"), ShardKey(d.ID, home, "v", viewer),
		ShardKey(d.ID, home, "resv"), ShardKey(d.ID, home, "xin"), ShardKey(d.ID, home, "xout")}, args...)
	if err != nil {
		t.Fatalf("reserve %s: %v", id, err)
	}
	a, _ := raw.([]any)
	if kind, _ := firstString(a); kind != "reserved" {
		t.Fatalf("reserve %s: %v, want reserved", id, raw)
	}
	field, _ := a[1].(string)
	return field
}

// attemptAt is what claimSharded hands commit for viewer's attempt made
// at now.
func attemptAt(d *config.Drop, viewer, key string, now time.Time) shardClaim {
	return shardClaim{d: d, req: ClaimRequest{Code: "open-" + d.ID, Viewer: viewer, IdempotencyKey: key}, now: now,
		lines: d.Stock, eligible: []bool{true}, pickupBy: []int64{now.Add(time.Hour).UnixMilli()},
		viewerTTL: time.Hour, claimTTL: time.Hour}
}

// claimedCount is the drop's count of written claims.
func claimedCount(t *testing.T, st store.Store, d *config.Drop) int64 {
	t.Helper()
	v, err := st.HGet(context.Background(), store.DropKey(d.ID, "state"), "claimed")
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// unitsLeft sums every shard's stock.
func unitsLeft(t *testing.T, st store.Store, d *config.Drop) int64 {
	t.Helper()
	var n int64
	for _, s := range shardStock(t, st, d) {
		for _, v := range s {
			n += v
		}
	}
	return n
}

// A retry (same idempotency key) that finds its first attempt between the
// steps writes that attempt's claim; when the first attempt's own commit
// comes, it answers the same claim. One claim, and only the answer that
// wrote it says it was created: a second "created" would count the claim
// twice (201 twice, the claim metrics, the campaign log) and hand its
// receipt to a request that did not prove it made the claim.
func TestShardedRetryWritesFirstAttemptOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("twice", 2, 2) // shares 1, 1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		e.open(t, d.ID)
		v := viewersOn("t", 0, 2, 1)[0]
		now := time.Now()
		const id = "twice.aaaaaaaaaaaaaaaa"
		field := reserveAttempt(t, st, &d, v, "k-1", id, now) // the first attempt, before its commit

		retry, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v, IdempotencyKey: "k-1"})
		if err != nil || retry.Claim.ID != id {
			t.Fatalf("retry: %+v, %v; want the first attempt's claim %s", retry.Claim, err, id)
		}
		first, err := e.claims.commit(ctx, attemptAt(&d, v, "k-1", now), 0, id, field)
		if err != nil || first.Claim.ID != id {
			t.Fatalf("first attempt's commit: %+v, %v; want claim %s", first.Claim, err, id)
		}
		if retry.Created == first.Created {
			t.Errorf("created: retry %v, first attempt %v; want exactly one answer saying created", retry.Created, first.Created)
		}
		if n := claimedCount(t, st, &d); n != 1 {
			t.Errorf("the drop counts %d claims, want 1", n)
		}
		if n := unitsLeft(t, st, &d); n != 1 {
			t.Errorf("%d units left, want 1", n)
		}
	})
}

// An attempt refused in the drop's slot (here: past the window on its
// replica's clock) gives its unit and the viewer's mark back only once
// its claim id can never be written. A retry that read the reservation
// before that, on a replica whose clock is still inside the window, must
// not write the claim afterwards: its unit would be sold twice and its
// viewer could claim again.
func TestShardedUndoneAttemptStaysUndone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("undo", 2, 2) // shares 1, 1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		e.open(t, d.ID)
		closes, err := st.HGet(ctx, store.DropKey(d.ID, "state"), "closes_at")
		if err != nil {
			t.Fatal(err)
		}
		closesAt := time.UnixMilli(num(closes))
		v := viewersOn("u", 0, 2, 1)[0]
		now := time.Now()
		const id = "undo.aaaaaaaaaaaaaaaa"
		field := reserveAttempt(t, st, &d, v, "k-1", id, now)

		// The first attempt's commit, on a replica whose clock is past
		// the window: refused, and the attempt undone.
		if _, err := e.claims.commit(ctx, attemptAt(&d, v, "k-1", closesAt.Add(time.Second)), 0, id, field); !errors.Is(err, ErrDropClosed) {
			t.Fatalf("commit past the window: %v, want closed", err)
		}
		// The retry's commit of the same attempt, from a replica inside
		// the window.
		claims := 0
		if res, err := e.claims.commit(ctx, attemptAt(&d, v, "k-1", now), 0, id, field); err == nil {
			claims++
			t.Logf("the undone attempt's claim %s was written after the undo", res.Claim.ID)
		}
		// The viewer claims again.
		if res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v, IdempotencyKey: "k-2"}); err == nil && res.Created {
			claims++
		}
		if claims != 1 {
			t.Errorf("the viewer holds %d claims, want 1", claims)
		}
		if c, left := claimedCount(t, st, &d), unitsLeft(t, st, &d); c+left != 2 {
			t.Errorf("%d claims written and %d units left of 2: oversold", c, left)
		}
		vh, err := st.HGetAll(ctx, ShardKey(d.ID, 0, "v", v))
		if err != nil || vh["n"] != strconv.Itoa(claims) {
			t.Errorf("viewer's mark n = %q (%v), want %d", vh["n"], err, claims)
		}
	})
}

// A retry of an attempt still between its steps when the drop has sold
// out (on this replica's word) is answered with that attempt's claim, not
// with an error for a claim not written yet.
func TestShardedSoldOutRetryFinishesAttempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("late", 2, 2) // shares 1, 1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		e.open(t, d.ID)
		v := viewersOn("l", 0, 2, 1)[0]
		now := time.Now()
		const id = "late.aaaaaaaaaaaaaaaa"
		reserveAttempt(t, st, &d, v, "k-1", id, now)
		e.claims.setSoldOut(d.ID, now)

		res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v, IdempotencyKey: "k-1"})
		if err != nil || res.Claim.ID != id {
			t.Fatalf("retry after sold out: %+v, %v; want claim %s", res.Claim, err, id)
		}
		if n := claimedCount(t, st, &d); n != 1 {
			t.Errorf("the drop counts %d claims, want 1", n)
		}
	})
}

// A retry whose earlier attempt was voided by Reconcile (stalled between
// its steps) but not yet released finishes the undo and claims afresh:
// one claim, the voided attempt's unit back in stock.
func TestShardedRetryOfVoidedAttemptClaimsAfresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("void", 2, 2) // shares 1, 1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		e.open(t, d.ID)
		v := viewersOn("o", 0, 2, 1)[0]
		const id = "void.aaaaaaaaaaaaaaaa"
		reserveAttempt(t, st, &d, v, "k-1", id, time.Now().Add(-time.Minute))
		// Reconcile's first step for it: the id is void, the unit not
		// yet given back.
		if raw, err := st.Run(ctx, voidScript, []string{store.DropKey(d.ID, "claim", id), store.DropKey(d.ID, "void")},
			id, voidTTL.Milliseconds()); err != nil || raw != "void" {
			t.Fatalf("void: %v, %v", raw, err)
		}
		res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v, IdempotencyKey: "k-1"})
		if err != nil || !res.Created || res.Claim.ID == id {
			t.Fatalf("retry: %+v, %v; want a new claim, not the voided %s", res.Claim, err, id)
		}
		if _, err := e.claims.Get(ctx, id); !errors.Is(err, ErrUnknownClaim) {
			t.Errorf("voided claim %s: %v, want unknown", id, err)
		}
		if n := claimedCount(t, st, &d); n != 1 {
			t.Errorf("the drop counts %d claims, want 1", n)
		}
		if n := unitsLeft(t, st, &d); n != 1 {
			t.Errorf("%d units left, want 1", n)
		}
		if h, _ := st.HGetAll(ctx, ShardKey(d.ID, 0, "resv")); len(h) != 0 {
			t.Errorf("shard 0 still logs reservations %v", h)
		}
		var already *AlreadyClaimedError
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v, IdempotencyKey: "k-2"}); !errors.As(err, &already) || already.ClaimID != res.Claim.ID {
			t.Errorf("another attempt: %v, want already claimed (%s)", err, res.Claim.ID)
		}
	})
}

// A unit moved to a viewer's home shard whose credit there ran but whose
// reply was lost is not given back to its donor as well: the undo asks
// the home shard first. A unit never credited goes back, once, and a
// credit arriving after that is refused.
func TestShardedUndoTransferAsksHomeFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := shardedDrop("xfer", 2, 3) // shares 2, 1
		e := newClaimEnv(t, st, time.Now, d)
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		e.open(t, d.ID)
		now := time.Now()
		vs := viewersOn("x", 1, 2, 3)
		take := func(xfer string) {
			t.Helper()
			args := append([]any{xfer, now.UnixMilli(), 1}, shardLines(&d, d.Stock, []bool{true}, 0)...)
			if _, err := st.Run(ctx, takeScript, []string{ShardKey(d.ID, 0, "stock"), ShardKey(d.ID, 0, "xout"), ShardKey(d.ID, 0, "resv")}, args...); err != nil {
				t.Fatal(err)
			}
		}
		credit := func(viewer, id, xfer string) error {
			args := append([]any{1, "", id, now.UnixMilli(), int64(3600000), xfer, "north:pack", viewer}, shardLines(&d, d.Stock, []bool{true}, 1)...)
			_, err := st.Run(ctx, reserveScript, []string{ShardKey(d.ID, 1, "stock"), ShardKey(d.ID, 1, "v", viewer),
				ShardKey(d.ID, 1, "resv"), ShardKey(d.ID, 1, "xin"), ShardKey(d.ID, 1, "xout")}, args...)
			return err
		}
		// Shard 1's own unit goes first.
		reserveAttempt(t, st, &d, vs[0], "", "xfer.aaaaaaaaaaaaaaaa", now)
		// Moved and credited; the claim path then saw an error.
		take("xfer.xaaaaaaaaaaaaaaa")
		if err := credit(vs[1], "xfer.bbbbbbbbbbbbbbbb", "xfer.xaaaaaaaaaaaaaaa"); err != nil {
			t.Fatal(err)
		}
		if err := e.claims.undoTransfer(ctx, &d, 1, 0, "xfer.xaaaaaaaaaaaaaaa"); err != nil {
			t.Fatal(err)
		}
		if n := unitsLeft(t, st, &d); n != 1 {
			t.Errorf("%d units left after undoing a credited transfer, want 1 (two reserved)", n)
		}
		if h, _ := st.HGetAll(ctx, ShardKey(d.ID, 0, "xout")); len(h) != 0 {
			t.Errorf("shard 0 still logs transfers %v", h)
		}
		// Moved, never credited: back to the donor, once; a credit
		// after that is refused.
		take("xfer.xbbbbbbbbbbbbbbb")
		for range 2 {
			if err := e.claims.undoTransfer(ctx, &d, 1, 0, "xfer.xbbbbbbbbbbbbbbb"); err != nil {
				t.Fatal(err)
			}
		}
		if err := credit(vs[2], "xfer.cccccccccccccccc", "xfer.xbbbbbbbbbbbbbbb"); !errors.Is(err, store.ErrScript) {
			t.Errorf("credit after the undo: %v, want refused", err)
		}
		if s := shardStock(t, st, &d); s[0]["north:pack"] != 1 || s[1]["north:pack"] != 0 {
			t.Errorf("stock by shard %v, want 1 and 0", s)
		}
	})
}
