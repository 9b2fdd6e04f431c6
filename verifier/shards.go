package verifier

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// Stock sharding. A drop of shards: N > 1 keeps its stock and its
// viewers in N hash slots, `{d:<drop>:s<i>}`, so that a rush is shared by
// up to N Redis Cluster masters; its claims, outbox and state stay in
// `{d:<drop>}`. A claim runs in two steps:
//
//  1. On the viewer's home shard (a hash of the viewer key: always the
//     same one), reserveScript checks the viewer's limit and reserves a
//     unit, logging the reservation under the claim id. When the home
//     shard has no unit, one is moved from another shard: takeScript on
//     the donor takes it and logs the transfer, reserveScript credits it
//     at home (checking the viewer first); a viewer refused there gets
//     the unit sent back (giveBackScript).
//  2. In the drop's slot, commitScript checks the window and writes the
//     claim; the drop's count of claims against the configured total
//     says what is left and when it sold out. The reservation is then
//     forgotten.
//
// The reservation, written atomically with the unit it takes and the
// viewer's mark (and the idempotency key's claim id) on the home shard,
// is the one record of an attempt. Its claim id then has one fate, fixed
// in the drop's slot by whichever script runs there first: written
// (commitScript) or void (voidScript; a later commit is refused). An
// attempt is undone, its unit and the viewer's mark given back
// (releaseScript), only once its id is void; a refused commit voids it
// first, so that a retry's commit of the same attempt, racing the undo,
// can never write a claim whose unit and mark were given back. A retry
// (same idempotency key) that finds an earlier attempt of its viewer
// finishes that attempt (see rollForward): it never reserves afresh
// while the earlier one may still be written. Only the call whose
// commitScript wrote the claim answers Created. A unit moved for an
// attempt that did not take it goes back only once the home shard has
// marked the transfer void, so a credit whose reply was lost is never
// given back as well.
//
// A replica that stops between the steps leaves a reservation (or a
// transfer) logged on a shard. Reconcile settles those older than
// reconcileAfter: a reservation whose claim was written is forgotten, any
// other is voided in the drop's slot (a late commit is refused) and its
// unit released; a transfer credited at home is forgotten, any other is
// voided at home and its unit goes back to the donor. Claims reconciles a
// drop before it answers "sold out" (at most once per reconcileEvery per
// replica), so a unit held by a stopped replica is unclaimable for
// reconcileAfter at most once the drop would otherwise sell out; and at
// every start (InitStock).
//
// A drop of shards: 1 keeps everything in `{d:<drop>}` and claims in one
// script (claimScript), as before sharding existed.

// reconcileAfter is how old a logged reservation or transfer must be
// before Reconcile settles it: far longer than the two steps take.
const reconcileAfter = 30 * time.Second

// reconcileEvery bounds how often one replica reconciles one drop from
// the claim path.
const reconcileEvery = 5 * time.Second

// voidTTL keeps voided claim ids as long as a commit could still arrive.
const voidTTL = 24 * time.Hour

// shardsOf returns how many shards d has (at least 1).
func shardsOf(d *config.Drop) int { return d.ShardCount() }

// ShardKey returns the logical key of part of shard i of a drop of
// shards > 1: it carries the `{d:<drop>:s<i>}` hash tag.
func ShardKey(drop string, i int, parts ...string) string {
	return store.DropKey(drop+":s"+strconv.Itoa(i), parts...)
}

// ShardPrefix is what the keys of every shard of a drop start with (not
// the drop's own keys: see store.DropKey).
func ShardPrefix(drop string) string { return "{d:" + drop + ":s" }

// ShardOf returns the home shard of a viewer key among n.
func ShardOf(viewer string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(viewer))
	return int(h.Sum32() % uint32(n))
}

// ShardShare is shard i's part of qty units split across n: qty/n, and
// one more for the first qty%n shards.
func ShardShare(qty, n, i int) int {
	s := qty / n
	if i < qty%n {
		s++
	}
	return s
}

// viewerKey is where the claim path keeps what a viewer claimed of d.
func viewerKey(d *config.Drop, viewer string) string {
	if n := shardsOf(d); n > 1 {
		return ShardKey(d.ID, ShardOf(viewer, n), "v", viewer)
	}
	return store.DropKey(d.ID, "v", viewer)
}

// StockHash reads what is left of each of d's stock lines, keyed
// "<node>:<sku>" as the stock hash of a one-shard drop: for a sharded
// drop, the sum of its shards (a shard without a count for a line has its
// share left). Units reserved for a claim in flight or moving between
// shards are not counted. A one-shard drop whose stock no claim has
// touched yet reads as empty.
func StockHash(ctx context.Context, st store.Store, d *config.Drop) (map[string]string, error) {
	n := shardsOf(d)
	if n == 1 {
		return st.HGetAll(ctx, store.DropKey(d.ID, "stock"))
	}
	sum := make(map[string]int64, len(d.Stock))
	for i := range n {
		h, err := st.HGetAll(ctx, ShardKey(d.ID, i, "stock"))
		if err != nil {
			return nil, err
		}
		for _, l := range d.Stock {
			f := l.Node + ":" + l.SKU
			if v, ok := h[f]; ok {
				sum[f] += max(num(v), 0)
			} else {
				sum[f] += int64(ShardShare(l.Qty, n, i))
			}
		}
	}
	out := make(map[string]string, len(sum))
	for f, v := range sum {
		out[f] = strconv.FormatInt(v, 10)
	}
	return out, nil
}

// InitShardStock writes each shard's share of every stock line that the
// shard has no count for yet (nothing for a one-shard drop): idempotent,
// and it never resets stock that claims have taken.
func InitShardStock(ctx context.Context, st store.Store, d *config.Drop) error {
	n := shardsOf(d)
	if n == 1 || len(d.Stock) == 0 {
		return nil
	}
	for i := range n {
		args := make([]any, 0, 2*len(d.Stock))
		for _, l := range d.Stock {
			args = append(args, l.Node+":"+l.SKU, ShardShare(l.Qty, n, i))
		}
		if _, err := st.Run(ctx, stockInitScript, []string{ShardKey(d.ID, i, "stock")}, args...); err != nil {
			return fmt.Errorf("verifier: stock of %s, shard %d: %w", d.ID, i, err)
		}
	}
	return nil
}

// shardLines is the stock line triples of shard i for the shard scripts.
func shardLines(d *config.Drop, lines []config.StockLine, eligible []bool, i int) []any {
	n := shardsOf(d)
	out := make([]any, 0, 1+3*len(lines))
	out = append(out, len(lines))
	for k, l := range lines {
		e := "0"
		if eligible[k] {
			e = "1"
		}
		out = append(out, l.Node+":"+l.SKU, ShardShare(l.Qty, n, i), e)
	}
	return out
}

// shardClaim is what claimSharded needs of a claim attempt that Claim
// has prepared.
type shardClaim struct {
	d         *config.Drop
	req       ClaimRequest
	now       time.Time
	lines     []config.StockLine
	eligible  []bool
	pickupBy  []int64
	closed    *RegionClosedError
	viewerTTL time.Duration
	claimTTL  time.Duration
	tries     int  // rounds that found no stock but units in flight
	again     bool // a claim started afresh after its attempt was voided
}

// inflightTries bounds the rounds a claim waits for units in flight
// (about a second in all) before it answers "sold out".
const inflightTries = 50

// claimSharded runs a claim on a drop of shards > 1 (see the top of this
// file).
func (c *Claims) claimSharded(ctx context.Context, sc shardClaim) (ClaimResult, error) {
	d, req := sc.d, sc.req
	n := shardsOf(d)
	home := ShardOf(req.Viewer, n)
	id := newClaimID(d.ID)
	reserve := func(xfer, field string) ([]any, error) {
		args := []any{max(d.PerViewer, 1), req.IdempotencyKey, id, sc.now.UnixMilli(), sc.viewerTTL.Milliseconds(),
			xfer, field, req.Viewer}
		args = append(args, shardLines(d, sc.lines, sc.eligible, home)...)
		raw, err := c.st.Run(ctx, reserveScript, []string{ShardKey(d.ID, home, "stock"), ShardKey(d.ID, home, "v", req.Viewer),
			ShardKey(d.ID, home, "resv"), ShardKey(d.ID, home, "xin"), ShardKey(d.ID, home, "xout")}, args...)
		if err != nil {
			var se *store.ScriptError
			if errors.As(err, &se) {
				if code, detail, _ := strings.Cut(se.Code, ":"); code == "already_claimed" {
					return nil, &AlreadyClaimedError{ClaimID: detail}
				}
			}
			return nil, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
		}
		a, _ := raw.([]any)
		if len(a) == 0 {
			return nil, fmt.Errorf("verifier: unexpected reserve reply %v", raw)
		}
		return a, nil
	}

	a, err := reserve("", "")
	if err != nil {
		return ClaimResult{}, err
	}
	// Stock seen on the shards asked, and units in flight there: claims
	// between their steps, or units moving (maybe back) between shards.
	var left, inflight int64
	if kind, _ := a[0].(string); kind == "empty" && len(a) == 3 {
		left, _ = a[1].(int64)
		inflight, _ = a[2].(int64)
		var donor int
		var xfer, field string
		for k := 1; k < n && field == ""; k++ {
			donor = (home + k) % n
			xfer = newClaimID(d.ID)
			args := append([]any{xfer, sc.now.UnixMilli(), home}, shardLines(d, sc.lines, sc.eligible, donor)...)
			raw, err := c.st.Run(ctx, takeScript, []string{ShardKey(d.ID, donor, "stock"), ShardKey(d.ID, donor, "xout"),
				ShardKey(d.ID, donor, "resv")}, args...)
			if err != nil {
				return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
			}
			t, _ := raw.([]any)
			if len(t) != 3 {
				return ClaimResult{}, fmt.Errorf("verifier: unexpected take reply %v", raw)
			}
			field, _ = t[0].(string)
			if field == "" {
				l, _ := t[1].(int64)
				f, _ := t[2].(int64)
				left, inflight = left+l, inflight+f
			}
		}
		if field == "" {
			if left > 0 && sc.closed != nil {
				return ClaimResult{}, sc.closed // what is left is in regions not open now
			}
			if left == 0 && inflight > 0 && sc.tries < inflightTries {
				// Units in flight may yet come back: "sold out" is said
				// only of a drop whose every unit is claimed, or held by
				// a claim that stopped (reconciled later).
				sc.tries++
				t := time.NewTimer(time.Duration(min(sc.tries, 10)) * 2 * time.Millisecond)
				select {
				case <-ctx.Done():
					t.Stop()
					return ClaimResult{}, ctx.Err()
				case <-t.C:
				}
				return c.claimSharded(ctx, sc)
			}
			if left == 0 && c.reconcileDue(d.ID, sc.now) {
				if freed, err := c.Reconcile(ctx, d, sc.now); err == nil && freed > 0 {
					return c.claimSharded(ctx, sc)
				}
			}
			if left == 0 {
				c.setSoldOut(d.ID, sc.now)
			}
			return ClaimResult{}, fmt.Errorf("%w: %s", ErrSoldOut, d.ID)
		}
		a, err = reserve(xfer, field)
		if kind, _ := firstString(a); err != nil || kind != "reserved" {
			// Not credited at home, or not known to be: the unit goes
			// back unless the home shard says it took it.
			if uerr := c.undoTransfer(ctx, d, home, donor, xfer); uerr != nil {
				c.log.Warn().Err(uerr).Str("drop", d.ID).Msg("claims: moved unit not given back yet; reconciling will")
			}
			if err != nil {
				return ClaimResult{}, err
			}
		} else {
			c.metrics.borrowed.WithLabelValues(d.ID).Inc()
			if _, err := c.st.Run(ctx, forgetScript, []string{ShardKey(d.ID, donor, "xout")}, xfer); err != nil {
				c.log.Debug().Err(err).Str("drop", d.ID).Msg("claims: transfer log not cleared; reconciling will")
			}
		}
	}
	var res ClaimResult
	switch kind, _ := firstString(a); kind {
	case "existing":
		prev, _ := a[1].(string)
		res, err = c.rollForward(ctx, sc, home, prev)
	case "reserved":
		field, _ := a[1].(string)
		lineLeft, _ := a[2].(int64)
		c.noteShardStock(d, home, field, lineLeft)
		res, err = c.commit(ctx, sc, home, id, field)
	default:
		return ClaimResult{}, fmt.Errorf("verifier: unexpected reserve reply %v", a)
	}
	if errors.Is(err, errAttemptVoid) && !sc.again {
		// This attempt, or the earlier one it finished, was voided and
		// undone (it stalled past reconcileAfter): nothing of it can be
		// written any more, so the viewer's claim starts afresh, once.
		sc.again = true
		return c.claimSharded(ctx, sc)
	}
	return res, err
}

// errAttemptInFlight is returned by soldOutAnswer for a retry whose
// earlier attempt is reserved on a shard but not written yet.
var errAttemptInFlight = errors.New("verifier: claim attempt between its steps")

// errAttemptVoid is returned for a claim attempt whose id was voided
// (see Reconcile) before it was written.
var errAttemptVoid = errors.New("verifier: claim attempt voided before it was written; retry")

// undoTransfer settles a unit moved from donor for an attempt on home
// that did not take it: the transfer is marked void at home first (a
// credit still on its way is then refused), and the unit goes back to
// the donor only if home never took it; if home did, the donor forgets
// the transfer.
func (c *Claims) undoTransfer(ctx context.Context, d *config.Drop, home, donor int, xfer string) error {
	raw, err := c.st.Run(ctx, voidTransferScript, []string{ShardKey(d.ID, home, "xin")}, xfer)
	if err != nil {
		return err
	}
	if raw == "in" {
		_, err = c.st.Run(ctx, forgetScript, []string{ShardKey(d.ID, donor, "xout")}, xfer)
	} else {
		_, err = c.st.Run(ctx, giveBackScript, []string{ShardKey(d.ID, donor, "stock"), ShardKey(d.ID, donor, "xout")}, xfer)
	}
	return err
}

func firstString(a []any) (string, bool) {
	if len(a) == 0 {
		return "", false
	}
	s, ok := a[0].(string)
	return s, ok
}

// commit writes a claim reserved on shard home for field, and forgets
// the reservation; a claim the drop refuses is released.
func (c *Claims) commit(ctx context.Context, sc shardClaim, home int, id, field string) (ClaimResult, error) {
	d, req := sc.d, sc.req
	k := -1
	for i, l := range sc.lines {
		if l.Node+":"+l.SKU == field {
			k = i
			break
		}
	}
	if k < 0 { // a line the drop no longer has: its unit stays reserved until reconciled
		return ClaimResult{}, fmt.Errorf("verifier: claim on %s: stock line %q is not the drop's", d.ID, field)
	}
	l := sc.lines[k]
	var total int64
	for _, x := range d.Stock {
		total += int64(x.Qty)
	}
	keys := []string{store.DropKey(d.ID, "state"), store.DropKey(d.ID, "claim", id), store.DropKey(d.ID, "claim", id, "history"),
		store.DropKey(d.ID, "outbox"), store.DropKey(d.ID, "pickup"), deviceClaimKey(d.ID, req.Device), store.DropKey(d.ID, "void")}
	for attempt := 0; ; attempt++ {
		raw, err := c.st.Run(ctx, commitScript, keys, sc.now.UnixMilli(), id, req.Viewer, sc.claimTTL.Milliseconds(), c.channel,
			d.ID, l.Node, l.SKU, l.Tier, sc.pickupBy[k], total, req.Device, sc.viewerTTL.Milliseconds(),
			3, NewPickupCode(), NewPickupCode(), NewPickupCode())
		if err == nil {
			if _, err := c.st.Run(ctx, forgetScript, []string{ShardKey(d.ID, home, "resv")}, id); err != nil {
				c.log.Debug().Err(err).Str("drop", d.ID).Msg("claims: reservation not cleared; reconciling will")
			}
			// Created only if this call wrote the claim: when a retry of
			// the same attempt wrote it first, that retry said so.
			res, err := c.claimed(ctx, d, raw)
			if err == nil && res.Created {
				res.Claim.Viewer, res.Claim.Device = req.Viewer, req.Device
				c.setLineGauge(d, l)
				c.logCampaignClaim(ctx, res.Claim)
			}
			return res, err
		}
		var se *store.ScriptError
		if !errors.As(err, &se) {
			// Written or not, the reservation stays: Reconcile settles it.
			return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
		}
		if se.Code == "pickup_taken" && attempt < 3 {
			continue
		}
		// Refused: void the id, then undo the attempt, unless a retry
		// of it wrote the claim meanwhile; then that claim is the answer.
		written, uerr := c.undo(ctx, d, home, req.Viewer, id)
		if uerr != nil {
			c.log.Warn().Err(uerr).Str("drop", d.ID).Msg("claims: refused claim not settled yet; reconciling will")
		}
		if written {
			return c.claimed(ctx, d, []any{"existing", id})
		}
		switch se.Code {
		case "not_open", "closed":
			return ClaimResult{}, fmt.Errorf("%w: %s", ErrDropClosed, d.ID)
		case "void":
			return ClaimResult{}, fmt.Errorf("%w: %s", errAttemptVoid, id)
		}
		return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
	}
}

// undo settles claim attempt id, reserved on shard home for viewer, that
// is not to be written by its own commit: its id is voided in the drop's
// slot unless the claim was written there already (written true: the
// reservation is forgotten), and only then is the reservation released,
// its unit and the viewer's mark given back (once, whoever undoes it).
func (c *Claims) undo(ctx context.Context, d *config.Drop, home int, viewer, id string) (written bool, err error) {
	raw, err := c.st.Run(ctx, voidScript, []string{store.DropKey(d.ID, "claim", id), store.DropKey(d.ID, "void")},
		id, voidTTL.Milliseconds())
	if err != nil {
		return false, err
	}
	if raw == "committed" {
		_, err = c.st.Run(ctx, forgetScript, []string{ShardKey(d.ID, home, "resv")}, id)
		return true, err
	}
	_, err = c.st.Run(ctx, releaseScript, []string{ShardKey(d.ID, home, "stock"), ShardKey(d.ID, home, "v", viewer),
		ShardKey(d.ID, home, "resv")}, id)
	return false, err
}

// rollForward answers a retry whose earlier attempt reserved claim id:
// that attempt's claim, written now if the attempt is still between its
// steps or stopped there (the first commit wins). The reservation is
// read before the claim: it is removed only after the claim was written
// or its id voided, both for good, so a reservation gone and a claim not
// found means the attempt is void.
func (c *Claims) rollForward(ctx context.Context, sc shardClaim, home int, id string) (ClaimResult, error) {
	d := sc.d
	v, err := c.st.HGet(ctx, ShardKey(d.ID, home, "resv"), id)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := c.Get(ctx, id); err == nil {
			return c.claimed(ctx, d, []any{"existing", id})
		} else if !errors.Is(err, ErrUnknownClaim) {
			return ClaimResult{}, err
		}
		return ClaimResult{}, fmt.Errorf("%w: %s", errAttemptVoid, id)
	}
	if err != nil {
		return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
	}
	f := strings.SplitN(v, "\t", 4)
	if len(f) < 2 {
		return ClaimResult{}, fmt.Errorf("verifier: claim on %s: bad reservation %q", d.ID, v)
	}
	return c.commit(ctx, sc, home, id, f[1])
}

// Reconcile settles the reservations and transfers of a sharded drop
// logged before now less reconcileAfter (see the top of this file), and
// returns how many units it gave back to a shard's stock. Safe to run on
// any number of replicas at once: every step is once-only.
func (c *Claims) Reconcile(ctx context.Context, d *config.Drop, now time.Time) (int, error) {
	n := shardsOf(d)
	if n == 1 {
		return 0, nil
	}
	before := now.Add(-reconcileAfter).UnixMilli()
	freed := 0
	for i := range n {
		resv, err := c.st.HGetAll(ctx, ShardKey(d.ID, i, "resv"))
		if err != nil {
			return freed, err
		}
		for id, v := range resv {
			f := strings.SplitN(v, "\t", 4)
			if len(f) < 4 || num(f[0]) > before {
				continue
			}
			raw, err := c.st.Run(ctx, voidScript, []string{store.DropKey(d.ID, "claim", id), store.DropKey(d.ID, "void")},
				id, voidTTL.Milliseconds())
			if err != nil {
				return freed, err
			}
			if raw == "committed" {
				_, err = c.st.Run(ctx, forgetScript, []string{ShardKey(d.ID, i, "resv")}, id)
			} else {
				raw, err = c.st.Run(ctx, releaseScript, []string{ShardKey(d.ID, i, "stock"), ShardKey(d.ID, i, "v", f[2]),
					ShardKey(d.ID, i, "resv")}, id)
				if r, _ := raw.(int64); r == 1 {
					freed++
				}
			}
			if err != nil {
				return freed, err
			}
		}
		xout, err := c.st.HGetAll(ctx, ShardKey(d.ID, i, "xout"))
		if err != nil {
			return freed, err
		}
		for xfer, v := range xout {
			f := strings.SplitN(v, "\t", 3)
			if len(f) < 3 || num(f[0]) > before {
				continue
			}
			home, _ := strconv.Atoi(f[2])
			raw, err := c.st.Run(ctx, voidTransferScript, []string{ShardKey(d.ID, home, "xin")}, xfer)
			if err != nil {
				return freed, err
			}
			if raw == "in" {
				_, err = c.st.Run(ctx, forgetScript, []string{ShardKey(d.ID, i, "xout")}, xfer)
			} else {
				raw, err = c.st.Run(ctx, giveBackScript, []string{ShardKey(d.ID, i, "stock"), ShardKey(d.ID, i, "xout")}, xfer)
				if r, _ := raw.(int64); r == 1 {
					freed++
				}
			}
			if err != nil {
				return freed, err
			}
		}
	}
	if freed > 0 {
		c.log.Info().Str("drop", d.ID).Int("units", freed).Msg("claims: units held by stopped claims given back")
	}
	return freed, nil
}

// reconcileDue reports whether this replica may reconcile drop now (at
// most once per reconcileEvery), and if so notes that it does.
func (c *Claims) reconcileDue(drop string, now time.Time) bool {
	c.shardMu.Lock()
	defer c.shardMu.Unlock()
	if at, ok := c.reconciled[drop]; ok && now.Sub(at) < reconcileEvery && !now.Before(at) {
		return false
	}
	c.reconciled[drop] = now
	return true
}

// noteShardStock remembers what a shard said is left of a line, for the
// stock gauge: the sum over shards of the last count each gave this
// replica (a shard not heard from: its share).
func (c *Claims) noteShardStock(d *config.Drop, shard int, field string, left int64) {
	c.shardMu.Lock()
	defer c.shardMu.Unlock()
	m := c.shardLeft[d.ID]
	if m == nil {
		m = make(map[shardLine]int64)
		c.shardLeft[d.ID] = m
	}
	m[shardLine{shard, field}] = left
}

type shardLine struct {
	shard int
	field string
}

func (c *Claims) setLineGauge(d *config.Drop, l config.StockLine) {
	n := shardsOf(d)
	field := l.Node + ":" + l.SKU
	var sum int64
	c.shardMu.Lock()
	for i := range n {
		if v, ok := c.shardLeft[d.ID][shardLine{i, field}]; ok {
			sum += v
		} else {
			sum += int64(ShardShare(l.Qty, n, i))
		}
	}
	c.shardMu.Unlock()
	c.metrics.stock.WithLabelValues(d.ID, l.Node, l.SKU).Set(float64(sum))
}

// shardState is what Claims keeps for sharded drops.
type shardState struct {
	shardMu    sync.Mutex
	reconciled map[string]time.Time           // drop → last reconciled from the claim path
	shardLeft  map[string]map[shardLine]int64 // drop → last counts heard
}
