package fulfillment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

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
	// Amount and Currency of a claim.sale: a sale made to the claimant.
	Amount   json.Number `json:"amount,omitempty"`
	Currency string      `json:"currency,omitempty"`
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
	if _, ok := callbackTargets[a.Type]; !ok && a.Type != TypeClaimSale {
		return CallbackResult{}, fmt.Errorf("%w: %q: use claim.ready, claim.picked_up, claim.failed or claim.sale", ErrUnknownEvent, a.Type)
	}
	cb := Callback{Type: a.Type, Claim: claim, Locker: a.Locker, Reason: a.Reason}
	if a.Type == TypeClaimSale {
		cb.Amount, cb.Currency = a.Amount.String(), a.Currency
	}
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
