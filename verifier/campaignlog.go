package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// The campaign log: what a campaign's report is made of, written as it
// happens, only for drops that belong to a campaign. Every key of one
// campaign shares the `{c:<campaign>}` hash tag, so each write is one
// script on one slot, and a report reads one campaign's keys only:
//
//	{c:<id>}:claims    claim id → CampaignClaim (JSON), rewritten on each change
//	{c:<id>}:sales     sale id → CampaignSale (JSON); a repeated id changes nothing
//	{c:<id>}:viewers   viewer key → ms of the viewer's first claim in the campaign
//	{c:<id>}:returned  viewer key → ms of the viewer's first claim again, in
//	                   any drop, within ReturnWithin of that first claim
//
// Viewer keys are the keyed hashes claims carry (Viewers.Hash, under the
// viewer secret): no identity is stored in clear.

// ReturnWithin is how long after a viewer's first claim in a campaign a
// claim again (in any drop) counts for D7 retention.
const ReturnWithin = 7 * 24 * time.Hour

// CampaignKey returns the logical key of part of a campaign's log.
func CampaignKey(campaign, part string) string { return "{c:" + campaign + "}:" + part }

// CampaignClaim is one claim as a campaign report counts it. Times are
// Unix milliseconds, 0 when it has not happened.
type CampaignClaim struct {
	Drop     string `json:"drop"`
	Node     string `json:"node"`
	Tier     string `json:"tier"`
	Created  int64  `json:"created"`
	PickupBy int64  `json:"pickup_by,omitempty"`
	PickedUp int64  `json:"picked_up,omitempty"`
	// Failed is when the claim entered rejected, pickup_failed or
	// forward_failed.
	Failed int64 `json:"failed,omitempty"`
	// Compensation is what the drop's policy did on failure: code,
	// webhook, pool_empty, none ("" while it has not failed).
	Compensation string `json:"compensation,omitempty"`
	// Compensated is when the claim became compensated; CostMinor and
	// CostCurrency the drop's compensation.value then (minor units; 0
	// and "": no value configured).
	Compensated  int64  `json:"compensated,omitempty"`
	CostMinor    int64  `json:"cost_minor,omitempty"`
	CostCurrency string `json:"cost_currency,omitempty"`
	// Viewer is the claimant's viewer key (a keyed hash), for counting
	// distinct claimants.
	Viewer string `json:"viewer,omitempty"`
}

// CampaignSale is one sale a node reported for a claim.
type CampaignSale struct {
	Node  string `json:"node"`
	Claim string `json:"claim"`
	Drop  string `json:"drop"`
	Tier  string `json:"tier"`
	// Minor is the amount in minor units (cents) of Currency.
	Minor    int64  `json:"minor"`
	Currency string `json:"currency"`
	At       int64  `json:"at"` // Unix ms
}

// Sale is a sale as a node reports it.
type Sale struct {
	// ID makes the report idempotent (the callback's webhook-id).
	ID       string
	Node     string
	Claim    string
	Amount   string // a decimal, e.g. "12.50"
	Currency string // ISO 4217, e.g. "EUR"
	At       time.Time
}

// CampaignLister is the campaigns the log writes for (*CampaignBook).
type CampaignLister interface {
	Campaigns
	All() []*config.Campaign
}

// CampaignLogConfig configures a CampaignLog.
type CampaignLogConfig struct {
	Store     store.Store
	Claims    *Claims
	Campaigns CampaignLister
	Now       func() time.Time
}

// CampaignLog writes the campaign log. Safe for concurrent use.
type CampaignLog struct {
	st        store.Store
	claims    *Claims
	campaigns CampaignLister
	now       func() time.Time
}

// NewCampaignLog returns a log over cfg.Store.
func NewCampaignLog(cfg CampaignLogConfig) (*CampaignLog, error) {
	if cfg.Store == nil || cfg.Claims == nil || cfg.Campaigns == nil {
		return nil, errors.New("verifier: campaign log needs a store, the claims and the campaigns")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CampaignLog{st: cfg.Store, claims: cfg.Claims, campaigns: cfg.Campaigns, now: cfg.Now}, nil
}

// campaignClaimScript writes a claim's record and, for its viewer, the
// first claim or a claim again within return-within of it.
//
// KEYS: 1 claims, 2 viewers, 3 returned. ARGV: 1 claim id, 2 record, 3
// viewer key ("": none), 4 claim created ms, 5 return-within ms.
var campaignClaimScript = store.NewScript("campaign-claim", `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then
  local at = tonumber(ARGV[4])
  local first = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '')
  if not first or at < first then
    redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  elseif at > first and at - first <= tonumber(ARGV[5]) then
    redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4])
  end
end
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	tx.HSet(keys[0], argv[0], argv[1])
	if argv[2] != "" {
		at, _ := strconv.ParseInt(argv[3], 10, 64)
		within, _ := strconv.ParseInt(argv[4], 10, 64)
		s, ok := tx.HGet(keys[1], argv[2])
		first, err := strconv.ParseInt(s, 10, 64)
		switch {
		case !ok || err != nil || at < first:
			tx.HSet(keys[1], argv[2], argv[3])
		case at > first && at-first <= within:
			if _, ok := tx.HGet(keys[2], argv[2]); !ok {
				tx.HSet(keys[2], argv[2], argv[3])
			}
		}
	}
	return int64(1), nil
})

// campaignReturnScript records a viewer's claim again when it comes
// after the viewer's first claim in the campaign and within return-within
// of it. Returns 1 when counted.
//
// KEYS: 1 viewers, 2 returned. ARGV: 1 viewer key, 2 now ms, 3
// return-within ms.
var campaignReturnScript = store.NewScript("campaign-return", `
local first = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '')
local at = tonumber(ARGV[2])
if not first or at <= first or at - first > tonumber(ARGV[3]) then return 0 end
return redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	s, ok := tx.HGet(keys[0], argv[0])
	first, err := strconv.ParseInt(s, 10, 64)
	now, _ := strconv.ParseInt(argv[1], 10, 64)
	within, _ := strconv.ParseInt(argv[2], 10, 64)
	if !ok || err != nil || now <= first || now-first > within {
		return int64(0), nil
	}
	if _, ok := tx.HGet(keys[1], argv[0]); ok {
		return int64(0), nil
	}
	tx.HSet(keys[1], argv[0], argv[1])
	return int64(1), nil
})

// campaignSaleScript stores a sale once per id. Returns 1 when stored, 0
// for a repeat.
//
// KEYS: 1 sales. ARGV: 1 sale id, 2 record.
var campaignSaleScript = store.NewScript("campaign-sale", `
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if _, ok := tx.HGet(keys[0], argv[0]); ok {
		return int64(0), nil
	}
	tx.HSet(keys[0], argv[0], argv[1])
	return int64(1), nil
})

// ClaimChanged writes the claim's current record into its campaign's log;
// a claim of a drop in no campaign writes nothing. Called after the claim
// is created and after each change of its state.
func (l *CampaignLog) ClaimChanged(ctx context.Context, drop, claim string) error {
	cp, ok := l.campaigns.CampaignOf(drop)
	if !ok {
		return nil
	}
	cl, err := l.claims.Get(ctx, claim)
	if err != nil {
		return err
	}
	return l.record(ctx, cp.ID, cl)
}

func (l *CampaignLog) record(ctx context.Context, campaign string, cl *Claim) error {
	rec := CampaignClaim{Drop: cl.Drop, Node: cl.Node, Tier: cl.Tier, Created: cl.CreatedAt.UnixMilli(),
		Compensation: cl.Compensation, Viewer: cl.Viewer}
	if !cl.PickupBy.IsZero() {
		rec.PickupBy = cl.PickupBy.UnixMilli()
	}
	for _, e := range cl.History {
		switch e.State {
		case ClaimPickedUp:
			rec.PickedUp = e.At.UnixMilli()
		case ClaimRejected, ClaimPickupFailed, ClaimForwardFailed:
			if rec.Failed == 0 {
				rec.Failed = e.At.UnixMilli()
			}
		case ClaimCompensated:
			rec.Compensated = e.At.UnixMilli()
		}
	}
	if rec.Compensated > 0 {
		// The value in force when the claim was compensated: a later
		// change of the drop's policy does not rewrite what it cost.
		d, err := l.claims.drops.Drop(ctx, cl.Drop)
		if err != nil && !errors.Is(err, ErrUnknownDrop) {
			return err
		}
		if d != nil {
			if minor, ok := d.Compensation.Value.Minor(); ok && d.Compensation.Value.Currency != "" {
				rec.CostMinor, rec.CostCurrency = minor, d.Compensation.Value.Currency
			}
		}
	}
	js, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = l.st.Run(ctx, campaignClaimScript,
		[]string{CampaignKey(campaign, "claims"), CampaignKey(campaign, "viewers"), CampaignKey(campaign, "returned")},
		cl.ID, string(js), cl.Viewer, rec.Created, ReturnWithin.Milliseconds())
	return err
}

// Returned records, for D7 retention, that viewer (a viewer key) claimed
// now in a drop outside campaign skip ("": none): a claim again for every
// other campaign that has started, in which the viewer's first claim was
// at most ReturnWithin ago. Claims within a campaign are counted by its
// own record.
func (l *CampaignLog) Returned(ctx context.Context, skip, viewer string) error {
	if viewer == "" {
		return nil
	}
	now := l.now()
	for _, cp := range l.campaigns.All() {
		if cp.ID == skip {
			continue
		}
		s, err := cp.Schedule()
		if err != nil || now.Before(s.Starts) || now.Sub(s.Ends) > ReturnWithin {
			continue // no first claim in it can be ReturnWithin old
		}
		if _, err := l.st.Run(ctx, campaignReturnScript,
			[]string{CampaignKey(cp.ID, "viewers"), CampaignKey(cp.ID, "returned")},
			viewer, now.UnixMilli(), ReturnWithin.Milliseconds()); err != nil {
			return err
		}
	}
	return nil
}

// RecordSale stores a sale a node reported for one of its claims of a
// campaign's drop; a repeat of the same id is ErrSaleDuplicate and
// changes nothing. Errors: ErrBadSale, ErrUnknownClaim, ErrNoCampaign,
// ErrSaleOutside, ErrSaleDuplicate, store errors.
func (l *CampaignLog) RecordSale(ctx context.Context, s Sale) (CampaignSale, error) {
	minor, err := ParseAmount(s.Amount)
	if err != nil {
		return CampaignSale{}, err
	}
	if !ValidCurrency(s.Currency) {
		return CampaignSale{}, &SaleError{Field: "currency", Msg: fmt.Sprintf("%q must be an ISO 4217 code (three capital letters, e.g. \"EUR\")", s.Currency)}
	}
	if s.ID == "" || len(s.ID) > 128 {
		return CampaignSale{}, &SaleError{Field: "id", Msg: "must be 1-128 characters"}
	}
	if s.At.IsZero() {
		s.At = l.now()
	}
	drop, ok := DropOfClaim(s.Claim)
	if !ok {
		return CampaignSale{}, ErrUnknownClaim
	}
	cl, err := l.claims.Get(ctx, s.Claim)
	if err != nil {
		return CampaignSale{}, err
	}
	if cl.Node != s.Node {
		return CampaignSale{}, ErrUnknownClaim
	}
	cp, ok := l.campaigns.CampaignOf(drop)
	if !ok {
		return CampaignSale{}, ErrNoCampaign
	}
	sch, err := cp.Schedule()
	if err != nil || s.At.Before(sch.Starts) || !s.At.Before(sch.Ends) {
		return CampaignSale{}, fmt.Errorf("%w: %s is not between the campaign's start and end", ErrSaleOutside, s.At.UTC().Format(time.RFC3339))
	}
	rec := CampaignSale{Node: s.Node, Claim: s.Claim, Drop: drop, Tier: cl.Tier, Minor: minor, Currency: s.Currency,
		At: s.At.UnixMilli()}
	js, err := json.Marshal(rec)
	if err != nil {
		return CampaignSale{}, err
	}
	raw, err := l.st.Run(ctx, campaignSaleScript, []string{CampaignKey(cp.ID, "sales")}, s.Node+"/"+s.ID, string(js))
	if err != nil {
		return CampaignSale{}, err
	}
	if n, _ := raw.(int64); n == 0 {
		return rec, ErrSaleDuplicate
	}
	return rec, nil
}

// CampaignLogData is what a campaign's log holds.
type CampaignLogData struct {
	Claims map[string]CampaignClaim
	Sales  map[string]CampaignSale
	// Viewers is each claimant's first claim, Returned each returning
	// claimant's first return past ReturnAfter (Unix ms).
	Viewers, Returned map[string]int64
}

// Read returns the log of campaign. It reads that campaign's four keys
// and nothing else.
func (l *CampaignLog) Read(ctx context.Context, campaign string) (*CampaignLogData, error) {
	out := &CampaignLogData{Claims: map[string]CampaignClaim{}, Sales: map[string]CampaignSale{},
		Viewers: map[string]int64{}, Returned: map[string]int64{}}
	claims, err := l.st.HGetAll(ctx, CampaignKey(campaign, "claims"))
	if err != nil {
		return nil, err
	}
	for id, js := range claims {
		var c CampaignClaim
		if json.Unmarshal([]byte(js), &c) == nil {
			out.Claims[id] = c
		}
	}
	sales, err := l.st.HGetAll(ctx, CampaignKey(campaign, "sales"))
	if err != nil {
		return nil, err
	}
	for id, js := range sales {
		var s CampaignSale
		if json.Unmarshal([]byte(js), &s) == nil {
			out.Sales[id] = s
		}
	}
	for part, m := range map[string]map[string]int64{"viewers": out.Viewers, "returned": out.Returned} {
		h, err := l.st.HGetAll(ctx, CampaignKey(campaign, part))
		if err != nil {
			return nil, err
		}
		for k, v := range h {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				m[k] = n
			}
		}
	}
	return out, nil
}

// ParseAmount reads a decimal amount of money ("12.5", "12.50", "3")
// into minor units: at most 2 decimals, above zero, below 10^12.
func ParseAmount(s string) (int64, error) {
	n, ok := config.ParseMinor(s)
	if !ok {
		return 0, &SaleError{Field: "amount", Msg: fmt.Sprintf("%q must be a positive decimal with at most 2 decimals, e.g. \"12.50\"", s)}
	}
	if n <= 0 {
		return 0, &SaleError{Field: "amount", Msg: fmt.Sprintf("%q must be above zero", s)}
	}
	return n, nil
}

// ValidCurrency reports whether s is an ISO 4217 code's shape: three
// upper-case letters.
func ValidCurrency(s string) bool { return config.ValidCurrency(s) }

// SaleError names the field of a sale that is malformed.
type SaleError struct{ Field, Msg string }

func (e *SaleError) Error() string { return ErrBadSale.Error() + ": " + e.Field + " " + e.Msg }

// Unwrap makes errors.Is(err, ErrBadSale) hold.
func (e *SaleError) Unwrap() error { return ErrBadSale }
