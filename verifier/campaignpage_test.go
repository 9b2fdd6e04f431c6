package verifier_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-ical"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/schedule"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

func instant(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func announcedDrop(id string, nodes ...string) config.Drop {
	d := config.Drop{ID: id, Creator: "ava", Title: id, Window: config.Duration(72 * time.Hour), PerViewer: 1,
		Identity: config.IdentityDevice, Compensation: config.Compensation{Kind: config.CompensationNone}}
	for _, n := range nodes {
		d.Stock = append(d.Stock, config.StockLine{Node: n, SKU: "pack", Tier: "standard", Qty: 5})
	}
	return d
}

const rewardImage = "/i/0123456789abcdef0123456789abcdef.png"

// announced is a campaign server: a winter campaign (eu claims 18:00–20:00
// Berlin and us claims 18:00–20:00 New York on 5 December 2026, jp
// whenever it runs), an autumn one whose Berlin windows straddle the end
// of summer time, and the static files the page loads.
func announced(t *testing.T) *httptest.Server {
	t.Helper()
	gift := announcedDrop("gift", "berlin", "popup", "newyork", "tokyo")
	gift.Title, gift.Description, gift.Image = "Winter sticker pack", "Five die-cut stickers, 7 cm each.", rewardImage
	gift.QRRotate, gift.ScanGrace = config.Duration(20*time.Second), config.Duration(40*time.Second)
	gift.Compensation.Kind = config.CompensationCode
	gift.Stock[0].Tier = "premium"
	leaf := announcedDrop("leaf", "berlin")
	winter := config.Campaign{ID: "winter", Creator: "ava", Title: "Winter run",
		StartsAt: "2026-12-05T00:00:00+01:00", EndsAt: "2026-12-08T00:00:00+01:00", Drops: []string{"gift"},
		Regions: []config.Region{
			{ID: "eu", Timezone: "Europe/Berlin", Windows: []string{"2026-12-05T18:00/2026-12-05T20:00"}},
			{ID: "us", Timezone: "America/New_York", Windows: []string{"2026-12-05T18:00/2026-12-05T20:00"}},
			{ID: "jp", Timezone: "Asia/Tokyo"},
		}}
	autumn := config.Campaign{ID: "autumn", Creator: "ava", Title: "Autumn, ends of summer time",
		StartsAt: "2026-10-24T00:00:00Z", EndsAt: "2026-10-27T00:00:00Z", Drops: []string{"leaf"},
		Regions: []config.Region{{ID: "eu", Timezone: "Europe/Berlin",
			Windows: []string{"2026-10-25T18:00/2026-10-25T20:00", "2026-10-24T18:00/2026-10-24T20:00", "2026-10-25T01:30/2026-10-25T03:30"}}}}
	nodes := map[string]*config.Node{
		"berlin":  {ID: "berlin", Region: "eu", Timezone: "Europe/Berlin", Open: []string{"Mon-Fri 09:00-18:00"}, PickupSLA: config.Duration(2 * time.Hour)},
		"newyork": {ID: "newyork", Region: "us", PickupSLA: config.Duration(2 * time.Hour)},
		"popup":   {ID: "popup", Region: "eu", Timezone: "Europe/Berlin", Open: []string{"2026-12-05T19:00/2026-12-05T19:30"}},
		"tokyo":   {ID: "tokyo", Region: "jp"},
	}
	nodes["berlin"].Name, nodes["berlin"].Address, nodes["berlin"].Hours = "Corner Books", "12 High St, Berlin", "Mon–Fri 9–18"
	nodes["popup"].Name, nodes["popup"].Address = "Market stand", "Alexanderplatz"
	tiers := map[string]*config.Tier{"premium": {ID: "premium", PickupSLA: config.Duration(24 * time.Hour), MaxReadyPerHour: 10}}
	page, _ := fs.ReadFile(web.FS, "campaign.html")
	pages, err := verifier.NewCampaignPages(verifier.CampaignPagesConfig{
		Campaigns: verifier.NewCampaignBook([]config.Campaign{winter, autumn}),
		Drops:     verifier.NewCatalog([]config.Drop{gift, leaf}),
		Nodes:     func(id string) (*config.Node, bool) { n, ok := nodes[id]; return n, ok },
		Tiers:     func(id string) (*config.Tier, bool) { tr, ok := tiers[id]; return tr, ok },
		Page:      page, Asset: web.AssetURL, PublicURL: "https://drops.example.com",
		Now:    func() time.Time { return instant(t, "2026-12-01T12:00:00Z") },
		Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web.FS)))
	mux.HandleFunc("GET "+rewardImage, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(rewardPNG(t))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The page says, server-rendered, everything a viewer needs before the
// stream: the drops, each region's windows in the region's time zone, the
// pickup points, the pickup time per tier, what claiming asks, how long a
// code works and what a failed pickup brings.
func TestCampaignPage(t *testing.T) {
	srv := announced(t)
	res, body := fetch(t, srv.URL+"/a/winter")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{
		"Winter run", "Coming up", "Winter sticker pack", "Five die-cut stickers, 7 cm each.", `src="` + rewardImage + `"`,
		"No sign-up: the phone you claim with is your ticket.", "each one works for 1 min after it appears", "claims close 3 days after the drop opens",
		"If the pickup fails or is refused, you get a replacement code on your receipt.",
		"Sat 5 Dec 2026, 18:00–20:00 CET", "Sat 5 Dec 2026, 18:00–20:00 EST", "Europe/Berlin", "America/New_York",
		// jp has no windows: open the whole campaign, in Tokyo time.
		"Sat 5 Dec 2026, 08:00 – Tue 8 Dec 2026, 08:00 JST",
		`href="/a/winter/eu.ics"`, `href="/a/winter/us.ics"`,
		"Corner Books", "12 High St, Berlin", "Open Mon–Fri 9–18", "Mon-Fri 09:00-18:00 (Europe/Berlin)", "Pick up within 2 h of opening hours",
		"Market stand", "pop-up",
		"premium</span>: pick up within 24 h of opening hours (up to 10 prepared per hour at each point)",
		"standard</span>: pick up as each pickup point says below",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
	if res, _ := fetch(t, srv.URL+"/a/nope"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown campaign: %d", res.StatusCode)
	}
	for _, p := range []string{"/a/winter/mars.ics", "/a/winter/eu.txt", "/a/nope/eu.ics"} {
		if res, _ := fetch(t, srv.URL+p); res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

// A region's calendar, read by a real iCalendar parser: one event per
// window at the right UTC instants, on both sides of the end of summer
// time in Berlin (25 October 2026) and across it.
func TestCampaignCalendar(t *testing.T) {
	srv := announced(t)
	res, body := fetch(t, srv.URL+"/a/autumn/eu.ics")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/calendar; charset=utf-8" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="autumn-eu.ics"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	checkContentLines(t, body)
	cal, err := ical.NewDecoder(strings.NewReader(body)).Decode()
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	events := cal.Events()
	want := [][2]string{
		{"2026-10-24T16:00:00Z", "2026-10-24T18:00:00Z"}, // CEST, UTC+2
		{"2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z"}, // 01:30 CEST to 03:30 CET: three hours
		{"2026-10-25T17:00:00Z", "2026-10-25T19:00:00Z"}, // CET, UTC+1
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d", len(events), len(want))
	}
	uids := map[string]bool{}
	for i, ev := range events {
		start, err1 := ev.DateTimeStart(time.UTC)
		end, err2 := ev.DateTimeEnd(time.UTC)
		if err1 != nil || err2 != nil {
			t.Fatalf("event %d: %v %v", i, err1, err2)
		}
		if !start.Equal(instant(t, want[i][0])) || !end.Equal(instant(t, want[i][1])) {
			t.Errorf("event %d: %s–%s, want %s–%s", i, start.UTC(), end.UTC(), want[i][0], want[i][1])
		}
		if v := ev.Props.Get(ical.PropDateTimeStart).Value; !strings.HasSuffix(v, "Z") {
			t.Errorf("DTSTART %q is not UTC", v)
		}
		uid := ev.Props.Get(ical.PropUID).Value
		if uid == "" || uids[uid] || !strings.HasSuffix(uid, "@drops.example.com") {
			t.Errorf("UID %q", uid)
		}
		uids[uid] = true
		if st, err := ev.Props.DateTime(ical.PropDateTimeStamp, time.UTC); err != nil || !st.Equal(instant(t, "2026-12-01T12:00:00Z")) {
			t.Errorf("DTSTAMP %v %v", st, err)
		}
		if s, _ := ev.Props.Text(ical.PropSummary); s != "Autumn, ends of summer time: claims open (eu)" {
			t.Errorf("SUMMARY %q", s)
		}
		if u := ev.Props.Get(ical.PropURL).Value; u != "https://drops.example.com/a/autumn" {
			t.Errorf("URL %q", u)
		}
	}
	// A region without windows: one event, the whole campaign.
	_, body = fetch(t, srv.URL+"/a/winter/jp.ics")
	cal, err = ical.NewDecoder(strings.NewReader(body)).Decode()
	if err != nil || len(cal.Events()) != 1 {
		t.Fatalf("jp: %v %d", err, len(cal.Events()))
	}
	if s, _ := cal.Events()[0].DateTimeStart(time.UTC); !s.Equal(instant(t, "2026-12-04T23:00:00Z")) {
		t.Errorf("jp starts %s", s)
	}
}

// checkContentLines checks RFC 5545's framing: CRLF only, no line over 75
// octets, continuations starting with a space and never splitting a UTF-8
// character.
func checkContentLines(t *testing.T, body string) {
	t.Helper()
	if !strings.HasSuffix(body, "\r\n") || strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\r") {
		t.Errorf("not CRLF-terminated lines")
	}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Errorf("a fold split a character: %q", l)
		}
	}
}

// Text values are escaped and long lines folded, and a parser reads them
// back as written.
func TestCalendarEscapingAndFolding(t *testing.T) {
	summary := "Wintér drop; stickers, pins \\ more: " + strings.Repeat("ü", 60)
	desc := "Line one\nLine two, with a comma; and a semicolon"
	c := verifier.Calendar{Name: "n", Summary: summary, Description: desc, URL: "https://x.example/a/c", UIDDomain: "x.example", UIDPrefix: "c-r",
		Windows: []schedule.Window{{Start: instant(t, "2026-12-05T17:00:00Z"), End: instant(t, "2026-12-05T19:00:00Z")}},
		Stamp:   instant(t, "2026-12-01T00:00:00Z")}
	b := c.Bytes()
	checkContentLines(t, string(b))
	cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	ev := cal.Events()[0]
	if s, _ := ev.Props.Text(ical.PropSummary); s != summary {
		t.Errorf("SUMMARY %q", s)
	}
	if s, _ := ev.Props.Text(ical.PropDescription); s != desc {
		t.Errorf("DESCRIPTION %q", s)
	}
}

// The announcement page in a real browser, on a phone and a laptop, with
// the browser in another time zone than any region: each window shows in
// the viewer's time, worked out from the UTC instants.
func TestBrowserCampaignPage(t *testing.T) {
	srv := announced(t)
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
		zone          string
		// The eu window (18:00–20:00 Berlin, 17:00Z) and the us one
		// (18:00–20:00 New York, 23:00Z), in zone.
		eu, us [2]string
		euText string
	}{
		{"phone 390x844 in Tokyo", 390, 844, true, "Asia/Tokyo",
			[2]string{"2026-12-06T02:00", "2026-12-06T04:00"}, [2]string{"2026-12-06T08:00", "2026-12-06T10:00"}, "02:00–04:00"},
		{"laptop 1280x800 in Los Angeles", 1280, 800, false, "America/Los_Angeles",
			[2]string{"2026-12-05T09:00", "2026-12-05T11:00"}, [2]string{"2026-12-05T15:00", "2026-12-05T17:00"}, "09:00–11:00"},
	} {
		t.Run(vp.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{}), 90*time.Second)
			defer cancel()
			emulate := chromedp.EmulateViewport(vp.width, vp.height)
			if vp.mobile {
				emulate = chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateScale(2), chromedp.EmulateMobile)
			}
			if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: vp.zone}); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, emulate, chromedp.Navigate(srv.URL+"/a/winter"), chromedp.WaitVisible("#dw-title")); err != nil {
				t.Fatal(err)
			}
			eval := func(js string) string {
				t.Helper()
				v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
				if err != nil {
					t.Fatalf("%s: %v", js, err)
				}
				return v
			}
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			defer pcancel()
			if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`document.getElementById("dw-zone").textContent === `+jsString(vp.zone))); err != nil {
				t.Fatalf("the page does not name the browser's zone: %v", err)
			}
			window := func(region string) [2]string {
				t.Helper()
				sel := jsString(`[data-region="` + region + `"] .dw-win`)
				return [2]string{eval(`document.querySelector(` + sel + `).getAttribute("data-local-start")`),
					eval(`document.querySelector(` + sel + `).getAttribute("data-local-end")`)}
			}
			if got := window("eu"); got != vp.eu {
				t.Errorf("eu window in %s: %v, want %v", vp.zone, got, vp.eu)
			}
			if got := window("us"); got != vp.us {
				t.Errorf("us window in %s: %v, want %v", vp.zone, got, vp.us)
			}
			euText := eval(`document.querySelector('[data-region="eu"] .dw-local').innerText`)
			if !strings.Contains(euText, vp.euText) {
				t.Errorf("eu window reads %q, want it to show %s", euText, vp.euText)
			}
			if there := eval(`document.querySelector('[data-region="eu"] .dw-there').innerText`); there != "Sat 5 Dec 2026, 18:00–20:00 CET" {
				t.Errorf("eu window in Berlin time reads %q", there)
			}
			if bad := eval(pageChecks); bad != "" {
				t.Errorf("at %dx%d:\n%s", vp.width, vp.height, bad)
			}
			if ok := eval(`String(document.querySelector('.dw-figure img').naturalWidth > 0)`); ok != "true" {
				t.Errorf("the reward's picture did not load")
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if vp.mobile {
				browsertest.Screenshot(t, ctx, "campaignpage-phone.png")
			} else {
				writeDoc(t, "campaign-wide.png", shot)
				browsertest.Screenshot(t, ctx, "campaignpage-wide.png")
			}
		})
	}
}
