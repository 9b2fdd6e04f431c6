package nodekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// Outbound event types: what Dropwire sends.
const (
	// TypeClaimCreated reaches the claim's node when a viewer claims.
	TypeClaimCreated = "claim.created"
	// TypeClaimCompensated reaches a creator's compensation webhook when a
	// claim failed and the drop compensates by webhook.
	TypeClaimCompensated = "claim.compensated"
)

// Event is one verified webhook from Dropwire.
type Event struct {
	// ID is webhook-id: the same on every retry of this event, so the
	// node's idempotency key.
	ID string
	// Timestamp is when Dropwire signed this attempt (webhook-timestamp).
	Timestamp time.Time
	// Type is TypeClaimCreated or TypeClaimCompensated; a node should
	// acknowledge a type it does not know.
	Type string
	// Claim is the claim.
	Claim Claim
	// Receipt is the viewer's receipt (claim.created): verify it with
	// Receipts, or keep it to match what the viewer shows.
	Receipt string
}

// Claim is the claim object of a webhook body.
type Claim struct {
	ID         string    `json:"id"`
	Drop       string    `json:"drop"`
	Node       string    `json:"node"`
	SKU        string    `json:"sku"`
	Tier       string    `json:"tier,omitempty"`
	PickupCode string    `json:"pickup_code,omitempty"`
	PickupBy   time.Time `json:"pickup_by,omitzero"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	// State and CompensationCode are set in claim.compensated.
	State            string `json:"state,omitempty"`
	CompensationCode string `json:"compensation_code,omitempty"`
	// Sandbox is true for a claim of a test drop: answer it as any other,
	// but hand nothing out.
	Sandbox bool `json:"sandbox,omitempty"`
}

// webhookBody is the JSON of a webhook.
type webhookBody struct {
	Type    string `json:"type"`
	Claim   Claim  `json:"claim"`
	Receipt string `json:"receipt,omitempty"`
}

// DefaultMaxBody is ReceiverConfig.MaxBody's default: Dropwire's bodies
// are a few hundred bytes.
const DefaultMaxBody = 64 << 10

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// Secrets are the node's whsec_ secrets, newest first (during a
	// rotation, the old one too).
	Secrets []string
	// Tolerance is how far webhook-timestamp may be from the node's clock
	// (default 5 min).
	Tolerance time.Duration
	// MaxBody limits what Read reads (default DefaultMaxBody).
	MaxBody int64
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Receiver verifies Dropwire's webhooks to one node.
type Receiver struct {
	v       *stdwebhooks.Verifier
	maxBody int64
	now     func() time.Time
}

// NewReceiver returns a Receiver. Errors wrap ErrInvalidConfig.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	v, err := stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: cfg.Secrets, Tolerance: cfg.Tolerance})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Receiver{v: v, maxBody: cfg.MaxBody, now: cfg.Now}, nil
}

// Verify checks the signature of body with headers h, then parses it.
// body must be the raw bytes as received.
func (r *Receiver) Verify(h http.Header, body []byte) (Event, error) {
	m, err := r.v.Verify(h, body, r.now())
	if err != nil {
		return Event{}, err
	}
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Event{}, fmt.Errorf("%w: body is not a claim event: %v", ErrMalformedEvent, err)
	}
	switch {
	case b.Type == "":
		return Event{}, fmt.Errorf("%w: \"type\" is required", ErrMalformedEvent)
	case b.Claim.ID == "":
		return Event{}, fmt.Errorf("%w: \"claim.id\" is required", ErrMalformedEvent)
	}
	return Event{ID: m.ID, Timestamp: m.Timestamp, Type: b.Type, Claim: b.Claim, Receipt: b.Receipt}, nil
}

// Read reads req's body (up to MaxBody) and verifies it.
func (r *Receiver) Read(req *http.Request) (Event, error) {
	body, err := io.ReadAll(io.LimitReader(req.Body, r.maxBody+1))
	if err != nil {
		return Event{}, fmt.Errorf("%w: reading the body: %v", ErrMalformedEvent, err)
	}
	if int64(len(body)) > r.maxBody {
		return Event{}, ErrBodyTooLarge
	}
	return r.Verify(req.Header, body)
}

// Handler serves Dropwire's webhooks: it verifies each (401, 400 or 413
// when it does not verify, before take is called) and hands it to take.
// A nil error from take is answered 200, which acknowledges the event;
// an error is answered 503, and Dropwire retries later with the same
// Event.ID, so take must be idempotent on it. take runs under the
// request's context: Dropwire gives up on a node after its timeout (10 s
// by default), so take should store the event and return, not wait for a
// person.
func (r *Receiver) Handler(take func(context.Context, Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		ev, err := r.Read(req)
		if err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		if err := take(req.Context(), ev); err != nil {
			http.Error(w, "not stored; retry", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// statusOf is the answer to a webhook that did not verify.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformedEvent):
		return http.StatusBadRequest
	default:
		return http.StatusUnauthorized
	}
}
