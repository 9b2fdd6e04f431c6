package fulfillment

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// oneDrop resolves every claim code to one drop.
type oneDrop string

func (d oneDrop) Resolve(context.Context, string, time.Time) (string, time.Time, error) {
	return string(d), time.Now(), nil
}

// Claims made by verifier.Claims (the real claim script and layout) are
// forwarded with their receipt, and a node confirms one with the pickup
// code and another with the receipt the viewer got.
func TestClaimsFromVerifier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		ctx := context.Background()
		receipts, err := verifier.NewReceipts(verifier.ReceiptsConfig{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := verifier.NewClaims(verifier.ClaimsConfig{Store: st, Drops: f.drops, Codes: oneDrop(f.drop),
			Receipts: receipts, Nodes: func(id string) (*config.Node, bool) { return &f.nodes[0], id == "shop" }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = claims.Close() })
		if err := st.HSet(ctx, stateKey(f.drop), map[string]string{"status": "open",
			"closes_at": fmt.Sprint(time.Now().Add(time.Hour).UnixMilli())}); err != nil {
			t.Fatal(err)
		}
		s := f.service(func(c *Config) { c.Receipts = receipts })
		run(t, s)
		var made []verifier.ClaimResult
		for i := range 3 {
			r, err := claims.Claim(ctx, verifier.ClaimRequest{Code: "code", Viewer: fmt.Sprintf("viewer-%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, r)
		}
		eventually(t, 5*time.Second, "forwarded", func() bool {
			for _, r := range made {
				c, err := claims.Get(ctx, r.Claim.ID)
				if err != nil || c.State != verifier.ClaimForwarded {
					return false
				}
			}
			return true
		})
		for _, d := range node.deliveries() {
			if rc, err := receipts.Verify(ctx, d.Payload.Receipt); err != nil || rc.ClaimID != d.Payload.Claim.ID {
				t.Fatalf("receipt of %s: %+v %v", d.Payload.Claim.ID, rc, err)
			}
		}
		if _, err := s.HandleCallback(ctx, "shop", "a", Callback{Type: "claim.picked_up",
			PickupCode: verifier.FormatPickupCode(made[0].Claim.PickupCode)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.HandleCallback(ctx, "shop", "b", Callback{Type: "claim.picked_up", Receipt: made[1].Receipt}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"picked_up", "picked_up", "forwarded"} {
			c, err := claims.Get(ctx, made[i].Claim.ID)
			if err != nil || c.State != want {
				t.Fatalf("claim %d: %v %v, want %s", i, c, err, want)
			}
			if want == "picked_up" && (len(c.History) != 3 || c.History[2].State != "picked_up") {
				t.Fatalf("history %+v", c.History)
			}
		}
	})
}
