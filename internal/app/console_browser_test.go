package app

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// consoleBrowserTimeout bounds the whole browser test: a page that never
// shows what is awaited fails it instead of hanging the suite.
const consoleBrowserTimeout = 3 * time.Minute

// tab is one browser tab of the console test.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{bringToFront()}, actions...)...); err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, body)
	}
}

// until waits, with the tab in front (background tabs are throttled),
// until expression is true, through navigations (an evaluation that meets
// one is tried again).
func (b tab) until(what, expression string) {
	b.t.Helper()
	b.do("front", bringToFront())
	deadline := time.Now().Add(40 * time.Second)
	var err error
	for time.Now().Before(deadline) && b.ctx.Err() == nil {
		var ok bool
		ok, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(function () { try { return !!(`+expression+`); } catch (e) { return false; } })()`))
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, body)
}

func (b tab) str(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b tab) shot(name string) image.Image {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ArtifactDir(b.t), name), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatal(err)
	}
	return img
}

func bringToFront() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{})
		return err
	})
}

// newTab opens a tab in a new browser context (its own cookies) of the
// browser of parent, at a viewport.
func newTab(t *testing.T, parent context.Context, w, h int64, phone bool) tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if phone {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, opts...)); err != nil {
		t.Fatal(err)
	}
	return tab{t: t, ctx: ctx}
}

// The must-show of hosted nodes, on a phone (390×844): the operator signs
// in to the pickup console; a viewer claims after it loaded and the claim
// appears; the console scans the viewer's receipt QR through the camera
// (a file fed as Chromium's fake camera) and marks it ready with a locker
// PIN, which the viewer's receipt shows; then picked up. A second claim is
// found by its typed pickup code. The dashboard's funnel moves, and its
// Hosted nodes card copies and rotates the console link.
//
// Debian's headless Chromium has no BarcodeDetector (logged below), so the
// page takes the path of such browsers: camera frames to /n/{node}/scan,
// read on the server. The pickup is recorded as made with the receipt,
// which only a scan gives the page.
func TestConsoleBrowserPickup(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := hostedConfig(t)
	cfg.PublicURL = base
	cfg.Drops[0].Stock = []config.StockLine{{Node: "kiosk", SKU: config.DemoSKU, Qty: 5}} // every claim at the kiosk
	// The drop runs in a campaign: its report counts the claims, pickups
	// and the sale recorded in the console.
	for i := range cfg.Nodes {
		if cfg.Nodes[i].ID == "kiosk" {
			cfg.Nodes[i].Region = "local"
		}
	}
	now := time.Now().UTC()
	cfg.Campaigns = []config.Campaign{{ID: "kiosk-days", Creator: config.DemoCreator, Title: "Kiosk days",
		StartsAt: now.Add(-time.Hour).Format(time.RFC3339), EndsAt: now.Add(24 * time.Hour).Format(time.RFC3339),
		Drops: []string{config.DemoDrop}, Regions: []config.Region{{ID: "local", Timezone: "UTC"}}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: zerolog.Nop(), Store: storetest.Redis(t)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-done })

	camera := filepath.Join(t.TempDir(), "camera.y4m")
	root, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{Width: 390, Height: 844, FakeCamera: camera}),
		consoleBrowserTimeout)
	defer cancel()
	console := tab{t: t, ctx: root}
	if err := chromedp.Do(root, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile,
		chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}

	// 1. The operator signs in with the key; it does not stay in the URL.
	console.do("sign-in form", chromedp.Navigate(base+"/n/kiosk"), chromedp.WaitVisible("#pc-key"))
	console.do("sign in", chromedp.SendKeys("#pc-key", kioskKey), chromedp.Click("#pc-signin"))
	console.until("the console", `document.getElementById("pc-node").textContent === "Kiosk" && !document.getElementById("pc-live").hidden`)
	if loc := console.str(`location.href`); loc != base+"/n/kiosk" {
		t.Fatalf("console at %q", loc)
	}
	// Debian's Chromium has none (its Linux build has no barcode backend):
	// the scan below then goes through /n/kiosk/scan.
	t.Logf("BarcodeDetector in this Chromium: %s", console.str(`String("BarcodeDetector" in window)`))
	console.shot("console-1-empty.png")

	// 2. The dashboard: the hosted node's console link; the funnel at 0.
	dash := newTab(t, root, 1280, 1000, false)
	dash.do("dashboard sign-in", chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", cfg.AdminToken), chromedp.Click("#signin"))
	dash.until("hosted node card", `document.querySelector('[data-hosted="kiosk"] .console-url').value === "`+base+`/n/kiosk?key=`+kioskKey+`"`)
	dash.until("drop card", `!!document.querySelector('[data-drop="demo-drop"] .stat-picked b')`)

	// 3. The drop opens; a viewer claims on a phone after the console
	// loaded.
	hookSigner, err := sdkhooks.NewSigner(cfg.Sources[0].Secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	trigger := []byte(`{"type":"drop.trigger","drop":"demo-drop","moment":"m-1"}`)
	req, _ := http.NewRequest("POST", base+"/v1/hooks/"+cfg.Sources[0].ID, bytes.NewReader(trigger))
	req.Header = hookSigner.Headers("evt-1", time.Now(), trigger)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", res.StatusCode, body)
	}
	overlay := newTab(t, root, 1280, 720, false)
	overlay.do("overlay", chromedp.Navigate(base+"/overlay/"+config.DemoCreator+"?key="+cfg.Creators[0].OverlayKeys[0]),
		chromedp.WaitVisible("#dw-qr svg"))
	claimURL := browsertest.DecodeQR(t, overlay.shot("console-0-overlay.png"))

	viewer := newTab(t, root, 390, 844, true)
	claimID := viewer.claim(claimURL)
	console.until("the new claim listed without a reload", `!!document.querySelector('#pc-list [data-claim="`+claimID+`"]')`)
	console.shot("console-2-claim-arrived.png")

	// 4. Scan: the viewer's receipt QR, as the phone shows it, becomes
	// the camera's picture.
	qr, err := chromedp.Run(viewer.ctx, chromedp.Screenshot("#dw-qr"))
	if err != nil {
		t.Fatal(err)
	}
	qrImg, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.WriteY4M(t, camera, fit(qrImg, 600), 960, 720)
	code := viewer.str(`document.getElementById("dw-code").textContent`)
	console.do("scan", chromedp.Click("#pc-scan"))
	console.until("the scanned claim", `!document.getElementById("pc-detail").hidden &&
		document.getElementById("pc-d-code").textContent === "`+code+`"`)
	if got := console.str(`document.getElementById("pc-d-status").textContent + " / " +
		document.getElementById("pc-d-reward").textContent + " / " + document.getElementById("pc-d-sku").textContent + " / " +
		document.getElementById("pc-d-tier").textContent`); got != "Waiting (forwarded) / Demo sticker pack / sticker-pack / standard" {
		t.Fatalf("scanned claim shows %q", got)
	}
	console.shot("console-3-scanned.png")

	// 5. Ready in locker B7 with PIN 4711: the viewer's receipt shows it.
	console.do("ready", chromedp.SendKeys("#pc-slot", "B7"), chromedp.SendKeys("#pc-pin", "4711"), chromedp.Click("#pc-ready"))
	console.until("ready", `document.getElementById("pc-d-status").textContent === "Ready"`)
	viewer.until("the receipt shows the PIN", `document.getElementById("dw-receipt").getAttribute("data-state") === "ready" &&
		document.getElementById("dw-pin").textContent === "4711" && document.getElementById("dw-slot").textContent === "B7"`)
	viewer.shot("console-4-receipt-ready.png")

	// 6. Picked up: the console, the receipt and the dashboard's funnel.
	console.do("picked up", chromedp.Click("#pc-picked"))
	console.until("picked up", `document.getElementById("pc-d-status").textContent === "Picked up" &&
		document.getElementById("pc-n-picked_up").textContent === "1"`)
	console.shot("console-5-picked-up.png")
	viewer.until("the receipt says picked up", `document.getElementById("dw-receipt").getAttribute("data-state") === "picked_up"`)
	// The claim was found by the receipt read off the camera, and the
	// pickup is recorded so.
	h, err := a.Store().HGetAll(t.Context(), store.DropKey(config.DemoDrop, "claim", claimID))
	if err != nil || h["picked_up_with"] != "receipt" || h["locker_pin"] != "4711" {
		t.Fatalf("claim %v %v", h, err)
	}
	funnel := `[data-drop="demo-drop"]`
	dash.until("the funnel moved", `document.querySelector('`+funnel+` .stat-forwarded b').textContent === "1" &&
		document.querySelector('`+funnel+` .stat-ready b').textContent === "1" &&
		document.querySelector('`+funnel+` .stat-picked b').textContent === "1"`)
	dash.shot("console-6-dashboard.png")

	// 7. A second viewer, who scans the code on stream now (the first
	// scan's may have rotated out by then); the operator types the pickup
	// code.
	overlay.do("overlay in front", bringToFront())
	claimURL2 := browsertest.DecodeQR(t, overlay.shot("console-7-overlay.png"))
	viewer2 := newTab(t, root, 390, 844, true)
	claim2 := viewer2.claim(claimURL2)
	code2 := viewer2.str(`document.getElementById("dw-code").textContent`)
	console.until("the second claim listed", `!!document.querySelector('#pc-list [data-claim="`+claim2+`"]')`)
	console.do("type the code", chromedp.SendKeys("#pc-code", strings.ToLower(code2)), chromedp.Click("#pc-find"))
	console.until("the typed claim", `document.getElementById("pc-d-code").textContent === "`+code2+`" &&
		document.getElementById("pc-d-status").textContent.startsWith("Waiting")`)
	console.do("picked up", chromedp.Click("#pc-picked"))
	console.until("picked up", `document.getElementById("pc-d-status").textContent === "Picked up" &&
		document.getElementById("pc-n-picked_up").textContent === "2"`)
	// The viewer buys something: a sale with a bad amount is refused with
	// the reason; a good one is recorded and counted in the campaign's
	// report with both claims and pickups.
	console.do("bad sale", chromedp.SendKeys("#pc-sale-amount", "4.555"), chromedp.Click("#pc-sale"))
	console.until("the sale refused", `document.getElementById("pc-find-error").textContent.indexOf("amount") >= 0`)
	console.str(`document.getElementById("pc-sale-amount").value = ""`)
	console.do("sale", chromedp.SendKeys("#pc-sale-amount", "4.50"), chromedp.Click("#pc-sale"))
	console.until("the sale recorded", `document.getElementById("pc-d-note").textContent === "Sale recorded."`)
	console.shot("console-7-sale.png")
	rreq, _ := http.NewRequest("GET", base+"/v1/admin/campaigns/kiosk-days/report", nil)
	rreq.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	rres, err := http.DefaultClient.Do(rreq)
	if err != nil {
		t.Fatal(err)
	}
	rbody, _ := io.ReadAll(rres.Body)
	rres.Body.Close()
	var rep struct {
		Total struct {
			Claims, Sales, Claimants int
			PickedUp                 int               `json:"picked_up"`
			Revenue                  map[string]string `json:"revenue"`
			SalesPerClaimant         *float64          `json:"sales_per_claimant"`
			RevenuePerClaimant       map[string]string `json:"revenue_per_claimant"`
		}
		Retention struct{ Claimants int }
	}
	if err := json.Unmarshal(rbody, &rep); err != nil || rres.StatusCode != http.StatusOK {
		t.Fatalf("report: %d %s", rres.StatusCode, rbody)
	}
	if rep.Total.Claims != 2 || rep.Total.PickedUp != 2 || rep.Total.Sales != 1 || rep.Total.Revenue["EUR"] != "4.50" ||
		rep.Retention.Claimants != 2 || rep.Total.Claimants != 2 || rep.Total.SalesPerClaimant == nil ||
		*rep.Total.SalesPerClaimant != 0.5 || rep.Total.RevenuePerClaimant["EUR"] != "2.25" {
		t.Errorf("report after two pickups and a sale: %s", rbody)
	}

	// Typed again: refused, with the time it was picked up.
	console.do("type it again", chromedp.SendKeys("#pc-code", code2), chromedp.Click("#pc-find"))
	console.until("already picked up", `document.getElementById("pc-find-error").textContent.startsWith("Already picked up at ")`)
	console.shot("console-7-already-picked-up.png")
	dash.until("the funnel counts both", `document.querySelector('`+funnel+` .stat-picked b').textContent === "2"`)

	// 8. Rotate the console key on the dashboard: a new link; the
	// operator's session lives on through the grace period.
	dialogs := chromedp.Events(dash.ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(dash.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			return
		}
	}()
	dash.do("rotate", chromedp.Click(`[data-hosted="kiosk"] button[data-action="rotate"]`))
	dash.until("new link", `document.querySelector('[data-hosted="kiosk"] .console-url').value.startsWith("`+base+`/n/kiosk?key=") &&
		document.querySelector('[data-hosted="kiosk"] .console-url').value !== "`+base+`/n/kiosk?key=`+kioskKey+`" &&
		document.querySelector('[data-hosted="kiosk"] .note').textContent.startsWith("New key.")`)
	newLink := dash.str(`document.querySelector('[data-hosted="kiosk"] .console-url').value`)
	console.do("reload", chromedp.Navigate(base+"/n/kiosk"))
	console.until("still signed in", `document.getElementById("pc-node").textContent === "Kiosk"`)
	other := newTab(t, root, 390, 844, true)
	other.do("the new link", chromedp.Navigate(newLink))
	other.until("signed in by the link", `location.href === "`+base+`/n/kiosk" && document.getElementById("pc-node").textContent === "Kiosk"`)
}

// claim claims on the claim page at url as a viewer taps Claim, and
// returns the claim id of the receipt it lands on.
func (b tab) claim(url string) string {
	b.t.Helper()
	b.do("claim page", chromedp.Navigate(url), chromedp.WaitVisible("#dw-submit"), chromedp.Click("#dw-submit"))
	b.until("the receipt", `location.pathname.startsWith("/r/") && document.getElementById("dw-code").textContent.length > 0 &&
		!!document.querySelector("#dw-qr svg")`)
	return strings.TrimPrefix(b.str(`location.pathname`), "/r/")
}

// fit scales img (nearest neighbour, as a camera would blur it less) to
// fit in a size×size square.
func fit(img image.Image, size int) image.Image {
	b := img.Bounds()
	scale := float64(size) / float64(max(b.Dx(), b.Dy()))
	w, h := int(float64(b.Dx())*scale), int(float64(b.Dy())*scale)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			out.Set(x, y, img.At(b.Min.X+int(float64(x)/scale), b.Min.Y+int(float64(y)/scale)))
		}
	}
	return out
}
