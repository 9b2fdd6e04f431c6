package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Finding a claim: by a receipt (verified), by a pickup code (one read of
// the pickup hash of each drop with stock at the node), or by what a
// scanned QR code says.

// consoleClaimReadScript reads a claim and its timeline. KEYS: 1 claim,
// 2 history. Returns {hash as a flat list, history}.
var consoleClaimReadScript = store.NewScript("console-claim-read", `
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
`, func(tx store.Tx, keys, _ []string) (any, error) {
	h := tx.HGetAll(keys[0])
	flat := make([]any, 0, 2*len(h))
	for k, v := range h {
		flat = append(flat, k, v)
	}
	list := []any{}
	for _, s := range tx.LRange(keys[1], 0, -1) {
		list = append(list, s)
	}
	return []any{flat, list}, nil
})

// Lookup is what the operator found a claim by: a receipt (its QR), a
// pickup code typed in, or the text of a scanned QR code.
type Lookup struct {
	Receipt    string `json:"receipt,omitempty"`
	PickupCode string `json:"pickup_code,omitempty"`
	QR         string `json:"qr,omitempty"`
}

// Find looks a claim of node up and checks it can be picked up. Errors:
// ErrBadLookup, ErrUnknownClaim, *WrongNodeError, verifier.ErrBadReceipt
// (verifier.ErrReceiptExpired), *ClaimClosedError, store errors.
func (c *Console) Find(ctx context.Context, node string, q Lookup) (ConsoleClaim, error) {
	if t := c.svc.nodes[node]; t == nil || !t.node.Hosted() {
		return ConsoleClaim{}, ErrUnknownNode
	}
	if q.QR != "" {
		var err error
		if q.Receipt, q.PickupCode, err = ParseReceiptQR(q.QR); err != nil {
			return ConsoleClaim{}, err
		}
	}
	var drop, id, by string
	switch {
	case q.Receipt != "":
		if c.svc.cfg.Receipts == nil {
			return ConsoleClaim{}, ErrBadLookup
		}
		rc, err := c.svc.cfg.Receipts.Verify(ctx, q.Receipt)
		if err != nil && !errors.Is(err, verifier.ErrReceiptExpired) {
			return ConsoleClaim{}, err
		}
		if rc.Node != node {
			return ConsoleClaim{}, &WrongNodeError{Node: rc.Node, Name: c.nodeName(rc.Node)}
		}
		if err != nil {
			return ConsoleClaim{}, &ReceiptExpiredError{At: time.Unix(rc.Expires, 0).UTC()}
		}
		drop, id, by = rc.Drop, rc.ClaimID, "receipt"
	case q.PickupCode != "":
		code := verifier.NormalizePickupCode(q.PickupCode)
		if !ValidPickupCode(code) {
			return ConsoleClaim{}, fmt.Errorf("%w: a pickup code is %d letters and digits, like ABCD-EFGH", ErrBadLookup, verifier.PickupCodeLen)
		}
		for _, d := range c.nodeDrops(node) {
			cid, err := c.st.HGet(ctx, pickupKey(d.ID), node+":"+code)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return ConsoleClaim{}, err
			}
			drop, id = d.ID, cid
			break
		}
		if id == "" {
			return ConsoleClaim{}, &UnknownCodeError{Code: verifier.FormatPickupCode(code)}
		}
		by = "pickup_code"
	default:
		return ConsoleClaim{}, fmt.Errorf("%w: send a pickup code or a receipt", ErrBadLookup)
	}
	cl, err := c.claim(ctx, node, drop, id)
	if err != nil {
		return ConsoleClaim{}, err
	}
	cl.FoundBy = by
	if by == "receipt" {
		cl.Receipt = q.Receipt
	}
	switch cl.Status {
	case StatusPickedUp:
		return cl, &ClaimClosedError{Claim: cl}
	case StatusFailed:
		return cl, &ClaimClosedError{Claim: cl}
	}
	return cl, nil
}

// Claim returns one claim of node with its timeline, whatever its state.
func (c *Console) Claim(ctx context.Context, node, id string) (ConsoleClaim, error) {
	if t := c.svc.nodes[node]; t == nil || !t.node.Hosted() {
		return ConsoleClaim{}, ErrUnknownNode
	}
	drop, ok := verifier.DropOfClaim(id)
	if !ok {
		return ConsoleClaim{}, fmt.Errorf("%w: %q", ErrUnknownClaim, id)
	}
	return c.claim(ctx, node, drop, id)
}

func (c *Console) claim(ctx context.Context, node, drop, id string) (ConsoleClaim, error) {
	raw, err := c.st.Run(ctx, consoleClaimReadScript, []string{claimKey(drop, id), historyKey(drop, id)})
	if err != nil {
		return ConsoleClaim{}, err
	}
	a, _ := raw.([]any)
	if len(a) != 2 {
		return ConsoleClaim{}, fmt.Errorf("fulfillment: unexpected claim read reply %v", raw)
	}
	h := flatHash(a[0])
	// Another node's claim is unknown here, as it is to that node's
	// callbacks.
	if len(h) == 0 || h["node"] != node {
		return ConsoleClaim{}, fmt.Errorf("%w: %q", ErrUnknownClaim, id)
	}
	d, err := c.svc.cfg.Drops.Drop(ctx, drop)
	if err != nil {
		d = &config.Drop{ID: drop}
	}
	cl := consoleClaim(id, d, h)
	cl.PickupCode = verifier.FormatPickupCode(h["pickup_code"])
	items, _ := a[1].([]any)
	for _, it := range items {
		s, _ := it.(string)
		st, at, _ := strings.Cut(s, "\t")
		ms, _ := strconv.ParseInt(at, 10, 64)
		cl.History = append(cl.History, ConsoleStateAt{State: st, At: time.UnixMilli(ms).UTC()})
	}
	return cl, nil
}

func (c *Console) nodeName(id string) string {
	if t := c.svc.nodes[id]; t != nil && t.node.Name != "" {
		return t.node.Name
	}
	return id
}

// ValidPickupCode reports whether a normalized code can be a pickup code.
func ValidPickupCode(code string) bool {
	if len(code) != verifier.PickupCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		if !strings.ContainsRune(verifier.PickupAlphabet, rune(code[i])) {
			return false
		}
	}
	return true
}

// ParseReceiptQR reads what a scanned code holds: the receipt itself (the
// receipt page's QR), a receipt link ("…/r/<claim>#<receipt>"), or a
// pickup code. Errors: ErrBadLookup.
func ParseReceiptQR(text string) (receipt, pickupCode string, err error) {
	s := strings.TrimSpace(text)
	if _, frag, ok := strings.Cut(s, "#"); ok && strings.Contains(s, "/r/") {
		s = frag
	}
	if isCompactJWS(s) {
		return s, "", nil
	}
	if code := verifier.NormalizePickupCode(s); ValidPickupCode(code) {
		return "", code, nil
	}
	return "", "", fmt.Errorf("%w: this QR code is not a Dropwire receipt", ErrBadLookup)
}

// isCompactJWS reports whether s has the shape of a compact JWS: three
// base64url parts. Verify checks the rest.
func isCompactJWS(s string) bool {
	if len(s) > 4096 || strings.Count(s, ".") != 2 {
		return false
	}
	for _, p := range strings.Split(s, ".") {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			ch := p[i]
			if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_') {
				return false
			}
		}
	}
	return true
}
