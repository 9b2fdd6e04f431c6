package fulfillment

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// openCodes resolves "open-<drop>" to drop: the overlay's rotating codes
// are tested in overlay/ and through the app.
type openCodes struct{}

func (openCodes) Resolve(_ context.Context, code string, now time.Time) (string, time.Time, error) {
	if d, ok := strings.CutPrefix(code, "open-"); ok {
		return d, now, nil
	}
	return "", time.Time{}, verifier.ErrUnknownCode
}

// reportClock is a clock the test sets.
type reportClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *reportClock) Now() time.Time     { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *reportClock) Set(t time.Time)    { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *reportClock) At(d time.Duration) { c.Set(campaignStart.Add(d)) }

var campaignStart = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

// campaignEnv is a two-day campaign of two drops at two nodes (in two
// regions), each drop compensating with a code of a known value, run by the
// real claims, fulfillment service and admin API over one store and one
// injected clock.
type campaignEnv struct {
	st     store.Store
	clock  *reportClock
	claims *verifier.Claims
	svc    *Service
	admin  http.Handler
	books  config.Node
	drops  *verifier.Catalog
}

const reportToken = "admin-token-0123456789"

func newCampaignEnv(t *testing.T, st store.Store) *campaignEnv {
	t.Helper()
	ctx := context.Background()
	clock := &reportClock{t: campaignStart.Add(30 * time.Minute)}
	books := testNodeConfig("books", "http://127.0.0.1:9/", newSecret(t))
	books.Region, books.PickupSLA, books.BaselineSalesPerDay = "eu-west", config.Duration(4*time.Hour), 10
	locker := testNodeConfig("locker", "http://127.0.0.1:9/", newSecret(t))
	locker.Region, locker.PickupSLA = "eu-north", config.Duration(time.Hour)
	nodes := []config.Node{books, locker}
	tiers := []config.Tier{{ID: "standard"}, {ID: "premium", PickupSLA: config.Duration(2 * time.Hour)}}
	d1 := config.Drop{ID: "winter-1", Creator: "ava", Title: "Winter stickers", Window: config.Duration(12 * time.Hour),
		Compensation: config.Compensation{Kind: config.CompensationCode, Value: config.Money{Amount: "4.5", Currency: "EUR"}},
		Stock: []config.StockLine{{Node: "books", SKU: "pack", Tier: "standard", Qty: 10},
			{Node: "locker", SKU: "pack", Tier: "standard", Qty: 10}}}
	d2 := config.Drop{ID: "winter-2", Creator: "ava", Title: "Winter pins", Window: config.Duration(12 * time.Hour),
		Compensation: config.Compensation{Kind: config.CompensationCode, Value: config.Money{Amount: "3", Currency: "USD"}},
		Stock: []config.StockLine{{Node: "books", SKU: "pin", Tier: "premium", Qty: 10},
			{Node: "locker", SKU: "pin", Tier: "premium", Qty: 10}}}
	for _, d := range []*config.Drop{&d1, &d2} {
		d.PerViewer = 2
		d.ApplyDefaults()
	}
	cp := config.Campaign{ID: "winter", Creator: "ava", Title: "Winter tour", StartsAt: "2026-12-05T00:00:00Z",
		EndsAt: "2026-12-07T00:00:00Z", Drops: []string{d1.ID, d2.ID}}
	cfg := &config.Config{AdminToken: reportToken, PublicURL: "http://127.0.0.1", Nodes: nodes, Tiers: tiers,
		Drops: []config.Drop{d1, d2}, Campaigns: []config.Campaign{cp}}
	book := verifier.NewCampaignBook(cfg.Campaigns)
	cat := verifier.NewCatalog(cfg.Drops)
	v, err := verifier.New(verifier.Config{Store: st, Drops: cat, Campaigns: book, Logger: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := verifier.NewReceipts(verifier.ReceiptsConfig{Store: st, TTL: 30 * 24 * time.Hour, Rotate: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	nodeOf := func(id string) (*config.Node, bool) { return cfg.Node(id) }
	claims, err := verifier.NewClaims(verifier.ClaimsConfig{Store: st, Drops: cat, Codes: openCodes{}, Receipts: rc,
		Nodes: nodeOf, Tiers: cfg.Tier, Campaigns: book, Logger: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = claims.Close() })
	svc, err := New(Config{Store: st, Drops: cat, Nodes: nodes, Tiers: tiers, CampaignLog: claims.CampaignLog(),
		Receipts: rc, AdminToken: reportToken, Logger: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AddCodes(ctx, d1.ID, []string{"SORRY-1", "SORRY-2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AddCodes(ctx, d2.ID, []string{"PIN-SORRY-1"}); err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Config{Store: st, Config: cfg, Drops: cat, Verifier: v, Campaigns: book,
		CampaignLog: claims.CampaignLog(), Logger: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	adm.Register(mux.Handle)
	mux.Handle("POST /v1/fulfillment/{node}/events", svc.CallbackHandler())
	src := verifier.Source{ID: "cap", Creator: "ava"}
	for _, d := range []string{d1.ID, d2.ID} {
		ev := verifier.Event{Source: src.ID, Channel: verifier.ChannelWebhook, ID: "open-" + d, Type: verifier.TypeDropTrigger,
			Drop: d, Moment: "m-" + d}
		if _, err := v.Ingest(ctx, src, ev); err != nil {
			t.Fatal(err)
		}
	}
	return &campaignEnv{st: st, clock: clock, claims: claims, svc: svc, admin: mux, books: books, drops: cat}
}

func (e *campaignEnv) claim(t *testing.T, at time.Duration, drop, viewer, node string) string {
	t.Helper()
	e.clock.At(at)
	res, err := e.claims.Claim(context.Background(), verifier.ClaimRequest{Code: "open-" + drop, Viewer: viewer, Node: node})
	if err != nil || !res.Created {
		t.Fatalf("claim %s by %s at %s: %v", drop, viewer, node, err)
	}
	return res.Claim.ID
}

func (e *campaignEnv) callback(t *testing.T, at time.Duration, node, id string, cb Callback) CallbackResult {
	t.Helper()
	e.clock.At(at)
	res, err := e.svc.HandleCallback(context.Background(), node, id, cb)
	if err != nil {
		t.Fatalf("%s %s: %v", cb.Type, cb.Claim, err)
	}
	return res
}

// post sends a signed callback of node through the HTTP handler.
func (e *campaignEnv) post(t *testing.T, secret, node, id string, body string) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/fulfillment/"+node+"/events", strings.NewReader(body))
	req.Header = signStandard(secret, id, e.clock.Now(), []byte(body))
	w := httptest.NewRecorder()
	e.admin.ServeHTTP(w, req)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Result(), m
}

func (e *campaignEnv) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+reportToken)
	w := httptest.NewRecorder()
	e.admin.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Result(), b
}

// A campaign with known outcomes gives exactly the expected report, in
// JSON and in CSV; bad sales and bad report requests get their problem
// and change nothing.
func TestCampaignReportSeeded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newCampaignEnv(t, st)
		h := time.Hour
		// Nine claims by seven viewers, books in eu-west and the locker
		// in eu-north. Deadlines: books 4 h, locker 1 h, premium tier 2 h.
		c1 := e.claim(t, 1*h, "winter-1", "v1", "books")
		c2 := e.claim(t, 1*h, "winter-1", "v2", "books")
		c3 := e.claim(t, 2*h, "winter-1", "v3", "locker")
		c4 := e.claim(t, 2*h, "winter-1", "v4", "locker")
		c5 := e.claim(t, 3*h, "winter-1", "v5", "books")
		c6 := e.claim(t, 3*h, "winter-2", "v1", "books")
		c7 := e.claim(t, 4*h, "winter-2", "v6", "books")
		c8 := e.claim(t, 4*h+30*time.Minute, "winter-2", "v7", "locker")
		c9 := e.claim(t, 10*h+59*time.Minute, "winter-1", "v2", "books") // v2's second
		pick := func(at time.Duration, node, c string) {
			e.callback(t, at, node, "pick-"+c, Callback{Type: "claim.picked_up", Claim: c})
		}
		pick(2*h, "books", c1)                 // 1 h: in SLA
		pick(31*h, "books", c2)                // 30 h: past 24 h and SLA
		pick(2*h+10*time.Minute, "locker", c4) // 10 min
		pick(5*h, "books", c5)                 // 2 h
		pick(3*h+20*time.Minute, "books", c6)  // 20 min (premium, 2 h)
		pick(7*h, "books", c7)                 // 3 h: past the premium SLA
		// Three failures, each compensated with a code: 4.50 EUR (winter-1)
		// twice, 3 USD (winter-2) once.
		for _, f := range []struct {
			at       time.Duration
			node, id string
		}{{5 * h, "locker", c3}, {6 * h, "locker", c8}, {12 * h, "books", c9}} {
			if res := e.callback(t, f.at, f.node, "fail-"+f.id, Callback{Type: "claim.failed", Claim: f.id}); res.State != verifier.ClaimCompensated {
				t.Fatalf("failed claim: state %q, want compensated", res.State)
			}
		}
		// 24 sales at books over the two days (baseline 10 a day), 2 at
		// the locker, through the signed callback.
		for i := range 24 {
			e.clock.At(time.Duration(i+1) * h)
			body := fmt.Sprintf(`{"type":"claim.sale","claim_id":%q,"amount":"5.00","currency":"EUR","at":%q}`,
				c1, campaignStart.Add(time.Duration(i*2)*h).Format(time.RFC3339))
			if resp, m := e.post(t, e.books.Secret, "books", fmt.Sprintf("sale-%d", i), body); resp.StatusCode != http.StatusAccepted || m["status"] != "recorded" {
				t.Fatalf("sale %d: %d %v", i, resp.StatusCode, m)
			}
		}
		if resp, m := e.post(t, e.books.Secret, "books", "sale-0",
			fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":5,"currency":"EUR"}`, c1)); resp.StatusCode != http.StatusAccepted || m["status"] != "duplicate" {
			t.Fatalf("repeated sale: %d %v", resp.StatusCode, m)
		}
		for _, amount := range []string{"3.5", "3.50"} {
			e.callback(t, 6*h, "locker", "sale-l-"+amount, Callback{Type: TypeClaimSale, Claim: c4, Amount: amount, Currency: "EUR"})
		}
		// Refused sales: each its own problem, none counted.
		for _, bad := range []struct {
			body, code, field string
			status            int
		}{
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"12.345","currency":"EUR"}`, c1), "invalid_sale", "amount", 422},
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"-1","currency":"EUR"}`, c1), "invalid_sale", "amount", 422},
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":true,"currency":"EUR"}`, c1), "malformed_event", "amount", 400},
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"5.00","currency":"eur"}`, c1), "invalid_sale", "currency", 422},
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"5.00","currency":"EUR","at":"2026-12-08T10:00:00Z"}`, c1), "sale_outside_campaign", "at", 422},
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"5.00","currency":"EUR","at":"yesterday"}`, c1), "invalid_sale", "at", 422},
			{fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"5.00","currency":"EUR"}`, c4), "unknown_claim", "", 404},
		} {
			resp, m := e.post(t, e.books.Secret, "books", "bad-"+bad.code+bad.field, bad.body)
			if resp.StatusCode != bad.status || m["code"] != bad.code || (bad.field != "" && m["field"] != bad.field) {
				t.Errorf("%s: got %d %v, want %d %s (field %q)", bad.body, resp.StatusCode, m, bad.status, bad.code, bad.field)
			}
		}
		if resp, m := e.post(t, newSecret(t), "books", "forged", fmt.Sprintf(`{"type":"claim.sale","claim":%q,"amount":"5","currency":"EUR"}`, c1)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("forged sale: %d %v", resp.StatusCode, m)
		}
		// A value changed after the compensations does not rewrite what
		// they cost.
		d1, _ := e.drops.Drop(context.Background(), "winter-1")
		changed := *d1
		changed.Compensation.Value = config.Money{Amount: "99", Currency: "GBP"}
		e.drops.Put(changed)
		// Claims again in drops of no campaign: v2 on day 5 (within D7),
		// v3 on day 9 (too late). v1's second claim (3 h after its first)
		// counts too.
		log := e.claims.CampaignLog()
		e.clock.At(1*h + 5*24*h)
		if err := log.Returned(context.Background(), "", "v2"); err != nil {
			t.Fatal(err)
		}
		e.clock.At(2*h + 9*24*h)
		if err := log.Returned(context.Background(), "", "v3"); err != nil {
			t.Fatal(err)
		}

		f := func(x float64) *float64 { return &x }
		n := func(x int64) *int64 { return &x }
		money := func(kv ...string) map[string]string {
			m := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		// Claims per hour of the campaign: books (eu-west) at 1 h (2),
		// 3 h (2), 4 h and 10:59; the locker (eu-north) at 2 h (2) and 4:30.
		hourly := func(at map[int]int) []int {
			out := make([]int, 48)
			for i, n := range at {
				out[i] = n
			}
			return out
		}
		starts := make([]string, 48)
		for i := range starts {
			starts[i] = campaignStart.Add(time.Duration(i) * h).Format(time.RFC3339)
		}
		north, west := hourly(map[int]int{2: 2, 4: 1}), hourly(map[int]int{1: 2, 3: 2, 4: 1, 10: 1})
		// The rows of winter-1 and of the standard tier are the same
		// claims (c1-c5, c9), as are winter-2's and premium's (c6-c8),
		// books' and eu-west's, the locker's and eu-north's.
		standard := verifier.ReportRow{Claims: 6, PickedUp: 4, RedemptionRate: f(0.6667), Pickup24hRate: f(0.5),
			TimeToPickupP50: n(3600), TimeToPickupP95: n(108000), SLAHitRate: f(0.5), Failures: 2,
			Compensations: map[string]int{"code": 2}, Compensated: 2, CompensationCost: money("EUR", "9.00"),
			Sales: 26, Revenue: money("EUR", "127.00"), Claimants: 5, SalesPerClaimant: f(5.2),
			RevenuePerClaimant: money("EUR", "25.40"), SalesPerDay: 13}
		premium := verifier.ReportRow{Claims: 3, PickedUp: 2, RedemptionRate: f(0.6667), Pickup24hRate: f(0.6667),
			TimeToPickupP50: n(1200), TimeToPickupP95: n(10800), SLAHitRate: f(0.3333), Failures: 1,
			Compensations: map[string]int{"code": 1}, Compensated: 1, CompensationCost: money("USD", "3.00"),
			Revenue: money(), Claimants: 3, SalesPerClaimant: f(0), RevenuePerClaimant: money()}
		locker := verifier.ReportRow{Claims: 3, PickedUp: 1, RedemptionRate: f(0.3333), Pickup24hRate: f(0.3333),
			TimeToPickupP50: n(600), TimeToPickupP95: n(600), SLAHitRate: f(0.3333), Failures: 2,
			Compensations: map[string]int{"code": 2}, Compensated: 2, CompensationCost: money("EUR", "4.50", "USD", "3.00"),
			Sales: 2, Revenue: money("EUR", "7.00"), Claimants: 3, SalesPerClaimant: f(0.6667),
			RevenuePerClaimant: money("EUR", "2.33"), SalesPerDay: 1}
		books := verifier.ReportRow{Claims: 6, PickedUp: 5, RedemptionRate: f(0.8333), Pickup24hRate: f(0.6667),
			TimeToPickupP50: n(7200), TimeToPickupP95: n(108000), SLAHitRate: f(0.5), Failures: 1,
			Compensations: map[string]int{"code": 1}, Compensated: 1, CompensationCost: money("EUR", "4.50"),
			Sales: 24, Revenue: money("EUR", "120.00"), Claimants: 4, SalesPerClaimant: f(6),
			RevenuePerClaimant: money("EUR", "30.00"), SalesPerDay: 12, BaselineSalesPerDay: f(10), Uplift: f(0.2)}
		keyed := func(r verifier.ReportRow, key string) verifier.ReportRow { r.Key = key; return r }
		want := verifier.CampaignReport{
			Campaign: "winter", Title: "Winter tour", StartsAt: "2026-12-05T00:00:00Z", EndsAt: "2026-12-07T00:00:00Z",
			Days: 2, GeneratedAt: campaignStart.Add(2*h + 9*24*h).Format(time.RFC3339),
			// 6 of 9 picked up; 5 within 24 h; pickups 600, 1200, 3600,
			// 7200, 10800, 108000 s: p50 = rank 3, p95 = rank 6; 4 in SLA
			// (c1, c4, c5, c6). At books, 1200 … 108000 s: p50 = rank 3
			// of 5, 7200. Sales: 24 at books (10 a day: 12 a day
			// is +20 %) and 2 at the locker (no baseline). Compensated:
			// 2 × 4.50 EUR, 1 × 3.00 USD. 26 sales (127 EUR) over 7
			// claimants: 3.7143 sales and 18.14 EUR each.
			Total: verifier.ReportRow{Key: "total", Claims: 9, PickedUp: 6, RedemptionRate: f(0.6667), Pickup24hRate: f(0.5556),
				TimeToPickupP50: n(3600), TimeToPickupP95: n(108000), SLAHitRate: f(0.4444), Failures: 3,
				Compensations: map[string]int{"code": 3}, Compensated: 3, CompensationCost: money("EUR", "9.00", "USD", "3.00"),
				Sales: 26, Revenue: money("EUR", "127.00"), Claimants: 7, SalesPerClaimant: f(3.7143),
				RevenuePerClaimant: money("EUR", "18.14"), SalesPerDay: 13, BaselineSalesPerDay: f(10), Uplift: f(0.2)},
			Drops:   []verifier.ReportRow{keyed(standard, "winter-1"), keyed(premium, "winter-2")},
			Regions: []verifier.ReportRow{keyed(locker, "eu-north"), keyed(books, "eu-west")},
			Nodes:   []verifier.ReportRow{keyed(books, "books"), keyed(locker, "locker")},
			Tiers:   []verifier.ReportRow{keyed(premium, "premium"), keyed(standard, "standard")},
			// 7 claimants; v1 (3 h on) and v2 (10 h on, and day 5)
			// claimed again within 7 days, v3 (day 9) too late.
			Retention: verifier.Retention{Claimants: 7, ReturnedD7: 2, D7Rate: f(0.2857),
				Note: "no baseline cohort is recorded for this campaign"},
			ClaimsOverTime: verifier.ClaimsOverTime{BucketSeconds: 3600, Starts: starts,
				Regions: []verifier.RegionSeries{{Key: "eu-north", Claims: north}, {Key: "eu-west", Claims: west}}},
		}

		resp, body := e.get(t, "/v1/admin/campaigns/winter/report")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("report: %d %s", resp.StatusCode, body)
		}
		var got verifier.CampaignReport
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		reportDocumented(t, body)
		wj, _ := json.MarshalIndent(want, "", " ")
		gj, _ := json.MarshalIndent(got, "", " ")
		if !bytes.Equal(wj, gj) {
			t.Errorf("report:\n got %s\nwant %s", gj, wj)
		}

		for _, path := range []string{"/v1/admin/campaigns/winter/report?format=csv", "/v1/admin/campaigns/winter/report.csv"} {
			resp, body := e.get(t, path)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("%s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			wantRows := [][]string{
				verifier.CSVHeader,
				{"campaign", "total", "9", "6", "0.6667", "0.5556", "3600", "108000", "0.4444", "3", "code:3", "26", "EUR 127.00", "13", "10", "0.2", "7", "2", "0.2857", "", "3", "EUR 9.00 USD 3.00", "3.7143", "EUR 18.14", "", ""},
				{"drop", "winter-1", "6", "4", "0.6667", "0.5", "3600", "108000", "0.5", "2", "code:2", "26", "EUR 127.00", "13", "", "", "5", "", "", "", "2", "EUR 9.00", "5.2", "EUR 25.40", "", ""},
				{"drop", "winter-2", "3", "2", "0.6667", "0.6667", "1200", "10800", "0.3333", "1", "code:1", "0", "", "0", "", "", "3", "", "", "", "1", "USD 3.00", "0", "", "", ""},
				{"region", "eu-north", "3", "1", "0.3333", "0.3333", "600", "600", "0.3333", "2", "code:2", "2", "EUR 7.00", "1", "", "", "3", "", "", "", "2", "EUR 4.50 USD 3.00", "0.6667", "EUR 2.33", "", ""},
				{"region", "eu-west", "6", "5", "0.8333", "0.6667", "7200", "108000", "0.5", "1", "code:1", "24", "EUR 120.00", "12", "10", "0.2", "4", "", "", "", "1", "EUR 4.50", "6", "EUR 30.00", "", ""},
				{"node", "books", "6", "5", "0.8333", "0.6667", "7200", "108000", "0.5", "1", "code:1", "24", "EUR 120.00", "12", "10", "0.2", "4", "", "", "", "1", "EUR 4.50", "6", "EUR 30.00", "", ""},
				{"node", "locker", "3", "1", "0.3333", "0.3333", "600", "600", "0.3333", "2", "code:2", "2", "EUR 7.00", "1", "", "", "3", "", "", "", "2", "EUR 4.50 USD 3.00", "0.6667", "EUR 2.33", "", ""},
				{"tier", "premium", "3", "2", "0.6667", "0.6667", "1200", "10800", "0.3333", "1", "code:1", "0", "", "0", "", "", "3", "", "", "", "1", "USD 3.00", "0", "", "", ""},
				{"tier", "standard", "6", "4", "0.6667", "0.5", "3600", "108000", "0.5", "2", "code:2", "26", "EUR 127.00", "13", "", "", "5", "", "", "", "2", "EUR 9.00", "5.2", "EUR 25.40", "", ""},
			}
			// Then a row per region and hour: its claims, the hour's start
			// and the bucket's length.
			for _, r := range []struct {
				key    string
				claims []int
			}{{"eu-north", north}, {"eu-west", west}} {
				for i, c := range r.claims {
					row := make([]string, len(verifier.CSVHeader))
					row[0], row[1], row[2], row[24], row[25] = "claims_over_time", r.key, strconv.Itoa(c), starts[i], "3600"
					wantRows = append(wantRows, row)
				}
			}
			if fmt.Sprint(rows) != fmt.Sprint(wantRows) {
				t.Errorf("%s:\n got %q\nwant %q", path, rows, wantRows)
			}
		}

		// Bad report requests: their own problems.
		for _, bad := range []struct {
			path, code string
			status     int
		}{
			{"/v1/admin/campaigns/nope/report", "unknown_campaign", 404},
			{"/v1/admin/campaigns/nope/report.csv", "unknown_campaign", 404},
			{"/v1/admin/campaigns/winter/report?format=xml", "bad_format", 400},
			{"/v1/admin/campaigns/winter/report.csv?format=json", "bad_format", 400},
		} {
			resp, body := e.get(t, bad.path)
			var p map[string]any
			_ = json.Unmarshal(body, &p)
			if resp.StatusCode != bad.status || p["code"] != bad.code || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s %s, want %d %s", bad.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, bad.status, bad.code)
			}
		}
		// The refused sales changed nothing: the report is the same.
		_, again := e.get(t, "/v1/admin/campaigns/winter/report")
		var got2 verifier.CampaignReport
		_ = json.Unmarshal(again, &got2)
		if g2, _ := json.MarshalIndent(got2, "", " "); !bytes.Equal(g2, gj) {
			t.Errorf("report changed on reading again:\n%s", g2)
		}
	})
}

// reportDocumented fails when the report body does not validate against
// the OpenAPI document's CampaignReport, or has a member it does not
// declare.
func reportDocumented(t *testing.T, body []byte) {
	t.Helper()
	doc := openAPIDoc(t)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("https://dropwire.invalid/openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://dropwire.invalid/openapi.json#/components/schemas/CampaignReport")
	if err != nil {
		t.Fatal(err)
	}
	v := schemaJSON(t, body)
	if err := sch.Validate(v); err != nil {
		t.Errorf("report does not match the OpenAPI document: %v", err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	props := func(name string) map[string]any { return schemas[name].(map[string]any)["properties"].(map[string]any) }
	for k := range v {
		if _, ok := props("CampaignReport")[k]; !ok {
			t.Errorf("report member %q is not in CampaignReport", k)
		}
	}
	for k := range v["total"].(map[string]any) {
		if _, ok := props("ReportRow")[k]; !ok {
			t.Errorf("report row member %q is not in ReportRow", k)
		}
	}
}
