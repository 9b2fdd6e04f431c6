package verifier

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// Claim states. Transitions are monotonic: claimed → forwarded → accepted |
// rejected → ready → picked_up; rejected | pickup_failed | forward_failed →
// compensated.
const (
	ClaimClaimed       = "claimed"
	ClaimForwarded     = "forwarded"
	ClaimAccepted      = "accepted"
	ClaimRejected      = "rejected"
	ClaimReady         = "ready"
	ClaimPickedUp      = "picked_up"
	ClaimPickupFailed  = "pickup_failed"
	ClaimForwardFailed = "forward_failed"
	ClaimCompensated   = "compensated"
)

// Claim is one viewer's claim of one unit of a drop's stock.
type Claim struct {
	ID         string
	Drop       string
	State      string
	Node       string
	SKU        string
	Tier       string
	PickupCode string
	PickupBy   time.Time
	CreatedAt  time.Time
	Viewer     string // the viewer key (a keyed hash)
	// Device is the keyed hash of the device that made the claim ("" for a
	// claim made without one, e.g. with a viewer token): what proves a
	// later request comes from the claimant when the viewer key (an email)
	// proves nothing.
	Device  string
	History []ClaimEvent
	// Locker is where a ready claim waits, as the node's claim.ready said
	// (zero: no locker; the viewer goes to the counter).
	Locker Locker
	// Compensation is what the drop's policy did when the claim failed:
	// "code", "webhook", "pool_empty" or "none"; "" while it has not failed.
	Compensation string
	// CompensationCode is the pool code the claim got (kind code), and
	// CompensationText what the creator's webhook answered for the viewer
	// (kind webhook). Both are the viewer's: shown only with the receipt.
	CompensationCode string
	CompensationText string
}

// Locker is a locker slot and its PIN; either may be empty.
type Locker struct {
	Slot string
	PIN  string
}

// ClaimEvent is one state a claim entered, and when.
type ClaimEvent struct {
	State string
	At    time.Time
}

// CodeResolver validates the rotating code of a claim URL, as
// overlay.Codes does: it returns the code's drop, or ErrUnknownCode,
// ErrCodeExpired or ErrDropClosed.
type CodeResolver interface {
	Resolve(ctx context.Context, code string, now time.Time) (drop string, rotatedAt time.Time, err error)
}

// ClaimsConfig configures Claims.
type ClaimsConfig struct {
	Store    store.Store
	Drops    Drops
	Codes    CodeResolver
	Receipts *Receipts
	// States, when set, is told of every change of a drop other than a
	// claim, so it drops what it keeps of it.
	States *StateCache
	// Nodes looks fulfillment nodes up (pickup SLA, region, hours).
	Nodes func(id string) (*config.Node, bool)
	// Tiers looks stock tiers up (pickup SLA); Campaigns finds a drop's
	// campaign (region windows). Both optional.
	Tiers     func(id string) (*config.Tier, bool)
	Campaigns Campaigns
	// Backlog is the index of drops with fulfillment work, which a claim
	// joins (its outbox entry); default one of Store.
	Backlog *Backlog
	// Retention is how long a claim is kept after its receipt expires;
	// default 30 days.
	Retention  time.Duration
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Claims runs viewer claims: see Claim. It owns one goroutine, the
// subscription to StateChannel that keeps the sold-out flags fresh; Close
// stops it. Safe for concurrent use by any number of goroutines and
// replicas sharing one store.
type Claims struct {
	st        store.Store
	drops     Drops
	codes     CodeResolver
	receipts  *Receipts
	states    *StateCache
	previews  *previewCache
	backlog   *Backlog
	nodes     func(string) (*config.Node, bool)
	tiers     func(string) (*config.Tier, bool)
	campaigns Campaigns
	retention time.Duration
	log       zerolog.Logger
	now       func() time.Time
	channel   string
	metrics   *claimMetrics
	// campaignLog records claims of campaign drops (nil: no campaigns).
	campaignLog *CampaignLog

	soldMu sync.RWMutex
	sold   map[string]time.Time // drop → when it was seen sold out

	shardState

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// soldOutFor is how long an in-process sold-out flag answers without the
// store: refreshed by every claim that still finds no stock, so stock
// added later is noticed within this time even if a message was missed.
const soldOutFor = 5 * time.Second

// previewMaxAge is how long a claim page may show a drop's state and
// stock as read, when no announcement says it changed: as long as the
// live status (GET /v1/codes/{code}) may sit in a cache.
const previewMaxAge = time.Second

// NewClaims returns running Claims.
func NewClaims(cfg ClaimsConfig) (*Claims, error) {
	if cfg.Store == nil || cfg.Drops == nil || cfg.Codes == nil || cfg.Receipts == nil {
		return nil, errors.New("verifier: ClaimsConfig needs Store, Drops, Codes and Receipts")
	}
	if cfg.Nodes == nil {
		cfg.Nodes = func(string) (*config.Node, bool) { return nil, false }
	}
	if cfg.Tiers == nil {
		cfg.Tiers = func(string) (*config.Tier, bool) { return nil, false }
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newClaimMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	if cfg.Backlog == nil {
		cfg.Backlog = NewBacklog(cfg.Store, cfg.Now)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Claims{backlog: cfg.Backlog,
		st: cfg.Store, drops: cfg.Drops, codes: cfg.Codes, receipts: cfg.Receipts, states: cfg.States, nodes: cfg.Nodes,
		tiers: cfg.Tiers, campaigns: cfg.Campaigns,
		retention: cfg.Retention, log: cfg.Logger, now: cfg.Now, channel: cfg.Store.Prefix() + StateChannel,
		metrics: m, sold: map[string]time.Time{}, cancel: cancel, previews: newPreviewCache(previewMaxAge),
		shardState: shardState{reconciled: map[string]time.Time{}, shardLeft: map[string]map[shardLine]int64{}},
	}
	if l, ok := cfg.Campaigns.(CampaignLister); ok && l != nil {
		c.campaignLog = &CampaignLog{st: cfg.Store, claims: c, campaigns: l, now: cfg.Now}
	}
	c.wg.Add(1)
	go c.watch(ctx)
	return c, nil
}

// CampaignLog returns the log of campaign outcomes the claims write to,
// nil when the claims have no campaigns.
func (c *Claims) CampaignLog() *CampaignLog { return c.campaignLog }

// Close stops the subscription and waits for it; idempotent.
func (c *Claims) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

// Shutdown is Close for a shutdown hook.
func (c *Claims) Shutdown(context.Context) error { return c.Close() }

// Receipts returns the receipt signer.
func (c *Claims) Receipts() *Receipts { return c.receipts }

// ClaimRequest is one claim attempt.
type ClaimRequest struct {
	Code string
	// Viewer is the viewer key, from Viewers (a keyed hash).
	Viewer string
	// Device is the keyed hash of the claiming device (Viewers.Hash of
	// kind "device"), when there is one.
	Device string
	// Node, when set, is the node the viewer chose; Region, when set,
	// prefers nodes of that region.
	Node   string
	Region string
	// IdempotencyKey, when set, makes a retry of the same attempt by the
	// same viewer return the same claim.
	IdempotencyKey string

	resolved *config.Drop // the code's drop, when the caller resolved it already
}

// ClaimResult is the outcome of a claim: Created is false when the request
// was a retry answered with the viewer's existing claim.
type ClaimResult struct {
	Claim   *Claim
	Created bool
	Receipt string
}

// newClaimID returns a fresh claim id: "<drop>.<16 random base32 chars>". The
// drop is in the id so the claim is found without a cross-slot index.
func newClaimID(drop string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return drop + "." + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// DropOfClaim returns the drop of a claim id.
func DropOfClaim(id string) (string, bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || len(id)-i-1 != 16 || len(id) > 128 {
		return "", false
	}
	for _, r := range id[i+1:] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return "", false
		}
	}
	return id[:i], true
}

// validKey reports whether an idempotency key is usable: 1–64 characters
// of [A-Za-z0-9_.:-].
func validKey(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// Claim runs one claim attempt in one atomic step: the code is current or
// within scan_grace, the drop is open, the viewer is under per_viewer, a
// node/SKU (the chosen one, else the first with stock, region first) has
// stock; it decrements that stock and writes the claim and its outbox
// entry. A retry with the same viewer and idempotency key returns the same
// claim (Created false). Errors: ErrInvalidClaim, ErrUnknownCode,
// ErrCodeExpired, ErrDropClosed, ErrSoldOut, *AlreadyClaimedError,
// *RegionClosedError, and store errors.
func (c *Claims) Claim(ctx context.Context, req ClaimRequest) (res ClaimResult, err error) {
	start := time.Now()
	defer func() { c.metrics.observe(err, res.Created, time.Since(start)) }()
	if req.Viewer == "" || req.Code == "" || len(req.Code) > 64 || len(req.Node) > 64 || len(req.Region) > 64 {
		return ClaimResult{}, fmt.Errorf("%w: code and viewer are required", ErrInvalidClaim)
	}
	if req.IdempotencyKey != "" && !validKey(req.IdempotencyKey) {
		return ClaimResult{}, fmt.Errorf("%w: Idempotency-Key must be 1-64 characters from [A-Za-z0-9_.:-]", ErrInvalidClaim)
	}
	now := c.now()
	d := req.resolved
	if d == nil {
		dropID, _, err := c.codes.Resolve(ctx, req.Code, now)
		if err != nil {
			return ClaimResult{}, err
		}
		if d, err = c.drops.Drop(ctx, dropID); err != nil {
			return ClaimResult{}, err
		}
	}
	if req.Node != "" && !hasNode(d, req.Node) {
		return ClaimResult{}, fmt.Errorf("%w: drop %q has no stock at node %q", ErrInvalidClaim, d.ID, req.Node)
	}
	if c.soldOut(d.ID, now) {
		res, err := c.soldOutAnswer(ctx, d, req)
		if !errors.Is(err, errAttemptInFlight) {
			return res, err
		}
		// Go on: the claim path finishes the attempt.
	}

	keys := []string{
		store.DropKey(d.ID, "state"),
		store.DropKey(d.ID, "stock"),
		store.DropKey(d.ID, "v", req.Viewer),
		"", "",
		store.DropKey(d.ID, "outbox"),
		store.DropKey(d.ID, "pickup"),
		deviceClaimKey(d.ID, req.Device),
	}
	var maxSLA time.Duration
	lines := c.order(d, req)
	lineArgs := make([]any, 0, 6*len(lines))
	camp := c.campaignOf(d.ID)
	var closed *RegionClosedError // the closed line that opens first
	for _, l := range lines {
		n, _ := c.nodes(l.Node)
		t, _ := c.tiers(l.Tier)
		maxSLA = max(maxSLA, config.PickupSLA(n, t))
		eligible := req.Node == "" || l.Node == req.Node
		if eligible {
			if open, why := lineOpen(camp, n, now); !open {
				eligible = false
				closed = earlier(closed, why)
			}
		}
		lineArgs = append(lineArgs, l.Node, l.SKU, l.Tier, l.Qty, config.PickupDeadline(n, t, now).UnixMilli(), eligible)
	}
	if closed != nil && (req.Node != "" || !anyEligible(lineArgs)) {
		return ClaimResult{}, closed
	}
	viewerTTL := d.Window.D() + maxSLA + time.Hour
	claimTTL := c.receipts.TTL() + c.retention
	// The claim's outbox entry is work for the forwarders: the drop joins
	// their backlog first.
	if err := c.backlog.Touch(ctx, d.ID); err != nil {
		return ClaimResult{}, err
	}
	if shardsOf(d) > 1 {
		sc := shardClaim{d: d, req: req, now: now, lines: lines, closed: closed, viewerTTL: viewerTTL, claimTTL: claimTTL}
		for i := range lines {
			sc.pickupBy = append(sc.pickupBy, lineArgs[6*i+4].(int64))
			sc.eligible = append(sc.eligible, lineArgs[6*i+5].(bool))
		}
		return c.claimSharded(ctx, sc)
	}

	for attempt := 0; ; attempt++ {
		id := newClaimID(d.ID)
		keys[3], keys[4] = store.DropKey(d.ID, "claim", id), store.DropKey(d.ID, "claim", id, "history")
		args := []any{now.UnixMilli(), max(d.PerViewer, 1), req.IdempotencyKey, id, req.Viewer,
			viewerTTL.Milliseconds(), claimTTL.Milliseconds(), c.channel, d.ID, len(lines), 3}
		args = append(args, lineArgs...)
		args = append(args, NewPickupCode(), NewPickupCode(), NewPickupCode(), req.Device)
		raw, err := c.st.Run(ctx, claimScript, keys, args...)
		if err != nil {
			var se *store.ScriptError
			if !errors.As(err, &se) {
				return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
			}
			switch code, detail, _ := strings.Cut(se.Code, ":"); code {
			case "already_claimed":
				return ClaimResult{}, &AlreadyClaimedError{ClaimID: detail}
			case "not_open", "closed":
				return ClaimResult{}, fmt.Errorf("%w: %s", ErrDropClosed, d.ID)
			case "sold_out":
				if detail == "0" {
					c.setSoldOut(d.ID, now)
				} else if closed != nil {
					// What is left is in regions not open now.
					return ClaimResult{}, closed
				}
				return ClaimResult{}, fmt.Errorf("%w: %s", ErrSoldOut, d.ID)
			case "pickup_taken":
				if attempt < 3 {
					continue
				}
			}
			return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
		}
		res, err := c.claimed(ctx, d, raw)
		if err == nil && res.Created {
			res.Claim.Viewer, res.Claim.Device = req.Viewer, req.Device
			c.logCampaignClaim(ctx, res.Claim)
		}
		return res, err
	}
}

// logCampaignClaim records a new claim of a campaign's drop in the
// campaign's log, and, for D7 retention, as a claim again in the other
// campaigns its viewer claimed in. The claim stands whatever happens
// here: a failure costs the report one claim, and is logged.
func (c *Claims) logCampaignClaim(ctx context.Context, cl *Claim) {
	if c.campaignLog == nil {
		return
	}
	own := ""
	if cp, ok := c.campaigns.CampaignOf(cl.Drop); ok {
		own = cp.ID
		if err := c.campaignLog.record(ctx, cp.ID, cl); err != nil {
			c.log.Warn().Err(err).Str("campaign", cp.ID).Str("claim", cl.ID).Msg("claim not in the campaign log")
		}
	}
	if err := c.campaignLog.Returned(ctx, own, cl.Viewer); err != nil {
		c.log.Warn().Err(err).Str("claim", cl.ID).Msg("claim again not in the campaign log")
	}
}

// claimed turns the script's reply into the result.
func (c *Claims) claimed(ctx context.Context, d *config.Drop, raw any) (ClaimResult, error) {
	a, _ := raw.([]any)
	str := func(i int) string { s, _ := a[i].(string); return s }
	num := func(i int) int64 { n, _ := a[i].(int64); return n }
	switch {
	case len(a) == 2 && str(0) == "existing":
		cl, err := c.Get(ctx, str(1))
		if err != nil {
			return ClaimResult{}, err
		}
		rc, err := c.receipts.Sign(ctx, cl)
		return ClaimResult{Claim: cl, Receipt: rc}, err
	case len(a) == 11 && str(0) == "created":
	default:
		return ClaimResult{}, fmt.Errorf("verifier: unexpected claim reply %v", raw)
	}
	cl := &Claim{
		ID: str(1), Drop: d.ID, State: ClaimClaimed, Node: str(2), SKU: str(3), Tier: str(4), PickupCode: str(5),
		PickupBy: time.UnixMilli(num(6)).UTC(), CreatedAt: time.UnixMilli(num(7)).UTC(),
	}
	cl.History = []ClaimEvent{{State: ClaimClaimed, At: cl.CreatedAt}}
	// The claimant's next view of the page shows the stock this claim
	// took, whenever its announcement arrives.
	c.previews.forget(d.ID)
	c.metrics.stock.WithLabelValues(d.ID, cl.Node, cl.SKU).Set(float64(num(8)))
	if num(9) == 0 {
		c.setSoldOut(d.ID, c.now())
	}
	rc, err := c.receipts.Sign(ctx, cl)
	if err != nil {
		// The claim is stored: a retry with the same idempotency key gets it.
		return ClaimResult{}, fmt.Errorf("verifier: claim %s stored but not signed: %w", cl.ID, err)
	}
	return ClaimResult{Claim: cl, Created: true, Receipt: rc}, nil
}

// soldOutAnswer answers a claim on a drop flagged sold out without running
// the claim script, but still as the script would for this viewer: the
// same claim to a retry, already_claimed to a viewer at the limit, so no
// one is told "sold out" after being told "claimed".
func (c *Claims) soldOutAnswer(ctx context.Context, d *config.Drop, req ClaimRequest) (ClaimResult, error) {
	raw, err := c.st.Run(ctx, viewerReadScript, []string{viewerKey(d, req.Viewer)}, req.IdempotencyKey)
	if err != nil {
		return ClaimResult{}, fmt.Errorf("verifier: claim on %s: %w", d.ID, err)
	}
	a, _ := raw.([]any)
	field := func(i int) string {
		if i < len(a) {
			s, _ := a[i].(string)
			return s
		}
		return ""
	}
	if id := field(2); req.IdempotencyKey != "" && id != "" {
		res, err := c.claimed(ctx, d, []any{"existing", id})
		if shardsOf(d) > 1 && errors.Is(err, ErrUnknownClaim) {
			// An attempt of a sharded drop between its steps.
			return ClaimResult{}, errAttemptInFlight
		}
		return res, err
	}
	if n, _ := strconv.Atoi(field(0)); n >= max(d.PerViewer, 1) {
		return ClaimResult{}, &AlreadyClaimedError{ClaimID: field(1)}
	}
	return ClaimResult{}, fmt.Errorf("%w: %s", ErrSoldOut, d.ID)
}

// viewerReadScript reads what a viewer has claimed of a drop. A script,
// not a plain HMGET, so that it rides the store's pipelines with the
// claims: a sold-out burst is thousands of these a second.
// KEYS: 1 viewer hash. ARGV: 1 idempotency key ("": none).
// Returns {n, last claim id, claim id of the idempotency key}.
var viewerReadScript = store.NewScript("viewer-read", `
return redis.call('HMGET', KEYS[1], 'n', 'last', 'i:' .. ARGV[1])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	out := make([]any, 3)
	for i, f := range []string{"n", "last", "i:" + argv[0]} {
		if v, ok := tx.HGet(keys[0], f); ok {
			out[i] = v
		}
	}
	return out, nil
})

func hasNode(d *config.Drop, node string) bool {
	for _, l := range d.Stock {
		if l.Node == node {
			return true
		}
	}
	return false
}

// order returns the drop's stock lines in the order the script tries
// them: the viewer's region first, then as configured.
func (c *Claims) order(d *config.Drop, req ClaimRequest) []config.StockLine {
	if req.Region == "" || req.Node != "" {
		return d.Stock
	}
	out := make([]config.StockLine, 0, len(d.Stock))
	for _, pass := range []bool{true, false} {
		for _, l := range d.Stock {
			n, ok := c.nodes(l.Node)
			if (ok && n.Region == req.Region) == pass {
				out = append(out, l)
			}
		}
	}
	return out
}

func (c *Claims) soldOut(drop string, now time.Time) bool {
	c.soldMu.RLock()
	at, ok := c.sold[drop]
	c.soldMu.RUnlock()
	return ok && now.Sub(at) < soldOutFor && !now.Before(at)
}

func (c *Claims) setSoldOut(drop string, now time.Time) {
	c.soldMu.Lock()
	c.sold[drop] = now
	c.soldMu.Unlock()
}

func (c *Claims) clearSoldOut(drop string) {
	c.soldMu.Lock()
	delete(c.sold, drop)
	c.soldMu.Unlock()
}

// watch keeps the sold-out flags (and the kept states) fresh from
// StateChannel (see Announcement): a claim announces the stock left; a
// claim's later state changes nothing here; any other change (opened,
// closed, stock added) clears the drop's flag, and the next claim finds
// out afresh.
func (c *Claims) watch(ctx context.Context) {
	defer c.wg.Done()
	store.Follow(ctx, c.st, StateChannel, func(err error, retryIn time.Duration) {
		c.log.Warn().Err(err).Dur("retry_in", retryIn).Msg("claims: cannot subscribe to drop state; retrying")
	}, func(sub store.Subscription) {
		// What changed while no subscription stood was announced to no
		// one here: forget every flag and kept state, and read afresh.
		c.forgetAll()
		c.consume(ctx, sub)
	})
}

// Changed forgets what is kept of drop (its claim-page read, its state,
// its sold-out flag): it changed through this process. Register it with
// Verifier.OnChange.
func (c *Claims) Changed(drop string) {
	c.previews.forget(drop)
	if c.states != nil {
		c.states.Forget(drop)
	}
	c.clearSoldOut(drop)
}

func (c *Claims) forgetAll() {
	c.soldMu.Lock()
	clear(c.sold)
	c.soldMu.Unlock()
	c.previews.forgetAll()
	if c.states != nil {
		c.states.ForgetAll()
	}
}

func (c *Claims) consume(ctx context.Context, sub store.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-sub.C():
			if !ok {
				return
			}
			a := ParseAnnouncement(string(m.Payload))
			switch {
			case a.Drop == "" || a.Kind == AnnouncedClaimState:
				// A claim moved on: neither the drop nor its stock changed.
			case a.Kind == AnnouncedClaim && a.Left == 0:
				c.previews.forget(a.Drop)
				c.setSoldOut(a.Drop, c.now())
			case a.Kind == AnnouncedClaim:
				c.previews.forget(a.Drop)
				c.clearSoldOut(a.Drop)
			default:
				// Opened, closed or redefined.
				c.Changed(a.Drop)
			}
		}
	}
}

// Get returns a claim and its state history, or ErrUnknownClaim.
func (c *Claims) Get(ctx context.Context, id string) (*Claim, error) {
	drop, ok := DropOfClaim(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownClaim, id)
	}
	raw, err := c.st.Run(ctx, claimReadScript, []string{store.DropKey(drop, "claim", id), store.DropKey(drop, "claim", id, "history")})
	if err != nil {
		return nil, fmt.Errorf("verifier: read claim: %w", err)
	}
	a, _ := raw.([]any)
	if len(a) != 2 {
		return nil, fmt.Errorf("verifier: unexpected claim read reply %v", raw)
	}
	flat, _ := a[0].([]any)
	if len(flat) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownClaim, id)
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		h[k] = v
	}
	msTime := func(s string) time.Time { n, _ := strconv.ParseInt(s, 10, 64); return time.UnixMilli(n).UTC() }
	cl := &Claim{
		ID: id, Drop: drop, State: h["state"], Node: h["node"], SKU: h["sku"], Tier: h["tier"],
		PickupCode: h["pickup_code"], PickupBy: msTime(h["pickup_by"]), CreatedAt: msTime(h["created_at"]),
		Viewer: h["viewer"], Device: h["device"],
		Locker:       Locker{Slot: h["locker_slot"], PIN: h["locker_pin"]},
		Compensation: h["compensation"], CompensationCode: h["compensation_code"], CompensationText: h["compensation_text"],
	}
	items, _ := a[1].([]any)
	for _, it := range items {
		s, _ := it.(string)
		st, at, _ := strings.Cut(s, "\t")
		cl.History = append(cl.History, ClaimEvent{State: st, At: msTime(at)})
	}
	return cl, nil
}

// InitStock writes the configured quantity of each of the drop's stock
// lines that has none in the store yet; it never resets stock that claims
// have taken, so every replica may call it at every start.
func (c *Claims) InitStock(ctx context.Context, d *config.Drop) error {
	if len(d.Stock) == 0 {
		return nil
	}
	if shardsOf(d) > 1 {
		if err := InitShardStock(ctx, c.st, d); err != nil {
			return err
		}
		// Units held by a replica that stopped mid-claim come back.
		_, err := c.Reconcile(ctx, d, c.now())
		return err
	}
	args := make([]any, 0, 2*len(d.Stock))
	for _, l := range d.Stock {
		args = append(args, l.Node+":"+l.SKU, l.Qty)
	}
	_, err := c.st.Run(ctx, stockInitScript, []string{store.DropKey(d.ID, "stock")}, args...)
	return err
}

type claimMetrics struct {
	results *prometheus.CounterVec
	latency prometheus.Histogram
	stock   *prometheus.GaugeVec
	// borrowed counts the claims of sharded drops served with a unit
	// moved from another shard.
	borrowed *prometheus.CounterVec
}

func newClaimMetrics(reg prometheus.Registerer) (*claimMetrics, error) {
	m := &claimMetrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_claims_total",
			Help: "Claim attempts by result: created, existing, already_claimed, sold_out, closed, code_expired, unknown_code, invalid, region_closed, error.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dropwire_claim_duration_seconds",
			Help:    "Time to decide a claim attempt, receipt signing included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		stock: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_stock_left",
			Help: "Stock left per drop, node and SKU, as of the last claim this process made.",
		}, []string{"drop", "node", "sku"}),
		borrowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_claims_borrowed_total",
			Help: "Claims of sharded drops whose viewer's shard had sold out, served with a unit moved from another shard.",
		}, []string{"drop"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.results, m.latency, m.stock, m.borrowed} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// ClaimResultOf names the outcome of a claim attempt, as metrics and logs
// report it.
func ClaimResultOf(err error, created bool) string {
	switch {
	case err == nil && created:
		return "created"
	case err == nil:
		return "existing"
	case errors.Is(err, ErrAlreadyClaimed):
		return "already_claimed"
	case errors.Is(err, ErrSoldOut):
		return "sold_out"
	case errors.Is(err, ErrDropClosed):
		return "closed"
	case errors.Is(err, ErrCodeExpired):
		return "code_expired"
	case errors.Is(err, ErrUnknownCode):
		return "unknown_code"
	case errors.Is(err, ErrInvalidClaim), errors.Is(err, ErrUnknownDrop):
		return "invalid"
	case errors.Is(err, ErrRegionClosed):
		return "region_closed"
	}
	return "error"
}

func (m *claimMetrics) observe(err error, created bool, took time.Duration) {
	m.results.WithLabelValues(ClaimResultOf(err, created)).Inc()
	m.latency.Observe(took.Seconds())
}
