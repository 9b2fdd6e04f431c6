package fulfillment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// The pickup console is a hosted node's system: a phone-first page at
// /n/{node} where its operator signs in with a console key, sees the
// node's claims live, finds a claim by the viewer's receipt QR or pickup
// code, and marks it ready (with a locker slot and PIN), picked up or
// failed. Every action is a callback of that node, applied by
// Service.HandleCallback: the one code path of signed callbacks, with the
// same transitions, timeline entries, SLA deadlines and compensation.
//
// Finding a claim by pickup code reads the pickup hash of each drop with
// stock at the node (one store round trip per such drop, as callbacks
// do); the list reads each such drop's console list (written when the
// forwarder takes a hosted claim, see hosted.go) and its claims, two
// round trips per drop per poll.

// Defaults of ConsoleConfig.
const (
	DefaultConsoleSession = 12 * time.Hour
	// consoleDueSoon: an open claim whose deadline is this close (or a
	// quarter of the node's pickup SLA, if less) is listed under
	// "deadlines soon".
	consoleDueSoon = time.Hour
	// consoleListMax bounds the claims one list answer holds, newest first.
	consoleListMax = 300
	// consoleHistory is how far back the list goes beyond the claims that
	// can still be picked up: a day of what was picked up or failed.
	consoleHistory = 24 * time.Hour
)

// DefaultConsoleSignInLimit: 10 sign-in attempts from one client address,
// then one a minute.
var DefaultConsoleSignInLimit = store.Limit{Rate: 1, Burst: 10, Period: time.Minute}

// DefaultConsoleScanLimit: camera frames one session may have decoded.
var DefaultConsoleScanLimit = store.Limit{Rate: 4, Burst: 8, Period: time.Second}

// ConsoleConfig configures a Console.
type ConsoleConfig struct {
	// Service applies the console's actions; its nodes are the consoles.
	Service *Service
	// PublicURL is the base of console links (the dashboard's).
	PublicURL string
	// Page is the console page, an html/template executed with
	// consolePageView.
	Page []byte
	// Asset returns the URL of a static file (web.AssetURL); default
	// /static/<name>.
	Asset func(name string) string
	// Secret, when set (at least 32 bytes), signs session cookies instead
	// of the one kept in the store.
	Secret string
	// KeyGrace is how long a rotated-out console key keeps working.
	KeyGrace time.Duration
	// Session is how long a sign-in lasts; default 12 h (a shift).
	Session time.Duration
	// SignInLimit bounds sign-in attempts per client address.
	SignInLimit store.Limit
	// ScanLimit bounds the camera frames a session sends to be decoded.
	ScanLimit store.Limit
	// SecureCookie marks the session cookie Secure (public URL is https).
	SecureCookie bool
	Logger       zerolog.Logger
	Now          func() time.Time
}

// Console serves hosted nodes' pickup consoles. Safe for concurrent use;
// it owns no goroutine.
type Console struct {
	cfg  ConsoleConfig
	svc  *Service
	st   store.Store
	keys *ConsoleKeys
	page *template.Template
	log  zerolog.Logger
	now  func() time.Time

	secretMu sync.Mutex
	secret   []byte
}

// NewConsole returns a Console.
func NewConsole(cfg ConsoleConfig) (*Console, error) {
	if cfg.Service == nil {
		return nil, errors.New("fulfillment: ConsoleConfig needs a Service")
	}
	if cfg.Secret != "" && len(cfg.Secret) < 32 {
		return nil, errors.New("fulfillment: console secret is shorter than 32 bytes")
	}
	if cfg.Asset == nil {
		cfg.Asset = func(name string) string { return "/static/" + name }
	}
	if cfg.Session <= 0 {
		cfg.Session = DefaultConsoleSession
	}
	if cfg.SignInLimit.Rate <= 0 {
		cfg.SignInLimit = DefaultConsoleSignInLimit
	}
	if cfg.ScanLimit.Rate <= 0 {
		cfg.ScanLimit = DefaultConsoleScanLimit
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Service.now
	}
	page, err := template.New("console").Parse(string(cfg.Page))
	if err != nil {
		return nil, fmt.Errorf("fulfillment: console page: %w", err)
	}
	c := &Console{cfg: cfg, svc: cfg.Service, st: cfg.Service.st, page: page, log: cfg.Logger, now: cfg.Now,
		keys: newConsoleKeys(cfg.Service.st, cfg.Service.cfg.Nodes, cfg.KeyGrace, cfg.Now)}
	if cfg.Secret != "" {
		c.secret = []byte(cfg.Secret)
	}
	return c, nil
}

// Keys returns the console key ring.
func (c *Console) Keys() *ConsoleKeys { return c.keys }

// ConsoleClaim is one claim as the console shows it.
type ConsoleClaim struct {
	ID     string `json:"id"`
	Drop   string `json:"drop"`
	Reward string `json:"reward"` // the drop's title
	SKU    string `json:"sku"`
	Tier   string `json:"tier,omitempty"`
	State  string `json:"state"`
	// Status is the state as the counter sees it: waiting, ready,
	// picked_up or failed.
	Status string `json:"status"`
	// CodeHint is the end of the pickup code, to tell claims apart in the
	// list; PickupCode, the whole code, comes with a lookup.
	CodeHint   string           `json:"code_hint"`
	PickupCode string           `json:"pickup_code,omitempty"`
	PickupBy   *time.Time       `json:"pickup_by,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	Locker     *Locker          `json:"locker,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	Sandbox    bool             `json:"sandbox,omitempty"`
	History    []ConsoleStateAt `json:"history,omitempty"`
	FoundBy    string           `json:"found_by,omitempty"` // receipt | pickup_code (a lookup)
	// Receipt is the receipt a claim was found by, for the claim.picked_up
	// that follows (it records the pickup as made with the receipt).
	Receipt    string `json:"receipt,omitempty"`
	pickupByAt time.Time
}

// ConsoleStateAt is one entry of a claim's timeline.
type ConsoleStateAt struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
}

// Console statuses of a claim.
const (
	StatusWaiting  = "waiting"
	StatusReady    = "ready"
	StatusPickedUp = "picked_up"
	StatusFailed   = "failed"
)

func consoleStatus(state string) string {
	switch state {
	case verifier.ClaimReady:
		return StatusReady
	case verifier.ClaimPickedUp:
		return StatusPickedUp
	case verifier.ClaimRejected, verifier.ClaimPickupFailed, verifier.ClaimForwardFailed, verifier.ClaimCompensated:
		return StatusFailed
	}
	return StatusWaiting
}

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

// flatHash turns an HGETALL reply into a map.
func flatHash(raw any) map[string]string {
	switch v := raw.(type) {
	case map[string]string:
		return v
	case []any:
		m := make(map[string]string, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			k, _ := v[i].(string)
			s, _ := v[i+1].(string)
			m[k] = s
		}
		return m
	}
	return nil
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
			return ConsoleClaim{}, fmt.Errorf("%w: no claim with pickup code %s at this node", ErrUnknownClaim, verifier.FormatPickupCode(code))
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

// ConsoleAction is the body of POST /n/{node}/claims/{claim}/events: a
// callback of the node, made in its console.
type ConsoleAction struct {
	// ID makes the action idempotent (a double tap, a retry): the
	// callback's webhook-id is "console.<id>". Default: random.
	ID     string  `json:"id,omitempty"`
	Type   string  `json:"type"` // claim.ready | claim.picked_up | claim.failed (also claim.accepted | claim.rejected)
	Locker *Locker `json:"locker,omitempty"`
	Reason string  `json:"reason,omitempty"`
	// PickupCode or Receipt: what the claim was found by, for a
	// claim.picked_up (checked against the claim, and recorded).
	PickupCode string `json:"pickup_code,omitempty"`
	Receipt    string `json:"receipt,omitempty"`
}

// Act applies an action of node's console, signed in with keyID, to a
// claim: as the node's callback, through Service.HandleCallback. Errors
// are HandleCallback's, and a *FieldError for a bad id.
func (c *Console) Act(ctx context.Context, node, keyID, claim string, a ConsoleAction) (CallbackResult, error) {
	if t := c.svc.nodes[node]; t == nil || !t.node.Hosted() {
		return CallbackResult{}, ErrUnknownNode
	}
	if a.ID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		a.ID = hex.EncodeToString(b[:])
	}
	if len(a.ID) > 64 || strings.IndexFunc(a.ID, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return CallbackResult{}, &FieldError{Field: "id", Msg: "must be up to 64 letters, digits, - or _"}
	}
	if _, ok := callbackTargets[a.Type]; !ok {
		return CallbackResult{}, fmt.Errorf("%w: %q: use claim.ready, claim.picked_up or claim.failed", ErrUnknownEvent, a.Type)
	}
	cb := Callback{Type: a.Type, Claim: claim, Locker: a.Locker, Reason: a.Reason}
	if a.Type == "claim.picked_up" {
		cb.PickupCode, cb.Receipt = a.PickupCode, a.Receipt
	}
	res, err := c.svc.HandleCallback(ctx, node, "console."+a.ID, cb)
	ev := c.log.Info().Str("result", res.Status).Str("state", res.State)
	if err != nil {
		ev = c.log.Warn().Str("result", "refused").Err(err)
	}
	ev.Str("node", node).Str("key_id", keyID).Str("claim", claim).Str("type", a.Type).Str("action", a.ID).
		Msg("console action")
	return res, err
}
