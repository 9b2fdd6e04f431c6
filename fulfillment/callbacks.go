package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/stdwebhooks"
	"github.com/dropwire/dropwire/verifier"
)

// Callback is the body of POST /v1/fulfillment/{node}/events.
type Callback struct {
	Type string `json:"type"` // claim.accepted | claim.rejected | claim.ready | claim.picked_up | claim.failed | claim.sale
	// Claim is the claim id (optional with receipt or pickup_code). The
	// JSON may also carry the claim object of the claim.created webhook as
	// it came: its "id" is taken (see UnmarshalJSON).
	Claim string `json:"claim"`
	// Receipt or PickupCode: a claim.picked_up may name the claim by what
	// the viewer showed at the counter.
	Receipt    string `json:"receipt,omitempty"`
	PickupCode string `json:"pickup_code,omitempty"`
	// Locker is shown on the receipt page (claim.ready).
	Locker *Locker `json:"locker,omitempty"`
	Reason string  `json:"reason,omitempty"`
	// A claim.sale's amount (a decimal, as a JSON number or string, at
	// most 2 decimals), currency (ISO 4217) and time (RFC 3339; default:
	// when it arrives). "claim_id" may name the claim instead of "claim".
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	At       string `json:"at,omitempty"`
}

// UnmarshalJSON decodes a callback body. "claim" is the claim id, or, so
// that a node may echo what it received, the claim object of the webhook,
// whose "id" is taken. A field of the wrong type is a *FieldError naming
// it.
func (cb *Callback) UnmarshalJSON(b []byte) error {
	// Callback's fields, "claim" left raw (not an embedded alias type:
	// its name would prefix the field paths of type errors).
	var raw struct {
		Type       string          `json:"type"`
		Claim      json.RawMessage `json:"claim"`
		Receipt    string          `json:"receipt"`
		PickupCode string          `json:"pickup_code"`
		Locker     *Locker         `json:"locker"`
		Reason     string          `json:"reason"`
		ClaimID    string          `json:"claim_id"`
		Amount     json.RawMessage `json:"amount"`
		Currency   string          `json:"currency"`
		At         string          `json:"at"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		if fe := typeError(err); fe != nil {
			return fe
		}
		return err
	}
	id, err := claimID(raw.Claim)
	if err != nil {
		return err
	}
	if id == "" {
		id = raw.ClaimID
	} else if raw.ClaimID != "" && raw.ClaimID != id {
		return &FieldError{Field: "claim_id", Msg: `names another claim than "claim"`}
	}
	amount, err := amountText(raw.Amount)
	if err != nil {
		return err
	}
	*cb = Callback{Type: raw.Type, Claim: id, Receipt: raw.Receipt, PickupCode: raw.PickupCode,
		Locker: raw.Locker, Reason: raw.Reason, Amount: amount, Currency: raw.Currency, At: raw.At}
	return nil
}

// amountText reads a sale's "amount": a JSON number, kept as written
// (no float rounding), or a string.
func amountText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case json.Number:
		return v.String(), nil
	case string:
		return v, nil
	default:
		return "", &FieldError{Field: "amount", Msg: "must be a number or a decimal string, not " + jsonKind(v)}
	}
}

// claimID reads the "claim" member of a callback: a string, null, or an
// object with a string "id".
func claimID(raw json.RawMessage) (string, error) {
	var v any
	if len(raw) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case map[string]any:
		switch id := v["id"].(type) {
		case string:
			return id, nil
		case nil:
			return "", &FieldError{Field: "claim.id", Msg: `is required when "claim" is an object`}
		default:
			return "", &FieldError{Field: "claim.id", Msg: "must be a string (the claim id), not " + jsonKind(id)}
		}
	default:
		return "", &FieldError{Field: "claim", Msg: "must be a string (the claim id) or the claim object, not " + jsonKind(v)}
	}
}

// jsonKind names the JSON kind of a decoded value, with its article.
func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	default:
		return "null"
	}
}

// Locker is where a ready claim waits.
type Locker struct {
	Slot string `json:"slot,omitempty"`
	PIN  string `json:"pin,omitempty"`
}

// CallbackResult is the 202 answer to a callback.
type CallbackResult struct {
	Status string `json:"status"` // applied | unchanged | duplicate
	Claim  string `json:"claim"`
	State  string `json:"state"`
}

var callbackTargets = map[string]string{
	"claim.accepted":  verifier.ClaimAccepted,
	"claim.rejected":  verifier.ClaimRejected,
	"claim.ready":     verifier.ClaimReady,
	"claim.picked_up": verifier.ClaimPickedUp,
	"claim.failed":    verifier.ClaimPickupFailed,
}

// CallbackHandler serves POST /v1/fulfillment/{node}/events: the
// signature (Standard Webhooks, the node's secret) is verified on the raw,
// size-limited body before anything is parsed; the event is deduped on
// webhook-id and applied as one monotonic transition.
func (s *Service) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nodeID := r.PathValue("node")
		t, ok := s.nodes[nodeID]
		if !ok {
			problem.Respond(w, http.StatusNotFound, "unknown_node", "no fulfillment node with this id")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.callbackFailed(w, nodeID, http.StatusRequestEntityTooLarge, "payload_too_large", "body is over the limit")
				return
			}
			s.callbackFailed(w, nodeID, http.StatusBadRequest, "malformed_event", "could not read the body")
			return
		}
		v, err := t.verify.Verify(r.Header, body, s.now())
		if err != nil {
			status, code := signatureProblem(err)
			s.callbackFailed(w, nodeID, status, code, err.Error())
			return
		}
		var cb Callback
		if err := json.Unmarshal(body, &cb); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				s.metrics.callbacks.WithLabelValues(nodeID, "malformed_event").Inc()
				problem.Write(w, callbackProblem(fe))
				return
			}
			s.callbackFailed(w, nodeID, http.StatusBadRequest, "malformed_event", "body is not a callback object")
			return
		}
		res, err := s.HandleCallback(r.Context(), nodeID, v.ID, cb)
		if err != nil {
			p := callbackProblem(err)
			s.metrics.callbacks.WithLabelValues(nodeID, p.Code).Inc()
			if p.Status >= 500 {
				s.log.Error().Err(err).Str("node", nodeID).Msg("callback failed")
			}
			problem.Write(w, p)
			return
		}
		s.metrics.callbacks.WithLabelValues(nodeID, res.Status).Inc()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(res)
	})
}

// signatureProblem maps a refused signature to the status and problem code
// capture webhooks answer with (the same codes as POST /v1/hooks).
func signatureProblem(err error) (int, string) {
	switch {
	case errors.Is(err, stdwebhooks.ErrMissingSignature):
		return http.StatusUnauthorized, "missing_signature"
	case errors.Is(err, stdwebhooks.ErrStaleTimestamp):
		return http.StatusUnauthorized, "stale_timestamp"
	case errors.Is(err, stdwebhooks.ErrMalformedEvent):
		return http.StatusBadRequest, "malformed_event"
	default:
		return http.StatusUnauthorized, "bad_signature"
	}
}

func (s *Service) callbackFailed(w http.ResponseWriter, node string, status int, code, detail string) {
	s.metrics.callbacks.WithLabelValues(node, code).Inc()
	problem.Respond(w, status, code, detail)
}

// typeError names the field of a JSON value of the wrong type, e.g.
// "claim" sent as an object; nil for other errors.
func typeError(err error) *FieldError {
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) || ute.Field == "" {
		return nil
	}
	want := "a " + ute.Type.Kind().String()
	switch ute.Type.Kind() {
	case reflect.Struct, reflect.Pointer, reflect.Map:
		want = "an object"
	}
	got, _, _ := strings.Cut(ute.Value, " ") // "number 1.5": the kind alone
	switch got {
	case "object", "array":
		got = "an " + got
	case "bool":
		got = "a boolean"
	default:
		got = "a " + got
	}
	return &FieldError{Field: ute.Field, Msg: "must be " + want + ", not " + got}
}

func callbackProblem(err error) *problem.Problem {
	var ill *IllegalTransitionError
	var fe *FieldError
	var se *verifier.SaleError
	switch {
	case errors.As(err, &fe):
		return problem.New(http.StatusBadRequest, "malformed_event", strconv.Quote(fe.Field)+" "+fe.Msg).With("field", fe.Field)
	case errors.As(err, &ill):
		return problem.New(http.StatusConflict, "illegal_transition", ill.Error()).With("state", ill.From)
	case errors.Is(err, ErrUnknownClaim), errors.Is(err, verifier.ErrUnknownClaim):
		return problem.New(http.StatusNotFound, "unknown_claim", "no claim of this node matches")
	case errors.As(err, &se):
		return problem.New(http.StatusUnprocessableEntity, "invalid_sale", strconv.Quote(se.Field)+" "+se.Msg).With("field", se.Field)
	case errors.Is(err, verifier.ErrNoCampaign):
		return problem.New(http.StatusConflict, "not_in_campaign", "the claim's drop is in no campaign: there is no report to count the sale in")
	case errors.Is(err, verifier.ErrSaleOutside):
		return problem.New(http.StatusUnprocessableEntity, "sale_outside_campaign", err.Error()).With("field", "at")
	case errors.Is(err, ErrNoSales):
		return problem.New(http.StatusConflict, "sales_not_recorded", "this server records no sales")
	case errors.Is(err, ErrUnknownEvent):
		return problem.New(http.StatusBadRequest, "unknown_event_type", err.Error())
	case errors.Is(err, ErrMalformedEvent):
		return problem.New(http.StatusBadRequest, "malformed_event", err.Error())
	case errors.Is(err, verifier.ErrBadReceipt):
		return problem.New(http.StatusUnprocessableEntity, "bad_receipt", "the receipt does not verify")
	case errors.Is(err, store.ErrUnavailable):
		p := problem.New(http.StatusServiceUnavailable, "store_unavailable", "try again")
		p.RetryAfter = 1e9
		return p
	default:
		return problem.New(http.StatusInternalServerError, "internal", "the callback could not be applied")
	}
}

// HandleCallback applies a verified callback of node with webhook-id
// eventID. Errors: ErrUnknownEvent, ErrMalformedEvent, ErrUnknownClaim,
// *IllegalTransitionError, verifier.ErrBadReceipt, store errors.
func (s *Service) HandleCallback(ctx context.Context, node, eventID string, cb Callback) (CallbackResult, error) {
	if cb.Type == TypeClaimSale {
		return s.recordSale(ctx, node, eventID, cb)
	}
	to, ok := callbackTargets[cb.Type]
	if !ok {
		return CallbackResult{}, ErrUnknownEvent
	}
	t := s.nodes[node]
	if t == nil {
		return CallbackResult{}, ErrUnknownNode
	}
	drop, claim, err := s.resolveClaim(ctx, node, cb, to)
	if err != nil {
		return CallbackResult{}, err
	}
	tr := Transition{Drop: drop, Claim: claim, To: to, Node: node, DedupeID: eventID, DedupeTTL: s.cfg.DedupeTTL,
		Fields: map[string]string{}}
	switch to {
	case verifier.ClaimReady:
		tr.PickupBy = s.pickupDeadline(ctx, t, drop, claim)
		if cb.Locker != nil {
			tr.Fields["locker_slot"] = clip(cb.Locker.Slot, 64)
			tr.Fields["locker_pin"] = clip(cb.Locker.PIN, 32)
		}
	case verifier.ClaimRejected, verifier.ClaimPickupFailed:
		if cb.Reason != "" {
			tr.Fields["reason"] = clip(cb.Reason, 200)
		}
	case verifier.ClaimPickedUp:
		switch {
		case cb.Receipt != "":
			tr.Fields["picked_up_with"] = "receipt"
		case cb.PickupCode != "":
			tr.Fields["picked_up_with"] = "pickup_code"
		}
	}
	o, err := s.Apply(ctx, tr)
	if err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{Status: o.Result, Claim: claim, State: o.State}, nil
}

// resolveClaim finds the claim a callback is about: by receipt or pickup
// code (claim.picked_up), else by id.
func (s *Service) resolveClaim(ctx context.Context, node string, cb Callback, to string) (drop, claim string, err error) {
	switch {
	case cb.Receipt != "" && to == verifier.ClaimPickedUp:
		if s.cfg.Receipts == nil {
			return "", "", ErrMalformedEvent
		}
		rc, err := s.cfg.Receipts.Verify(ctx, cb.Receipt)
		if err != nil {
			return "", "", err
		}
		if rc.Node != node || (cb.Claim != "" && cb.Claim != rc.ClaimID) {
			return "", "", ErrUnknownClaim
		}
		return rc.Drop, rc.ClaimID, nil
	case cb.PickupCode != "" && to == verifier.ClaimPickedUp:
		code := verifier.NormalizePickupCode(cb.PickupCode)
		for _, d := range s.cfg.Drops.All("") {
			if cb.Claim != "" {
				if dd, ok := verifier.DropOfClaim(cb.Claim); ok && dd != d.ID {
					continue
				}
			}
			id, err := s.st.HGet(ctx, pickupKey(d.ID), node+":"+code)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return "", "", err
			}
			if cb.Claim != "" && cb.Claim != id {
				return "", "", ErrUnknownClaim
			}
			return d.ID, id, nil
		}
		return "", "", ErrUnknownClaim
	case cb.Claim == "":
		return "", "", &FieldError{Field: "claim", Msg: `is required (or, for claim.picked_up, "receipt" or "pickup_code")`}
	}
	drop, ok := verifier.DropOfClaim(cb.Claim)
	if !ok {
		return "", "", ErrUnknownClaim
	}
	return drop, cb.Claim, nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TypeClaimSale is the callback a node sends for a sale it made to a
// claimant: counted in the report of the claim's campaign.
const TypeClaimSale = "claim.sale"

// recordSale records a claim.sale callback: once per webhook-id; a repeat
// answers "duplicate". The claim must be one of node's, of a campaign's
// drop; the sale dated inside the campaign.
func (s *Service) recordSale(ctx context.Context, node, eventID string, cb Callback) (CallbackResult, error) {
	if s.cfg.CampaignLog == nil {
		return CallbackResult{}, ErrNoSales
	}
	if s.nodes[node] == nil {
		return CallbackResult{}, ErrUnknownNode
	}
	if cb.Claim == "" {
		return CallbackResult{}, &FieldError{Field: "claim", Msg: `is required (the claim id, as "claim" or "claim_id")`}
	}
	if cb.Amount == "" {
		return CallbackResult{}, &verifier.SaleError{Field: "amount", Msg: "is required"}
	}
	sale := verifier.Sale{ID: eventID, Node: node, Claim: cb.Claim, Amount: cb.Amount, Currency: cb.Currency}
	if cb.At != "" {
		at, err := time.Parse(time.RFC3339, cb.At)
		if err != nil {
			return CallbackResult{}, &verifier.SaleError{Field: "at", Msg: "must be an RFC 3339 time, e.g. 2026-12-05T18:30:00Z"}
		}
		sale.At = at
	} else {
		sale.At = s.now()
	}
	_, err := s.cfg.CampaignLog.RecordSale(ctx, sale)
	switch {
	case errors.Is(err, verifier.ErrSaleDuplicate):
		return CallbackResult{Status: ResultDuplicate, Claim: cb.Claim, State: "sale"}, nil
	case err != nil:
		return CallbackResult{}, err
	}
	s.log.Info().Str("node", node).Str("claim", cb.Claim).Str("currency", cb.Currency).Msg("sale recorded")
	return CallbackResult{Status: "recorded", Claim: cb.Claim, State: "sale"}, nil
}
