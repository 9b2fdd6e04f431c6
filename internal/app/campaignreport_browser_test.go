package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// The dashboard's campaign view shows a campaign's report: the summary
// figures (compensation cost, sales per claimant), a table per region and
// node, the regions' rates and a claims-over-time chart per region. The
// campaign's log is written here as the claims, fulfillment and sale
// paths write it (those are tested in fulfillment/); this test is about
// what the dashboard makes of it.
func TestDashboardCampaignReport(t *testing.T) {
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	north := cfg.Nodes[0]
	north.ID, north.Name, north.Region, north.URL = "north-shop", "North shop", "north", "http://127.0.0.1:9/"
	cfg.Nodes[0].BaselineSalesPerDay = 10
	cfg.Nodes = append(cfg.Nodes, north)
	start := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	cfg.Campaigns = []config.Campaign{{ID: "spring-tour", Creator: config.DemoCreator, Title: "Spring tour",
		StartsAt: start.Format(time.RFC3339), EndsAt: start.Add(48 * time.Hour).Format(time.RFC3339),
		Drops: []string{config.DemoDrop}, Regions: []config.Region{{ID: "local", Timezone: "UTC"}, {ID: "north", Timezone: "UTC"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st := storetest.Memory(t)
	_, srv := adminApp(t, cfg, st)
	seedCampaignLog(t, st, "spring-tour", start)

	ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{Width: 1280, Height: 1400}), 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), cfg.AdminToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`#campaign-list button[data-campaign="spring-tour"]`)),
		chromedp.Click(chromedp.CSS(`#campaign-list button[data-campaign="spring-tour"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#campaign-summary`)),
	); err != nil {
		t.Fatal(err)
	}
	text := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	// 5 claims, 3 picked up (2 within 24 h); 4 claimants, 1 back after 7
	// days; one claim compensated with a 2.50 EUR code; 24 sales.
	if got, want := text(`document.getElementById('campaign-summary').textContent`),
		"5 claims · 60 % redeemed · 40 % picked up within 24 h · D7 retention 25 % (1 of 4 claimants; no baseline)"; got != want {
		t.Errorf("summary: %q, want %q", got, want)
	}
	if got, want := text(`document.getElementById('campaign-costs').textContent`),
		"1 compensated, costing 2.50 EUR · 6 sales and 30.00 EUR per claimant (4 claimants)"; got != want {
		t.Errorf("costs: %q, want %q", got, want)
	}
	row := func(table int, key string) string {
		return text(fmt.Sprintf(`Array.from(document.querySelectorAll('#campaign-view table.report')[%d].querySelector('tr[data-key=%q]').children).map(function (c) { return c.textContent; }).join('|')`, table, key))
	}
	for _, c := range []struct {
		table     int
		key, want string
	}{
		// Claims, redeemed, ≤ 24 h, p50, p95, in SLA, failures,
		// compensated, their cost, claimants, sales, per claimant,
		// revenue, per claimant, uplift.
		{0, "total", "total|5|60 %|40 %|2 h|30 h|40 %|1|1|2.50 EUR|4|24|6|120.00 EUR|30.00 EUR|+20 %"},
		{0, "local", "local|3|66.7 %|66.7 %|1 h|2 h|66.7 %|1|1|2.50 EUR|3|24|8|120.00 EUR|40.00 EUR|+20 %"},
		{0, "north", "north|2|50 %|0 %|30 h|30 h|0 %|0|0|–|2|0|0|–|–|–"},
		{1, "north-shop", "north-shop|2|50 %|0 %|30 h|30 h|0 %|0|0|–|2|0|0|–|–|–"},
	} {
		if got := row(c.table, c.key); got != c.want {
			t.Errorf("row %s: %q, want %q", c.key, got, c.want)
		}
	}
	// The chart: two bars a region, as long as the rates.
	var bars []struct {
		Region, Class string
		Width         float64
	}
	js := text(`JSON.stringify(Array.from(document.querySelectorAll('svg.region-chart rect.bar')).map(function (r) {
		return {Region: r.getAttribute('data-region'), Class: r.getAttribute('class'), Width: r.getBBox().width}; }))`)
	if err := json.Unmarshal([]byte(js), &bars); err != nil {
		t.Fatal(err)
	}
	width := map[string]float64{}
	for _, b := range bars {
		width[b.Region+" "+b.Class] = b.Width
	}
	if len(bars) != 4 {
		t.Fatalf("chart bars: %+v", bars)
	}
	full := width["local bar redeemed"] / (2.0 / 3)
	for k, rate := range map[string]float64{"local bar redeemed": 2.0 / 3, "local bar within24": 2.0 / 3,
		"north bar redeemed": 0.5, "north bar within24": 0} {
		if want := max(rate*full, 1); width[k] < want-1 || width[k] > want+1 {
			t.Errorf("bar %s is %.1f wide, want %.1f", k, width[k], want)
		}
	}
	labels := text(`Array.from(document.querySelectorAll('svg.region-chart text.value')).map(function (e) { return e.textContent; }).join(',')`)
	if labels != "66.7 %,66.7 %,50 %,0 %" {
		t.Errorf("chart labels: %q", labels)
	}
	checkClaimsCharts(t, text, srv.URL, cfg.AdminToken)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('campaigns-section').scrollIntoView(), true`)); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "dashboard-campaign.png")
	if os.Getenv("DROPWIRE_DOCS") == "1" {
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "dashboard-campaign.png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkClaimsCharts checks the claims-over-time charts: one per region of
// the report, a bar per bucket, each as tall as its claims on one scale
// for all regions, standing on one baseline, with the report's bucket
// start.
func checkClaimsCharts(t *testing.T, text func(string) string, base, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/admin/campaigns/spring-tour/report", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rep verifier.CampaignReport
	err = json.NewDecoder(res.Body).Decode(&rep)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The seed: local claims at 1 h (2) and 2 h, north at 2 h and 20 h, in
	// the hourly buckets of a two-day campaign.
	series := rep.ClaimsOverTime
	local, north := make([]int, 48), make([]int, 48)
	local[1], local[2], north[2], north[20] = 2, 1, 1, 1
	if series.BucketSeconds != 3600 || len(series.Starts) != 48 ||
		fmt.Sprint(series.Regions) != fmt.Sprint([]verifier.RegionSeries{{Key: "local", Claims: local}, {Key: "north", Claims: north}}) {
		t.Fatalf("report's claims over time: %+v", series)
	}
	var charts []struct {
		Region string
		Bars   []struct {
			Start         string
			Claims        string
			Y, Height     float64
			Width, Bottom float64
		}
	}
	js := text(`JSON.stringify(Array.from(document.querySelectorAll('#claims-over-time svg.claims-chart')).map(function (s) {
		return {Region: s.getAttribute('data-region'), Bars: Array.from(s.querySelectorAll('rect.bucket')).map(function (r) {
			var y = parseFloat(r.getAttribute('y')), h = parseFloat(r.getAttribute('height'));
			return {Start: r.getAttribute('data-start'), Claims: r.getAttribute('data-claims'), Y: y, Height: h,
				Width: parseFloat(r.getAttribute('width')), Bottom: y + h}; })}; }))`)
	if err := json.Unmarshal([]byte(js), &charts); err != nil {
		t.Fatal(err)
	}
	if len(charts) != len(series.Regions) {
		t.Fatalf("%d claims charts, want one per region (%d)", len(charts), len(series.Regions))
	}
	unit := 0.0 // height of one claim, from the first bar with any
	for i, c := range charts {
		want := series.Regions[i]
		if c.Region != want.Key || len(c.Bars) != len(want.Claims) {
			t.Errorf("chart %d: region %q with %d bars, want %q with %d", i, c.Region, len(c.Bars), want.Key, len(want.Claims))
			continue
		}
		for j, b := range c.Bars {
			n := want.Claims[j]
			if unit == 0 && n > 0 {
				unit = b.Height / float64(n)
			}
			if b.Start != series.Starts[j] || b.Claims != strconv.Itoa(n) || b.Width <= 0 ||
				math.Abs(b.Height-float64(n)*unit) > 0.01 || math.Abs(b.Bottom-c.Bars[0].Bottom) > 0.01 {
				t.Errorf("%s bar %d: %+v, want %s, %d claims (%.1f per claim)", c.Region, j, b, series.Starts[j], n, unit)
			}
		}
	}
	if unit < 20 {
		t.Errorf("a claim is %.1f high: the bars are not drawn to be seen", unit)
	}
}

// seedCampaignLog writes a campaign's log: 3 claims at the demo locker
// (picked up after 1 h and 2 h, one failed and compensated with a code
// worth 2.50 EUR), 2 at the north shop (one picked up after 30 h, one
// made at 20 h), 24 sales at the locker, and 4 claimants of whom one
// claimed again within 7 days.
func seedCampaignLog(t *testing.T, st store.Store, campaign string, start time.Time) {
	t.Helper()
	ctx := context.Background()
	ms := func(d time.Duration) int64 { return start.Add(d).UnixMilli() }
	h := time.Hour
	claims := map[string]verifier.CampaignClaim{
		"c1": {Drop: config.DemoDrop, Node: config.DemoNode, Viewer: "va", Created: ms(h), PickupBy: ms(5 * h), PickedUp: ms(2 * h)},
		"c2": {Drop: config.DemoDrop, Node: config.DemoNode, Viewer: "vb", Created: ms(h), PickupBy: ms(5 * h), PickedUp: ms(3 * h)},
		"c3": {Drop: config.DemoDrop, Node: config.DemoNode, Viewer: "vc", Created: ms(2 * h), PickupBy: ms(6 * h), Failed: ms(6 * h),
			Compensation: "code", Compensated: ms(6 * h), CostMinor: 250, CostCurrency: "EUR"},
		"c4": {Drop: config.DemoDrop, Node: "north-shop", Viewer: "vb", Created: ms(2 * h), PickupBy: ms(6 * h), PickedUp: ms(32 * h)},
		"c5": {Drop: config.DemoDrop, Node: "north-shop", Viewer: "vd", Created: ms(20*h + 15*time.Minute), PickupBy: ms(24*h + 15*time.Minute)},
	}
	fields := map[string]string{}
	for id, c := range claims {
		b, _ := json.Marshal(c)
		fields[id] = string(b)
	}
	sales := map[string]string{}
	for i := range 24 {
		b, _ := json.Marshal(verifier.CampaignSale{Node: config.DemoNode, Claim: "c1", Drop: config.DemoDrop, Minor: 500,
			Currency: "EUR", At: ms(time.Duration(i) * h)})
		sales["s"+strconv.Itoa(i)] = string(b)
	}
	viewers := map[string]string{"va": strconv.FormatInt(ms(h), 10), "vb": strconv.FormatInt(ms(h), 10),
		"vc": strconv.FormatInt(ms(2*h), 10), "vd": strconv.FormatInt(ms(20*h+15*time.Minute), 10)}
	for key, f := range map[string]map[string]string{"claims": fields, "sales": sales, "viewers": viewers,
		"returned": {"vb": strconv.FormatInt(ms(h+5*24*h), 10)}} {
		if err := st.HSet(ctx, verifier.CampaignKey(campaign, key), f); err != nil {
			t.Fatal(err)
		}
	}
}
