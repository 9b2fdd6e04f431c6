package verifier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// StockLeft is what is left of one stock line.
type StockLeft struct {
	Node, SKU string
	Left      int64
	Total     int64
}

// Stock returns what is left of each of the drop's stock lines (a line
// the store has no count for has all its stock left).
func (c *Claims) Stock(ctx context.Context, d *config.Drop) ([]StockLeft, error) {
	h, err := StockHash(ctx, c.st, d)
	if err != nil {
		return nil, err
	}
	return stockOf(d, h), nil
}

func stockOf(d *config.Drop, h map[string]string) []StockLeft {
	out := make([]StockLeft, len(d.Stock))
	for i, l := range d.Stock {
		out[i] = StockLeft{Node: l.Node, SKU: l.SKU, Left: int64(l.Qty), Total: int64(l.Qty)}
		if v, ok := h[l.Node+":"+l.SKU]; ok {
			out[i].Left, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

// Preview is what the claim page shows before the viewer claims.
type Preview struct {
	Drop  *config.Drop
	State DropState
	// Stock may be shared with other previews: it is not to be modified.
	Stock []StockLeft
	Left  int64
	Total int64
	// SoldOut is set while no unit is left; SoldOutAt is when the last
	// one was claimed (zero when not recorded, e.g. a drop of no stock).
	SoldOut   bool
	SoldOutAt time.Time
	// Code is the scanned code's own standing: nil while it may be
	// claimed with, ErrCodeExpired past its grace, ErrDropClosed once the
	// drop has ended.
	Code error
	// CodeUntil is when the code stops working: the end of its rotation
	// plus scan_grace, or the drop's closes_at when that comes first.
	CodeUntil time.Time
	Resolved  time.Time
}

// Preview resolves a claim code and reads what the claim page shows: the
// drop's state and stock, in one round trip, or as kept from a read less
// than a second old that no change of the drop has overtaken (see
// previewCache). A code that expired or
// whose drop ended still has its drop's preview, with Code saying so (a
// sold-out drop says sold out, not "scan again"). Errors: ErrUnknownCode,
// ErrUnknownDrop, store errors.
func (c *Claims) Preview(ctx context.Context, code string) (Preview, error) {
	now := c.now()
	dropID, rotatedAt, codeErr := c.codes.Resolve(ctx, code, now)
	if codeErr != nil && (dropID == "" || !errors.Is(codeErr, ErrCodeExpired) && !errors.Is(codeErr, ErrDropClosed)) {
		return Preview{}, codeErr
	}
	d, err := c.drops.Drop(ctx, dropID)
	if err != nil {
		return Preview{}, err
	}
	snap, err := c.previews.get(ctx, d.ID, now, func(ctx context.Context) (*previewSnapshot, error) {
		state, stock, err := c.readPreview(ctx, d)
		if err != nil {
			return nil, err
		}
		return newPreviewSnapshot(d.ID, state, stock), nil
	})
	if err != nil {
		return Preview{}, err
	}
	st := snap.state
	if st.Status == StatusOpen && !st.ClosesAt.IsZero() && !now.Before(st.ClosesAt) {
		st.Status = StatusClosed
	}
	lines := snap.linesOf(d)
	p := Preview{Drop: d, State: st, Stock: lines.stock, Left: lines.left, Total: lines.total, Code: codeErr, Resolved: now}
	p.SoldOut = p.Left == 0
	if snap.soldOutAt > 0 && p.SoldOut {
		p.SoldOutAt = time.UnixMilli(snap.soldOutAt).UTC()
	}
	p.CodeUntil = rotatedAt.Add(codeRotation(d) + d.ScanGrace.D())
	if cl := p.State.ClosesAt; !cl.IsZero() && cl.Before(p.CodeUntil) {
		p.CodeUntil = cl
	}
	if p.Code == nil && p.State.Status == StatusClosed {
		p.Code = ErrDropClosed
	}
	return p, nil
}

// readPreview reads a drop's state and stock hashes (the stock of every
// shard of a sharded drop, summed).
func (c *Claims) readPreview(ctx context.Context, d *config.Drop) (state, stock map[string]string, err error) {
	drop := d.ID
	raw, err := c.st.Run(ctx, previewScript, []string{store.DropKey(drop, "state"), store.DropKey(drop, "stock")})
	if err != nil {
		return nil, nil, fmt.Errorf("verifier: preview of %s: %w", drop, err)
	}
	a, _ := raw.([]any)
	if len(a) != 2 {
		return nil, nil, fmt.Errorf("verifier: unexpected preview reply %v", raw)
	}
	if shardsOf(d) > 1 {
		stock, err := StockHash(ctx, c.st, d)
		if err != nil {
			return nil, nil, fmt.Errorf("verifier: preview of %s: %w", drop, err)
		}
		return flatHash(a[0]), stock, nil
	}
	return flatHash(a[0]), flatHash(a[1]), nil
}

// codeRotation is how long one code is the one on screen: qr_rotate, at
// least a second, as overlay.Codes rotates them.
func codeRotation(d *config.Drop) time.Duration {
	switch r := d.QRRotate.D(); {
	case r >= time.Second:
		return r
	case r > 0:
		return time.Second
	}
	return config.DefaultQRRotate
}

// previewScript reads a drop's state and stock hashes in one round trip.
// KEYS: 1 state hash, 2 stock hash. Returns {state flat, stock flat}.
var previewScript = store.NewScript("claim-preview", `
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`, func(tx store.Tx, keys, _ []string) (any, error) {
	out := make([]any, 2)
	for i, k := range keys[:2] {
		h := tx.HGetAll(k)
		flat := make([]any, 0, 2*len(h))
		for f, v := range h {
			flat = append(flat, f, v)
		}
		out[i] = flat
	}
	return out, nil
})

func flatHash(v any) map[string]string {
	flat, _ := v.([]any)
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		s, _ := flat[i+1].(string)
		h[k] = s
	}
	return h
}

// deviceClaimKey is the store key of a device's last claim of a drop
// (written by the claim script). Every device gets a key in the drop's
// slot, even none, since the script declares it.
func deviceClaimKey(drop, device string) string {
	if device == "" {
		device = "-"
	}
	return store.DropKey(drop, "dv", device)
}

// ClaimOfDevice returns the claim the device deviceKey (a Viewers.Hash of
// kind "device") last made of d, and how many claims of d its viewer
// holds when d identifies viewers by device (0 otherwise); "" when it
// made none that is still remembered (see the claim script's viewer ttl).
// The claim page shows that claim's receipt instead of Claim it.
func (c *Claims) ClaimOfDevice(ctx context.Context, d *config.Drop, deviceKey string) (string, int, error) {
	if deviceKey == "" {
		return "", 0, nil
	}
	raw, err := c.st.Run(ctx, deviceClaimScript, []string{deviceClaimKey(d.ID, deviceKey), store.DropKey(d.ID, "v", deviceKey)})
	if err != nil {
		return "", 0, fmt.Errorf("verifier: claim of device on %s: %w", d.ID, err)
	}
	if shardsOf(d) > 1 {
		// The viewer record is on the device's shard, another slot.
		v, err := c.st.Run(ctx, viewerReadScript, []string{viewerKey(d, deviceKey)}, "")
		if err != nil {
			return "", 0, fmt.Errorf("verifier: claim of device on %s: %w", d.ID, err)
		}
		va, _ := v.([]any)
		a, _ := raw.([]any)
		if len(va) == 3 && len(a) == 3 {
			a[1], a[2] = va[0], va[1]
		}
	}
	a, _ := raw.([]any)
	str := func(i int) string {
		if i < len(a) {
			s, _ := a[i].(string)
			return s
		}
		return ""
	}
	id, n := str(0), 0
	if d.Identity == config.IdentityDevice || d.Identity == "" {
		n, _ = strconv.Atoi(str(1))
		if id == "" {
			id = str(2) // a claim made before devices were recorded
		}
	}
	return id, n, nil
}

// deviceClaimScript reads what a device claimed of a drop.
// KEYS: 1 device claim key, 2 the viewer hash of that device (identity
// device). Returns {device's last claim, viewer n, viewer last}.
var deviceClaimScript = store.NewScript("device-claim", `
local v = redis.call('HMGET', KEYS[2], 'n', 'last')
return {redis.call('GET', KEYS[1]), v[1], v[2]}
`, func(tx store.Tx, keys, _ []string) (any, error) {
	out := make([]any, 3)
	if v, ok := tx.Get(keys[0]); ok {
		out[0] = v
	}
	if v, ok := tx.HGet(keys[1], "n"); ok {
		out[1] = v
	}
	if v, ok := tx.HGet(keys[1], "last"); ok {
		out[2] = v
	}
	return out, nil
})
