package verifier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The campaign log counts, for D7 retention, a claimant who claims again
// within 7 days of the first claim, in the campaign or in any other drop,
// and not one who claims again later; and a sale once per id.
func TestCampaignLogRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		now := start.Add(time.Hour)
		clock := func() time.Time { return now }
		d1, d2 := claimDrop("c-one", 5), claimDrop("c-two", 5)
		d1.Window, d2.Window = config.Duration(30*24*time.Hour), config.Duration(30*24*time.Hour)
		book := NewCampaignBook([]config.Campaign{{ID: "long", Creator: "ava", StartsAt: "2026-12-01T00:00:00Z",
			EndsAt: "2026-12-31T00:00:00Z", Drops: []string{d1.ID, d2.ID}}})
		e := newClaimEnv(t, st, clock, d1, d2)
		c, err := NewClaims(ClaimsConfig{Store: st, Drops: NewCatalog([]config.Drop{d1, d2}), Codes: fixedCodes{},
			Receipts: e.rc, Campaigns: book, Now: clock,
			Nodes: func(id string) (*config.Node, bool) { n, ok := claimNodes[id]; return n, ok }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		e.open(t, d1.ID)
		e.open(t, d2.ID)
		first, err := c.Claim(ctx, ClaimRequest{Code: "open-" + d1.ID, Viewer: "vA"})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"vB", "vC", "vD"} {
			if _, err := c.Claim(ctx, ClaimRequest{Code: "open-" + d1.ID, Viewer: v}); err != nil {
				t.Fatal(err)
			}
		}
		log := c.CampaignLog()
		at := func(d time.Duration) { now = start.Add(time.Hour + d) }
		at(2 * 24 * time.Hour) // vA claims again in the campaign: counted
		if _, err := c.Claim(ctx, ClaimRequest{Code: "open-" + d2.ID, Viewer: "vA"}); err != nil {
			t.Fatal(err)
		}
		at(7 * 24 * time.Hour) // vB claims a drop of no campaign, 7 days on: counted
		if err := log.Returned(ctx, "", "vB"); err != nil {
			t.Fatal(err)
		}
		at(7*24*time.Hour + time.Minute) // vC, a minute later: too late
		if err := log.Returned(ctx, "", "vC"); err != nil {
			t.Fatal(err)
		}
		at(9 * 24 * time.Hour) // vD claims again in the campaign on day 9: too late
		if _, err := c.Claim(ctx, ClaimRequest{Code: "open-" + d2.ID, Viewer: "vD"}); err != nil {
			t.Fatal(err)
		}
		sale := Sale{ID: "s1", Node: first.Claim.Node, Claim: first.Claim.ID, Amount: "9.99", Currency: "USD", At: now}
		if _, err := log.RecordSale(ctx, sale); err != nil {
			t.Fatal(err)
		}
		if _, err := log.RecordSale(ctx, sale); !errors.Is(err, ErrSaleDuplicate) {
			t.Fatalf("repeated sale: %v", err)
		}
		data, err := log.Read(ctx, "long")
		if err != nil {
			t.Fatal(err)
		}
		if len(data.Claims) != 6 || len(data.Viewers) != 4 || len(data.Sales) != 1 {
			t.Fatalf("log: %d claims, %d viewers, %d sales", len(data.Claims), len(data.Viewers), len(data.Sales))
		}
		_, a := data.Returned["vA"]
		_, b := data.Returned["vB"]
		if !a || !b || len(data.Returned) != 2 {
			t.Fatalf("returned: %v, want vA and vB", data.Returned)
		}
		if s := data.Sales[first.Claim.Node+"/s1"]; s.Minor != 999 || s.Currency != "USD" {
			t.Fatalf("sale: %+v", s)
		}
	})
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]int64{"3": 300, "3.5": 350, "3.50": 350, "0.01": 1, "1000000.00": 100000000} {
		if got, err := ParseAmount(in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0.00", "-1", "1.234", "1.", ".5", "1e3", "abc", "1,50", "9999999999999"} {
		if _, err := ParseAmount(in); !errors.Is(err, ErrBadSale) {
			t.Errorf("ParseAmount(%q): %v, want ErrBadSale", in, err)
		}
	}
}
