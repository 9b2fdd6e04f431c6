package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/nodekit"
)

// maxAPIBody limits the local API's request bodies.
const maxAPIBody = 16 << 10

// api is the local API (see nodeHelp).
func (n *standaloneNode) api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /claims", n.listClaims)
	mux.HandleFunc("GET /claims/{id}", n.getClaim)
	mux.HandleFunc("POST /claims/{id}/{step}", n.step)
	mux.HandleFunc("POST /receipts/verify", n.verifyReceipt)
	return mux
}

func (n *standaloneNode) listClaims(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if code := q.Get("pickup_code"); code != "" {
		cl, err := n.claims.byPickupCode(code)
		if err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"claims": []nodeClaim{}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"claims": []nodeClaim{cl}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"claims": n.claims.list(q["state"]...)})
}

func (n *standaloneNode) getClaim(w http.ResponseWriter, r *http.Request) {
	cl, err := n.claims.get(r.PathValue("id"))
	if err != nil {
		problem.Respond(w, http.StatusNotFound, "unknown_claim", "this node holds no claim with this id")
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

// stepBody is the optional body of a step.
type stepBody struct {
	Slot   string `json:"slot"`
	PIN    string `json:"pin"`
	Reason string `json:"reason"`
}

// step reports one step of a claim to Dropwire.
func (n *standaloneNode) step(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := n.claims.get(id); err != nil {
		problem.Respond(w, http.StatusNotFound, "unknown_claim", "this node holds no claim with this id")
		return
	}
	var b stepBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		problem.Respond(w, http.StatusRequestEntityTooLarge, "payload_too_large", "the body is over 16 KiB")
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &b); err != nil {
			problem.Respond(w, http.StatusBadRequest, "malformed_body", `the body must be a JSON object like {"slot": "B-14", "pin": "482913"} or {"reason": "..."}`)
			return
		}
	}
	var cb nodekit.Callback
	switch r.PathValue("step") {
	case "accept":
		cb = nodekit.Accepted(id)
	case "reject":
		cb = nodekit.Rejected(id, b.Reason)
	case "ready":
		var locker *nodekit.Locker
		if b.Slot != "" || b.PIN != "" {
			locker = &nodekit.Locker{Slot: b.Slot, PIN: b.PIN}
		}
		cb = nodekit.Ready(id, locker)
	case "picked-up":
		cb = nodekit.PickedUp(id)
	case "failed":
		cb = nodekit.Failed(id, b.Reason)
	default:
		problem.Respond(w, http.StatusNotFound, "unknown_step", "steps: accept, reject, ready, picked-up, failed")
		return
	}
	cl, err := n.report(r.Context(), id, cb)
	var ce *nodekit.CallbackError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, cl)
	case errors.As(err, &ce) && ce.Status == http.StatusConflict:
		p := problem.New(http.StatusConflict, ce.Code, "Dropwire refused "+cb.Type+": "+ce.Detail)
		if ce.State != "" {
			p = p.With("state", ce.State)
		}
		problem.Write(w, p)
	case errors.Is(err, nodekit.ErrRefused):
		// Anything else Dropwire refuses is this node's configuration
		// (wrong secret or node id) or an unknown claim.
		problem.Respond(w, http.StatusBadGateway, "dropwire_refused", err.Error())
	default:
		p := problem.New(http.StatusBadGateway, "dropwire_unavailable", "Dropwire could not be reached; send the same step again: "+err.Error())
		p.RetryAfter = 5e9
		problem.Write(w, p)
	}
}

// verifyReceipt checks a viewer's receipt against Dropwire's keys and
// answers the receipt and the claim this node holds for it.
func (n *standaloneNode) verifyReceipt(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Receipt string `json:"receipt"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody)).Decode(&b); err != nil || b.Receipt == "" {
		problem.Respond(w, http.StatusBadRequest, "malformed_body", `the body must be {"receipt": "<the receipt>"}`)
		return
	}
	rc, err := n.receipts.Verify(r.Context(), strings.TrimSpace(b.Receipt))
	switch {
	case errors.Is(err, nodekit.ErrOtherNode):
		problem.Respond(w, http.StatusUnprocessableEntity, "other_node", "the receipt is for node "+rc.Node)
		return
	case errors.Is(err, nodekit.ErrReceiptExpired):
		problem.Respond(w, http.StatusUnprocessableEntity, "receipt_expired", "the receipt has expired")
		return
	case errors.Is(err, nodekit.ErrBadReceipt):
		problem.Respond(w, http.StatusUnprocessableEntity, "bad_receipt", "the receipt does not verify")
		return
	case err != nil:
		problem.Respond(w, http.StatusBadGateway, "jwks_unavailable", err.Error())
		return
	}
	out := map[string]any{"receipt": map[string]any{"claim_id": rc.ClaimID, "drop": rc.Drop, "node": rc.Node, "sku": rc.SKU,
		"tier": rc.Tier, "pickup_code": rc.PickupCode, "pickup_by": rc.PickupBy.UTC(), "expires_at": rc.ExpiresAt.UTC()}}
	if cl, err := n.claims.get(rc.ClaimID); err == nil {
		out["claim"] = cl
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
