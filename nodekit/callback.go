package nodekit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// Callback types: what a node reports.
const (
	TypeAccepted = "claim.accepted"
	TypeRejected = "claim.rejected"
	TypeReady    = "claim.ready"
	TypePickedUp = "claim.picked_up"
	TypeFailed   = "claim.failed"
	// TypeSale reports a sale to the claimant, counted in the campaign
	// report of the claim's drop.
	TypeSale = "claim.sale"
)

// Callback is the body of POST /v1/fulfillment/{node}/events. Build one
// with Accepted, Rejected, Ready, PickedUp, Failed or Sale.
type Callback struct {
	// ID is the webhook-id: Dropwire applies one ID once, so a retry must
	// keep it. Empty: "<type>:<claim>" (or the pickup code or receipt
	// instead of the claim), one report of each kind per claim.
	ID   string `json:"-"`
	Type string `json:"type"`
	// Claim is the claim id. A claim.picked_up may name the claim by the
	// viewer's Receipt or PickupCode instead.
	Claim      string  `json:"claim,omitempty"`
	Receipt    string  `json:"receipt,omitempty"`
	PickupCode string  `json:"pickup_code,omitempty"`
	Locker     *Locker `json:"locker,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	// A claim.sale's amount (a decimal, at most 2 decimals: "12.50"),
	// currency (ISO 4217) and time (RFC 3339; empty: when it arrives).
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	At       string `json:"at,omitempty"`
}

// Locker is where a ready claim waits: the viewer's receipt shows it.
// Slot takes up to 64 characters, PIN up to 32.
type Locker struct {
	Slot string `json:"slot,omitempty"`
	PIN  string `json:"pin,omitempty"`
}

// Accepted reports that the node will prepare the claim.
func Accepted(claim string) Callback { return Callback{Type: TypeAccepted, Claim: claim} }

// Rejected reports that the node cannot serve the claim; it is
// compensated by the drop's policy.
func Rejected(claim, reason string) Callback {
	return Callback{Type: TypeRejected, Claim: claim, Reason: reason}
}

// Ready reports that the claim waits for its viewer, at locker if not nil.
// The pickup deadline starts again from now.
func Ready(claim string, locker *Locker) Callback {
	return Callback{Type: TypeReady, Claim: claim, Locker: locker}
}

// PickedUp reports that the viewer has the reward.
func PickedUp(claim string) Callback { return Callback{Type: TypePickedUp, Claim: claim} }

// Failed reports that the pickup failed; the claim is compensated by the
// drop's policy.
func Failed(claim, reason string) Callback {
	return Callback{Type: TypeFailed, Claim: claim, Reason: reason}
}

// Sale reports a sale of amount (a decimal, "12.50") in currency ("EUR")
// to the claimant, made at at (zero: now). Give each sale its own ID: a
// second sale for one claim with the default ID is taken as a retry.
func Sale(claim, amount, currency string, at time.Time) Callback {
	cb := Callback{Type: TypeSale, Claim: claim, Amount: amount, Currency: currency}
	if !at.IsZero() {
		cb.At = at.UTC().Format(time.RFC3339)
	}
	return cb
}

func (cb Callback) webhookID() string {
	if cb.ID != "" {
		return cb.ID
	}
	switch {
	case cb.Claim != "":
		return cb.Type + ":" + cb.Claim
	case cb.PickupCode != "":
		return cb.Type + ":code:" + strings.ToUpper(cb.PickupCode)
	default:
		return cb.Type + ":receipt:" + cb.Receipt[max(0, len(cb.Receipt)-43):] // the signature's end
	}
}

// Result is Dropwire's 202 answer.
type Result struct {
	// Status is "applied", "unchanged" (a late or repeated report: the
	// claim had moved on), "duplicate" (this ID was applied before) or,
	// for a claim.sale, "recorded".
	Status string `json:"status"`
	Claim  string `json:"claim"`
	State  string `json:"state"`
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// BaseURL is Dropwire's public URL.
	BaseURL string
	// Node is the node's id.
	Node string
	// Secret is the node's whsec_ secret (the newest, during a rotation).
	Secret string
	// HTTPClient posts the callbacks (default: a client with a 10 s
	// timeout).
	HTTPClient *http.Client
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Client posts a node's signed callbacks.
type Client struct {
	url    string
	signer *stdwebhooks.Signer
	http   *http.Client
	now    func() time.Time
}

// NewClient returns a Client. Errors wrap ErrInvalidConfig.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: BaseURL must be an http(s) URL", ErrInvalidConfig)
	}
	if cfg.Node == "" {
		return nil, fmt.Errorf("%w: Node is required", ErrInvalidConfig)
	}
	signer, err := stdwebhooks.NewSigner(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: Secret: %w", ErrInvalidConfig, err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{url: strings.TrimRight(cfg.BaseURL, "/") + "/v1/fulfillment/" + url.PathEscape(cfg.Node) + "/events",
		signer: signer, http: cfg.HTTPClient, now: cfg.Now}, nil
}

// Send signs cb and posts it once. A refusal is a *CallbackError that
// matches ErrRefused (do not send it again) or ErrUnavailable (try again
// later, with the same cb); a network error matches ErrUnavailable too.
func (c *Client) Send(ctx context.Context, cb Callback) (Result, error) {
	body, err := json.Marshal(cb)
	if err != nil {
		return Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	for k, v := range c.signer.Headers(cb.webhookID(), c.now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode == http.StatusAccepted {
		var r Result
		if err := json.Unmarshal(answer, &r); err != nil {
			return Result{}, fmt.Errorf("%w: 202 with an unreadable body", ErrUnavailable)
		}
		return r, nil
	}
	ce := &CallbackError{Status: res.StatusCode}
	var p struct{ Code, Detail, State string }
	if json.Unmarshal(answer, &p) == nil {
		ce.Code, ce.Detail, ce.State = p.Code, p.Detail, p.State
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
		ce.RetryAfter = time.Duration(s) * time.Second
	}
	return Result{}, ce
}

// Retry bounds SendRetry.
type Retry struct {
	// Attempts is the most tries in all (default 5).
	Attempts int
	// Base and Max bound the wait between tries: uniform in [0,
	// min(Max, Base·2^n)] ("full jitter"), or the server's Retry-After.
	// Defaults 500 ms and 30 s.
	Base, Max time.Duration
}

// SendRetry sends cb until it is accepted, refused for good, ctx ends or
// the attempts run out, and returns the last outcome. Every try carries
// the same webhook-id, so Dropwire applies the callback once.
func (c *Client) SendRetry(ctx context.Context, cb Callback, p Retry) (Result, error) {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	p.Max = max(p.Max, p.Base)
	ceil := p.Base
	for n := 1; ; n++ {
		res, err := c.Send(ctx, cb)
		if err == nil || !errors.Is(err, ErrUnavailable) || n >= p.Attempts {
			return res, err
		}
		wait := time.Duration(rand.Int64N(int64(ceil) + 1))
		if ce := (*CallbackError)(nil); errors.As(err, &ce) && ce.RetryAfter > 0 {
			wait = ce.RetryAfter
		}
		ceil = min(2*ceil, p.Max)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}
