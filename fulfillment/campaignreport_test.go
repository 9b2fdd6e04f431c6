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

// campaignEnv is a two-day campaign of two drops at two nodes, run by the
// real claims, fulfillment service and admin API over one store and one
// injected clock.
type campaignEnv struct {
	st     store.Store
	clock  *reportClock
	claims *verifier.Claims
	svc    *Service
	admin  http.Handler
	books  config.Node
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
		Compensation: config.Compensation{Kind: config.CompensationCode},
		Stock: []config.StockLine{{Node: "books", SKU: "pack", Tier: "standard", Qty: 10},
			{Node: "locker", SKU: "pack", Tier: "standard", Qty: 10}}}
	d2 := config.Drop{ID: "winter-2", Creator: "ava", Title: "Winter pins", Window: config.Duration(12 * time.Hour),
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
	return &campaignEnv{st: st, clock: clock, claims: claims, svc: svc, admin: mux, books: books}
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
		// Eight claims. Deadlines: books 4 h, locker 1 h, premium tier 2 h.
		c1 := e.claim(t, 1*h, "winter-1", "v1", "books")
		c2 := e.claim(t, 1*h, "winter-1", "v2", "books")
		c3 := e.claim(t, 2*h, "winter-1", "v3", "locker")
		c4 := e.claim(t, 2*h, "winter-1", "v4", "locker")
		c5 := e.claim(t, 3*h, "winter-1", "v5", "books")
		c6 := e.claim(t, 3*h, "winter-2", "v1", "books")
		c7 := e.claim(t, 4*h, "winter-2", "v6", "books")
		_ = e.claim(t, 4*h, "winter-2", "v7", "locker") // never picked up
		pick := func(at time.Duration, node, c string) {
			e.callback(t, at, node, "pick-"+c, Callback{Type: "claim.picked_up", Claim: c})
		}
		pick(2*h, "books", c1)                 // 1 h: in SLA
		pick(31*h, "books", c2)                // 30 h: past 24 h and SLA
		pick(2*h+10*time.Minute, "locker", c4) // 10 min
		pick(5*h, "books", c5)                 // 2 h
		pick(3*h+20*time.Minute, "books", c6)  // 20 min (premium, 2 h)
		pick(7*h, "books", c7)                 // 3 h: past the premium SLA
		if res := e.callback(t, 5*h, "locker", "fail-"+c3, Callback{Type: "claim.failed", Claim: c3}); res.State != verifier.ClaimCompensated {
			t.Fatalf("failed claim: state %q, want compensated", res.State)
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
		want := verifier.CampaignReport{
			Campaign: "winter", Title: "Winter tour", StartsAt: "2026-12-05T00:00:00Z", EndsAt: "2026-12-07T00:00:00Z",
			Days: 2, GeneratedAt: campaignStart.Add(2*h + 9*24*h).Format(time.RFC3339),
			// 6 of 8 picked up; 5 within 24 h; pickups 600, 1200, 3600,
			// 7200, 10800, 108000 s: p50 = rank 3, p95 = rank 6; 4 in SLA
			// (c1, c4, c5, c6). At books, 1200 … 108000 s: p50 = rank 3
			// of 5, 7200. Sales: 24 at books (10 a day: 12 a day
			// is +20 %) and 2 at the locker (no baseline).
			Total: verifier.ReportRow{Key: "total", Claims: 8, PickedUp: 6, RedemptionRate: f(0.75), Pickup24hRate: f(0.625),
				TimeToPickupP50: n(3600), TimeToPickupP95: n(108000), SLAHitRate: f(0.5), Failures: 1,
				Compensations: map[string]int{"code": 1}, Sales: 26, Revenue: map[string]string{"EUR": "127.00"},
				SalesPerDay: 13, BaselineSalesPerDay: f(10), Uplift: f(0.2)},
			Drops: []verifier.ReportRow{
				{Key: "winter-1", Claims: 5, PickedUp: 4, RedemptionRate: f(0.8), Pickup24hRate: f(0.6),
					TimeToPickupP50: n(3600), TimeToPickupP95: n(108000), SLAHitRate: f(0.6), Failures: 1,
					Compensations: map[string]int{"code": 1}, Sales: 26, Revenue: map[string]string{"EUR": "127.00"},
					SalesPerDay: 13},
				{Key: "winter-2", Claims: 3, PickedUp: 2, RedemptionRate: f(0.6667), Pickup24hRate: f(0.6667),
					TimeToPickupP50: n(1200), TimeToPickupP95: n(10800), SLAHitRate: f(0.3333),
					Compensations: map[string]int{}, Revenue: map[string]string{}},
			},
			Regions: []verifier.ReportRow{
				{Key: "eu-north", Claims: 3, PickedUp: 1, RedemptionRate: f(0.3333), Pickup24hRate: f(0.3333),
					TimeToPickupP50: n(600), TimeToPickupP95: n(600), SLAHitRate: f(0.3333), Failures: 1,
					Compensations: map[string]int{"code": 1}, Sales: 2, Revenue: map[string]string{"EUR": "7.00"}, SalesPerDay: 1},
				{Key: "eu-west", Claims: 5, PickedUp: 5, RedemptionRate: f(1), Pickup24hRate: f(0.8),
					TimeToPickupP50: n(7200), TimeToPickupP95: n(108000), SLAHitRate: f(0.6),
					Compensations: map[string]int{}, Sales: 24, Revenue: map[string]string{"EUR": "120.00"}, SalesPerDay: 12,
					BaselineSalesPerDay: f(10), Uplift: f(0.2)},
			},
			Nodes: []verifier.ReportRow{
				{Key: "books", Claims: 5, PickedUp: 5, RedemptionRate: f(1), Pickup24hRate: f(0.8),
					TimeToPickupP50: n(7200), TimeToPickupP95: n(108000), SLAHitRate: f(0.6),
					Compensations: map[string]int{}, Sales: 24, Revenue: map[string]string{"EUR": "120.00"}, SalesPerDay: 12,
					BaselineSalesPerDay: f(10), Uplift: f(0.2)},
				{Key: "locker", Claims: 3, PickedUp: 1, RedemptionRate: f(0.3333), Pickup24hRate: f(0.3333),
					TimeToPickupP50: n(600), TimeToPickupP95: n(600), SLAHitRate: f(0.3333), Failures: 1,
					Compensations: map[string]int{"code": 1}, Sales: 2, Revenue: map[string]string{"EUR": "7.00"}, SalesPerDay: 1},
			},
			Tiers: []verifier.ReportRow{
				{Key: "premium", Claims: 3, PickedUp: 2, RedemptionRate: f(0.6667), Pickup24hRate: f(0.6667),
					TimeToPickupP50: n(1200), TimeToPickupP95: n(10800), SLAHitRate: f(0.3333),
					Compensations: map[string]int{}, Revenue: map[string]string{}},
				{Key: "standard", Claims: 5, PickedUp: 4, RedemptionRate: f(0.8), Pickup24hRate: f(0.6),
					TimeToPickupP50: n(3600), TimeToPickupP95: n(108000), SLAHitRate: f(0.6), Failures: 1,
					Compensations: map[string]int{"code": 1}, Sales: 26, Revenue: map[string]string{"EUR": "127.00"},
					SalesPerDay: 13},
			},
			// 7 claimants; v1 (3 h on) and v2 (day 5) claimed again
			// within 7 days, v3 (day 9) too late.
			Retention: verifier.Retention{Claimants: 7, ReturnedD7: 2, D7Rate: f(0.2857),
				Note: "no baseline cohort is recorded for this campaign"},
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
				{"campaign", "total", "8", "6", "0.75", "0.625", "3600", "108000", "0.5", "1", "code:1", "26", "EUR 127.00", "13", "10", "0.2", "7", "2", "0.2857", ""},
				{"drop", "winter-1", "5", "4", "0.8", "0.6", "3600", "108000", "0.6", "1", "code:1", "26", "EUR 127.00", "13", "", "", "", "", "", ""},
				{"drop", "winter-2", "3", "2", "0.6667", "0.6667", "1200", "10800", "0.3333", "0", "", "0", "", "0", "", "", "", "", "", ""},
				{"region", "eu-north", "3", "1", "0.3333", "0.3333", "600", "600", "0.3333", "1", "code:1", "2", "EUR 7.00", "1", "", "", "", "", "", ""},
				{"region", "eu-west", "5", "5", "1", "0.8", "7200", "108000", "0.6", "0", "", "24", "EUR 120.00", "12", "10", "0.2", "", "", "", ""},
				{"node", "books", "5", "5", "1", "0.8", "7200", "108000", "0.6", "0", "", "24", "EUR 120.00", "12", "10", "0.2", "", "", "", ""},
				{"node", "locker", "3", "1", "0.3333", "0.3333", "600", "600", "0.3333", "1", "code:1", "2", "EUR 7.00", "1", "", "", "", "", "", ""},
				{"tier", "premium", "3", "2", "0.6667", "0.6667", "1200", "10800", "0.3333", "0", "", "0", "", "0", "", "", "", "", "", ""},
				{"tier", "standard", "5", "4", "0.8", "0.6", "3600", "108000", "0.6", "1", "code:1", "26", "EUR 127.00", "13", "", "", "", "", "", ""},
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
