package verifier

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/web"
)

// testClock is an injected clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t *testing.T, at string) *testClock {
	t.Helper()
	return &testClock{t: mustTime(t, at)}
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// campaignNodes: a Berlin shop open on weekdays, a New York shop, a
// pop-up with one dated window, and a node of a region without windows.
func campaignNodes(t testing.TB) map[string]*config.Node {
	nodes := map[string]*config.Node{
		"berlin":  {ID: "berlin", Region: "eu", Timezone: "Europe/Berlin", Open: []string{"Mon-Fri 09:00-18:00"}, PickupSLA: config.Duration(2 * time.Hour)},
		"newyork": {ID: "newyork", Region: "us", PickupSLA: config.Duration(2 * time.Hour)},
		"popup":   {ID: "popup", Region: "eu", Timezone: "Europe/Berlin", Open: []string{"2026-12-05T19:00/2026-12-05T19:30"}},
		"tokyo":   {ID: "tokyo", Region: "jp"},
	}
	return nodes
}

// winter runs from 5 to 8 December 2026; eu claims 18:00–20:00 Berlin on
// the 5th, us claims 18:00–20:00 New York on the 5th (23:00–01:00 UTC),
// jp whenever the campaign runs.
func winterCampaign(drops ...string) config.Campaign {
	return config.Campaign{ID: "winter", Creator: "ava", Title: "Winter run",
		StartsAt: "2026-12-05T00:00:00+01:00", EndsAt: "2026-12-08T00:00:00+01:00", Drops: drops,
		Regions: []config.Region{
			{ID: "eu", Timezone: "Europe/Berlin", Windows: []string{"2026-12-05T18:00/2026-12-05T20:00"}},
			{ID: "us", Timezone: "America/New_York", Windows: []string{"2026-12-05T18:00/2026-12-05T20:00"}},
			{ID: "jp", Timezone: "Asia/Tokyo"},
		}}
}

func campaignDrop(id string, nodes ...string) config.Drop {
	d := testDrop(id, 1)
	d.Window = config.Duration(72 * time.Hour)
	d.PerViewer = 10
	d.Identity = config.IdentityDevice
	for _, n := range nodes {
		d.Stock = append(d.Stock, config.StockLine{Node: n, SKU: "pack", Tier: "standard", Qty: 5})
	}
	return d
}

type campaignEnv struct {
	*apiEnv
	clock *testClock
}

func newCampaignEnv(t *testing.T, st store.Store, clock *testClock, camp config.Campaign, drops ...config.Drop) *campaignEnv {
	t.Helper()
	nodes := campaignNodes(t)
	cat, book := NewCatalog(drops), NewCampaignBook([]config.Campaign{camp})
	v, err := New(Config{Store: st, Drops: cat, Campaigns: book, Logger: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := NewReceipts(ReceiptsConfig{Store: st, TTL: 24 * time.Hour, Rotate: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClaims(ClaimsConfig{Store: st, Drops: cat, Codes: fixedCodes{}, Receipts: rc, Logger: zerolog.Nop(),
		Now: clock.Now, Campaigns: book,
		Nodes: func(id string) (*config.Node, bool) { n, ok := nodes[id]; return n, ok }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	viewers, err := NewViewers(ViewersConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := fs.ReadFile(web.FS, "claim.html")
	api, err := NewClaimsAPI(ClaimsAPIConfig{Claims: c, Viewers: viewers, ClaimPage: page, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &campaignEnv{apiEnv: &apiEnv{claimEnv: &claimEnv{st: st, v: v, claims: c, rc: rc}, srv: srv}, clock: clock}
}

// A trigger before the campaign starts opens nothing: it is answered
// outside_window, recorded on the drop, and a retry is a duplicate; the
// same drop triggered once the campaign runs opens.
func TestTriggerOutsideCampaignOpensNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		clock := newClock(t, "2026-12-04T22:59:00Z") // a minute before the start, Berlin time
		e := newCampaignEnv(t, st, clock, winterCampaign("gift"), campaignDrop("gift", "berlin"))
		ctx := context.Background()

		early := trigger(srcA, "evt-early", "gift", "m-1", time.Time{})
		res, err := e.v.Ingest(ctx, srcA, early)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusAccepted || res.Moment == nil || res.Moment.State != MomentOutsideWindow || res.Moment.OpenedAt != nil {
			t.Fatalf("early trigger: %+v %+v", res, res.Moment)
		}
		if got := string(res.AppendJSON(nil)); got != `{"status":"accepted","moment":{"id":"m-1","drop":"gift","state":"outside_window"}}` {
			t.Errorf("answer %s", got)
		}
		s, err := e.v.State(ctx, "gift")
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != StatusIdle || !s.OpenedAt.IsZero() {
			t.Fatalf("the drop opened: %+v", s)
		}
		if s.Outside != 1 || s.OutsideMoment != "m-1" || s.OutsideSource != srcA.ID || !s.OutsideAt.Equal(clock.Now()) {
			t.Errorf("not recorded: %+v", s)
		}
		if res, _ := e.v.Ingest(ctx, srcA, early); res.Status != StatusDuplicate {
			t.Errorf("retry: %+v", res)
		}
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v1"}); err == nil {
			t.Error("a claim before any opening succeeded")
		}

		clock.Set(mustTime(t, "2026-12-05T17:00:00Z"))
		res = mustIngest(t, e.v, srcA, trigger(srcA, "evt-live", "gift", "m-2", time.Time{}))
		if res.Moment.State != MomentOpened {
			t.Fatalf("trigger while the campaign runs: %+v", res.Moment)
		}

		clock.Set(mustTime(t, "2026-12-07T23:00:00Z")) // the campaign has ended
		res = mustIngest(t, e.v, srcA, trigger(srcA, "evt-late", "gift", "m-3", time.Time{}))
		if res.Moment.State != MomentOutsideWindow {
			t.Errorf("trigger after the end: %+v", res.Moment)
		}
		if s, _ := e.v.State(ctx, "gift"); s.Outside != 2 || s.Moment != "m-2" {
			t.Errorf("after the late trigger: %+v", s)
		}
	})
}

// A claim for region A inside its window succeeds; region B's answers
// 403 region_closed naming B's next window.
func TestClaimRegionWindows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		// 18:30 in Berlin, 12:30 in New York.
		clock := newClock(t, "2026-12-05T17:30:00Z")
		e := newCampaignEnv(t, st, clock, winterCampaign("gift"), campaignDrop("gift", "berlin", "newyork", "popup", "tokyo"))
		e.open(t, "gift")
		ctx := context.Background()

		res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v1", Node: "berlin"})
		if err != nil || res.Claim.Node != "berlin" {
			t.Fatalf("region eu inside its window: %v %+v", err, res)
		}
		_, err = e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v2", Node: "newyork"})
		var rc *RegionClosedError
		if !errors.As(err, &rc) || !errors.Is(err, ErrRegionClosed) {
			t.Fatalf("region us outside its window: %v", err)
		}
		if rc.Region != "us" || !rc.Next.Start.Equal(mustTime(t, "2026-12-05T23:00:00Z")) || !rc.Next.End.Equal(mustTime(t, "2026-12-06T01:00:00Z")) {
			t.Errorf("next window %+v", rc)
		}

		// Over HTTP, as the claim page sees it.
		c := viewerClient(t)
		r := e.claim(t, c, "open-gift", "", `,"node":"newyork"`)
		next, _ := r.body["next_window"].(map[string]any)
		if r.status != http.StatusForbidden || r.body["code"] != "region_closed" || r.body["region"] != "us" ||
			next["start"] != "2026-12-05T23:00:00Z" || next["end"] != "2026-12-06T01:00:00Z" || next["timezone"] != "America/New_York" {
			t.Errorf("HTTP answer %d %v", r.status, r.body)
		}
		if d, _ := r.body["detail"].(string); d != "claims for pickup in region us are closed now; they open Sat 5 Dec 18:00 to 20:00 (America/New_York)" {
			t.Errorf("detail %q", d)
		}
		if r := e.claim(t, c, "open-gift", "", `,"node":"berlin"`); r.status != http.StatusCreated {
			t.Errorf("eu over HTTP: %d %v", r.status, r.body)
		}

		// A region without windows takes claims while the campaign runs.
		if res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v3", Node: "tokyo"}); err != nil || res.Claim.Node != "tokyo" {
			t.Errorf("region without windows: %v", err)
		}
		// The pop-up (eu) is open 19:00–19:30 Berlin only.
		_, err = e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v4", Node: "popup"})
		if !errors.As(err, &rc) || rc.Node != "popup" || !rc.Next.Start.Equal(mustTime(t, "2026-12-05T18:00:00Z")) {
			t.Errorf("pop-up before its window: %v", err)
		}
		clock.Set(mustTime(t, "2026-12-05T18:10:00Z"))
		if res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v4", Node: "popup"}); err != nil || res.Claim.Node != "popup" {
			t.Errorf("pop-up inside its window: %v", err)
		}

		// Without a chosen node, a claim outside eu's window goes to an
		// open region's stock.
		clock.Set(mustTime(t, "2026-12-05T20:00:00Z")) // 21:00 Berlin, 15:00 New York
		if res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v5"}); err != nil || res.Claim.Node != "tokyo" {
			t.Errorf("no node chosen: %v %+v", err, res.Claim)
		}
		// Once only closed regions have stock, the answer names the window
		// that opens first.
		for i := range 3 {
			if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "t" + string(rune('a'+i)), Node: "tokyo"}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v6"})
		if !errors.As(err, &rc) || rc.Region != "us" {
			t.Errorf("only closed regions left: %v", err)
		}
		// After the campaign, nothing is open and no window is left.
		clock.Set(mustTime(t, "2026-12-07T23:30:00Z"))
		_, err = e.claims.Claim(ctx, ClaimRequest{Code: "open-gift", Viewer: "v7", Node: "newyork"})
		if !errors.As(err, &rc) || !rc.Next.Start.IsZero() {
			t.Errorf("after the campaign: %v", err)
		}
	})
}

// The pickup deadline written with a claim counts the node's open time:
// a Tuesday 17:30 claim with a 2 h SLA at a node open 09–18 is due 10:30
// on Wednesday.
func TestClaimPickupDeadlineCountsOpenTime(t *testing.T) {
	st := storetest.Memory(t)
	clock := newClock(t, "2026-12-01T16:30:00Z") // Tuesday 17:30 Berlin
	camp := winterCampaign()
	camp.StartsAt, camp.Regions[0].Windows = "2026-12-01T00:00:00Z", nil
	e := newCampaignEnv(t, st, clock, camp, campaignDrop("gift", "berlin"))
	e.open(t, "gift")
	res, err := e.claims.Claim(context.Background(), ClaimRequest{Code: "open-gift", Viewer: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := mustTime(t, "2026-12-02T09:30:00Z"); !res.Claim.PickupBy.Equal(want) {
		t.Errorf("pickup_by %s, want %s (10:30 Berlin)", res.Claim.PickupBy, want)
	}
}
