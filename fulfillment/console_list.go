package fulfillment

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// The console's list: each drop with stock at the node is read in two
// round trips (its console list and stock, then its listed claims).

// ConsoleStock is what is left of one stock line at the node.
type ConsoleStock struct {
	Drop   string `json:"drop"`
	Reward string `json:"reward"`
	SKU    string `json:"sku"`
	Tier   string `json:"tier,omitempty"`
	Left   int64  `json:"left"`
	Total  int    `json:"total"`
	Status string `json:"drop_status"` // idle | open | sold_out | closed
}

// ConsoleNode names the node a console is for.
type ConsoleNode struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Address   string `json:"address,omitempty"`
	PickupSLA string `json:"pickup_sla"`
}

// ConsoleView is the body of GET /n/{node}/claims.
type ConsoleView struct {
	Node       ConsoleNode    `json:"node"`
	ServerTime time.Time      `json:"server_time"`
	Counts     map[string]int `json:"counts"`
	Claims     []ConsoleClaim `json:"claims"`
	// DueSoon lists the open claims whose deadline is within the hour (a
	// quarter of the pickup SLA, if less), or past until the SLA moves
	// them; soonest first.
	DueSoon []string       `json:"due_soon"`
	Stock   []ConsoleStock `json:"stock"`
	// KeyID names the key this session signed in with.
	KeyID string `json:"key_id"`
}

// nodeDrops returns the drops with stock at node: the drops its claims
// can be in.
func (c *Console) nodeDrops(node string) []*config.Drop {
	var out []*config.Drop
	for _, d := range c.svc.cfg.Drops.All("") {
		if slices.ContainsFunc(d.Stock, func(l config.StockLine) bool { return l.Node == node }) {
			out = append(out, d)
		}
	}
	return out
}

// List returns node's claims (newest first), its stock and close
// deadlines.
func (c *Console) List(ctx context.Context, node string) (ConsoleView, error) {
	t := c.svc.nodes[node]
	if t == nil || !t.node.Hosted() {
		return ConsoleView{}, ErrUnknownNode
	}
	now := c.now()
	v := ConsoleView{Node: consoleNode(t), ServerTime: now.UTC(), Counts: map[string]int{StatusWaiting: 0,
		StatusReady: 0, StatusPickedUp: 0, StatusFailed: 0}, Claims: []ConsoleClaim{}, DueSoon: []string{},
		Stock: []ConsoleStock{}}
	// Open claims are at most two deadlines old (forwarded, then ready).
	since := now.Add(-2*t.pickupBy - consoleHistory)
	for _, d := range c.nodeDrops(node) {
		var fields []any
		var lines []config.StockLine
		for _, l := range d.Stock {
			if l.Node == node {
				lines = append(lines, l)
				fields = append(fields, l.Node+":"+l.SKU)
			}
		}
		args := append([]any{-since.UnixMilli(), consoleListMax}, fields...)
		raw, err := c.st.Run(ctx, consoleListScript, []string{consoleKey(d.ID, node), stockKey(d.ID), stateKey(d.ID)}, args...)
		if err != nil {
			return ConsoleView{}, err
		}
		a, _ := raw.([]any)
		if len(a) != 3 {
			return ConsoleView{}, fmt.Errorf("fulfillment: unexpected console list reply %v", raw)
		}
		ids, _ := a[0].([]any)
		left, _ := a[1].([]any)
		if d.ShardCount() > 1 {
			// A sharded drop's stock is in its shards, other slots.
			h, err := verifier.StockHash(ctx, c.st, d)
			if err != nil {
				return ConsoleView{}, err
			}
			left = left[:0]
			for _, f := range fields {
				left = append(left, h[f.(string)])
			}
		}
		status, _ := a[2].(string)
		if status == "" {
			status = verifier.StatusIdle
		}
		for i, l := range lines {
			s := ConsoleStock{Drop: d.ID, Reward: reward(d), SKU: l.SKU, Tier: l.Tier, Left: int64(l.Qty), Total: l.Qty,
				Status: status}
			if i < len(left) {
				if n, err := strconv.ParseInt(fmt.Sprint(left[i]), 10, 64); err == nil {
					s.Left = n
				}
			}
			v.Stock = append(v.Stock, s)
		}
		if len(ids) == 0 {
			continue
		}
		keys := []string{consoleKey(d.ID, node)}
		args = args[:0]
		for _, x := range ids {
			id, _ := x.(string)
			keys = append(keys, claimKey(d.ID, id))
			args = append(args, id)
		}
		raw, err = c.st.Run(ctx, consoleClaimsScript, keys, args...)
		if err != nil {
			return ConsoleView{}, err
		}
		hashes, _ := raw.([]any)
		for i, h := range hashes {
			m := flatHash(h)
			if len(m) == 0 {
				continue
			}
			id, _ := args[i].(string)
			v.Claims = append(v.Claims, consoleClaim(id, d, m))
		}
	}
	sort.SliceStable(v.Claims, func(i, j int) bool { return v.Claims[i].CreatedAt.After(v.Claims[j].CreatedAt) })
	if len(v.Claims) > consoleListMax {
		v.Claims = v.Claims[:consoleListMax]
	}
	var due []ConsoleClaim
	soon := min(consoleDueSoon, t.pickupBy/4)
	for _, cl := range v.Claims {
		v.Counts[cl.Status]++
		open := cl.Status == StatusWaiting || cl.Status == StatusReady
		if open && !cl.pickupByAt.IsZero() && cl.pickupByAt.Sub(now) < soon {
			due = append(due, cl)
		}
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].pickupByAt.Before(due[j].pickupByAt) })
	for _, cl := range due {
		v.DueSoon = append(v.DueSoon, cl.ID)
	}
	return v, nil
}

func consoleNode(t *nodeTarget) ConsoleNode {
	name := t.node.Name
	if name == "" {
		name = t.node.ID
	}
	return ConsoleNode{ID: t.node.ID, Name: name, Address: t.node.Address, PickupSLA: t.pickupBy.String()}
}

func reward(d *config.Drop) string {
	if d.Title != "" {
		return d.Title
	}
	return d.ID
}

func stockKey(drop string) string { return store.DropKey(drop, "stock") }

// consoleClaim is the console's view of a claim hash.
func consoleClaim(id string, d *config.Drop, h map[string]string) ConsoleClaim {
	ms := func(f string) time.Time {
		n, err := strconv.ParseInt(h[f], 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(n).UTC()
	}
	cl := ConsoleClaim{ID: id, Drop: d.ID, Reward: reward(d), SKU: h["sku"], Tier: h["tier"], State: h["state"],
		Status: consoleStatus(h["state"]), CreatedAt: ms("created_at"), Reason: h["reason"], Sandbox: d.Sandbox}
	if code := h["pickup_code"]; len(code) >= 4 {
		cl.CodeHint = code[len(code)-4:]
	}
	if by := ms("pickup_by"); !by.IsZero() {
		cl.PickupBy, cl.pickupByAt = &by, by
	}
	if cl.Reason == "" && h["failure"] == "pickup_sla" {
		cl.Reason = "not picked up by the deadline"
	}
	if h["locker_slot"] != "" || h["locker_pin"] != "" {
		cl.Locker = &Locker{Slot: h["locker_slot"], PIN: h["locker_pin"]}
	}
	return cl
}

// consoleListScript reads one drop's part of a console: the newest claim
// ids of the node's list since a time, the stock left of the node's lines
// and the drop's status.
// KEYS: 1 console list, 2 stock hash, 3 drop state. ARGV: 1 max score
// (-since ms), 2 limit, then stock fields. Returns {ids, lefts ("" for a
// line not written yet), status}.
var consoleListScript = store.NewScript("console-list", `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local left = {}
for i = 3, #ARGV do left[#left + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or '' end
return {ids, left, redis.call('HGET', KEYS[3], 'status') or ''}
`, func(tx store.Tx, keys, argv []string) (any, error) {
	maxScore, _ := strconv.ParseFloat(argv[0], 64)
	limit, _ := strconv.Atoi(argv[1])
	ids := []any{}
	for _, id := range tx.ZRangeByScore(keys[0], -1e300, maxScore, limit) {
		ids = append(ids, id)
	}
	left := []any{}
	for _, f := range argv[2:] {
		v, _ := tx.HGet(keys[1], f)
		left = append(left, v)
	}
	status, _ := tx.HGet(keys[2], "status")
	return []any{ids, left, status}, nil
})

// consoleClaimsScript reads claim hashes, dropping from the console list
// those that expired. KEYS: 1 console list, then claim hashes. ARGV: the
// claim ids. Returns one flat hash per claim (empty: gone).
var consoleClaimsScript = store.NewScript("console-claims", `
local out = {}
for i = 2, #KEYS do
  local h = redis.call('HGETALL', KEYS[i])
  if #h == 0 then redis.call('ZREM', KEYS[1], ARGV[i - 1]) end
  out[#out + 1] = h
end
return out
`, func(tx store.Tx, keys, argv []string) (any, error) {
	out := []any{}
	for i, k := range keys[1:] {
		h := tx.HGetAll(k)
		if len(h) == 0 {
			tx.ZRem(keys[0], argv[i])
		}
		flat := make([]any, 0, 2*len(h))
		for f, v := range h {
			flat = append(flat, f, v)
		}
		out = append(out, flat)
	}
	return out, nil
})
