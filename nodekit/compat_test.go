package nodekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/dropwire/dropwire/fulfillment"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/nodekit"
	"github.com/dropwire/dropwire/stdwebhooks"
	"github.com/dropwire/dropwire/verifier"
)

// nodekit repeats Dropwire's wire types so that a node does not import
// the server: every field of fulfillment's payload reaches nodekit's
// Event, and every field of nodekit's Callback reaches fulfillment's.
func TestWireTypesMatchDropwire(t *testing.T) {
	p := fulfillment.Payload{Type: fulfillment.TypeClaimCompensated, Receipt: "r", Claim: fulfillment.ClaimPayload{
		ID: "d.c1", Drop: "d", Node: "shop", SKU: "s", Tier: "gold", PickupCode: "K7Q2M9XA",
		PickupBy: "2025-05-01T18:00:00Z", CreatedAt: "2025-05-01T14:00:00Z", State: "compensated",
		CompensationCode: "CODE-1", Sandbox: true}}
	allSet(t, p.Claim)
	body, _ := json.Marshal(p)
	r, _ := nodekit.NewReceiver(nodekit.ReceiverConfig{Secrets: []string{nodeSecret}})
	signer, _ := stdwebhooks.NewSigner(nodeSecret)
	ev, err := r.Verify(signer.Headers("d.c1.compensated", time.Now(), body), body)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := json.Marshal(struct {
		Type    string        `json:"type"`
		Claim   nodekit.Claim `json:"claim"`
		Receipt string        `json:"receipt,omitempty"`
	}{ev.Type, ev.Claim, ev.Receipt})
	if string(back) != string(body) {
		t.Fatalf("through nodekit:\n%s\nDropwire sent:\n%s", back, body)
	}

	cb := nodekit.Callback{Type: nodekit.TypeReady, Claim: "d.c1", Receipt: "r", PickupCode: "p",
		Locker: &nodekit.Locker{Slot: "B-14", PIN: "4711"}, Reason: "why", Amount: "12.50", Currency: "EUR",
		At: "2026-12-05T18:30:00Z"}
	cbJSON, _ := json.Marshal(cb)
	var got fulfillment.Callback
	if err := json.Unmarshal(cbJSON, &got); err != nil {
		t.Fatal(err)
	}
	allSet(t, got)
	want := fulfillment.Callback{Type: cb.Type, Claim: cb.Claim, Receipt: cb.Receipt, PickupCode: cb.PickupCode,
		Locker: &fulfillment.Locker{Slot: "B-14", PIN: "4711"}, Reason: cb.Reason, Amount: cb.Amount, Currency: cb.Currency,
		At: cb.At}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Dropwire reads %+v, want %+v", got, want)
	}
}

// allSet fails when a field of v is zero: the test must fill every field
// the type has, so a field added later is covered.
func allSet(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("%T.%s is not set in this test", v, rv.Type().Field(i).Name)
		}
	}
}

// Receipts verifies the receipts Dropwire signs, against the JWKS
// Dropwire serves, across a key rotation.
func TestReceiptsVerifyDropwireReceipts(t *testing.T) {
	now := time.Unix(1746108000, 0)
	clock := func() time.Time { return now }
	dw, err := verifier.NewReceipts(verifier.ReceiptsConfig{Store: storetest.Memory(t), Rotate: time.Hour,
		Issuer: "https://drops.example.com", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, err := dw.JWKS(r.Context())
		if err != nil || r.URL.Path != nodekit.JWKSPath {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	node, _ := nodekit.NewReceipts(nodekit.ReceiptsConfig{BaseURL: srv.URL, Node: "shop", Now: clock})
	claim := &verifier.Claim{ID: "d.c1", Drop: "d", State: "claimed", Node: "shop", SKU: "s", Tier: "gold",
		PickupCode: "K7Q2M9XA", PickupBy: now.Add(4 * time.Hour), CreatedAt: now}
	tok, err := dw.Sign(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	got, err := node.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClaimID != "d.c1" || got.Node != "shop" || got.SKU != "s" || got.Tier != "gold" || got.PickupCode != "K7Q2M9XA" ||
		!got.PickupBy.Equal(now.Add(4*time.Hour)) || got.Issuer != "https://drops.example.com" || got.KeyID == "" {
		t.Fatalf("receipt %+v", got)
	}

	// Dropwire's key rotates: the node learns the new key from the first
	// receipt that names it.
	now = now.Add(time.Hour)
	claim.ID = "d.c2"
	tok2, err := dw.Sign(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := node.Verify(ctx, tok2)
	if err != nil || got2.KeyID == got.KeyID {
		t.Fatalf("after rotation: %+v %v (kid before: %s)", got2, err, got.KeyID)
	}
	if _, err := node.Verify(ctx, tok); err != nil {
		t.Fatalf("a receipt of the old key, still valid: %v", err)
	}
	other, _ := nodekit.NewReceipts(nodekit.ReceiptsConfig{BaseURL: srv.URL, Node: "corner-books", Now: clock})
	if _, err := other.Verify(ctx, tok); !errors.Is(err, nodekit.ErrOtherNode) {
		t.Fatalf("another node's receipt: %v", err)
	}
}
