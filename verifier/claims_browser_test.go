package verifier_test

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
)

const (
	hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	overlayKey = "ava-overlay-key-0123456789"
)

func browserConfig(t *testing.T, base string) *config.Config {
	t.Helper()
	cfg := &config.Config{
		Listen:    "127.0.0.1:0",
		PublicURL: base,
		Creators:  []config.Creator{{ID: "ava", OverlayKeys: []string{overlayKey}}},
		Sources:   []config.Source{{ID: "capture", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{hookSecret}}},
		Nodes: []config.Node{
			{ID: "corner", Name: "Corner Books locker", Region: "eu-west", Address: "12 Rue des Livres, Lyon", Hours: "Mon–Sat 9–19", URL: "http://127.0.0.1:9/hook", Secret: hookSecret},
			{ID: "station", Name: "Station pop-up", Region: "eu-west", Address: "Gare Part-Dieu, hall 2", Hours: "daily 7–22", URL: "http://127.0.0.1:9/hook", Secret: hookSecret},
		},
		Drops: []config.Drop{{ID: "spring", Creator: "ava", Title: "Spring sticker pack",
			Window: config.Duration(time.Hour), QRRotate: config.Duration(time.Minute), ScanGrace: config.Duration(time.Minute),
			Stock:        []config.StockLine{{Node: "corner", SKU: "sticker-pack", Qty: 50}, {Node: "station", SKU: "sticker-pack", Qty: 20}},
			Compensation: config.Compensation{Kind: config.CompensationCode, CodesFile: "comp.txt"}}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A viewer on a phone: scans the QR off the overlay, claims, sees the
// receipt with the pickup code; claiming again from the same device shows
// the same claim.
func TestBrowserClaim(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	serveApp(t, ln, browserConfig(t, base))
	hook(t, base, "evt-1", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)

	// Bounded, so a page that never shows what is waited for fails
	// instead of waiting out the suite.
	ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{}), 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 720),
		chromedp.Navigate(base+"/overlay/ava?key="+overlayKey),
		chromedp.WaitVisible("#dw-qr svg"),
	); err != nil {
		t.Fatal(err)
	}
	url := browsertest.DecodeQR(t, browsertest.Screenshot(t, ctx, "claim-0-overlay.png"))
	if !strings.HasPrefix(url, base+"/c/") {
		t.Fatalf("QR says %q", url)
	}

	// The phone.
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(url),
		chromedp.WaitVisible("#dw-submit"),
	); err != nil {
		t.Fatal(err)
	}
	if left, nodes := text("#dw-left"), eval(`String(document.querySelectorAll("#dw-nodes input").length)`); left != "70 of 70 left" || nodes != "2" {
		t.Fatalf("claim page shows %q and %s nodes", left, nodes)
	}
	browsertest.Screenshot(t, ctx, "claim-1-page.png")
	if err := chromedp.Do(ctx, chromedp.Click("#dw-submit"), chromedp.WaitVisible("#dw-qr svg")); err != nil {
		t.Fatal(err)
	}
	code, path := text("#dw-code"), eval(`location.pathname`)
	if !regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`).MatchString(code) || !strings.HasPrefix(path, "/r/spring.") {
		t.Fatalf("receipt page: code %q at %q", code, path)
	}
	if node, state := text("#dw-node"), text("#dw-state"); !strings.Contains(node, "Corner Books locker") || state != "Claimed" {
		t.Fatalf("receipt shows node %q state %q", node, state)
	}
	receipt := browsertest.Screenshot(t, ctx, "claim-2-receipt.png")
	// The receipt QR holds the receipt a node verifies.
	if tok := browsertest.DecodeQR(t, receipt); strings.Count(tok, ".") != 2 {
		t.Fatalf("receipt QR holds %q", tok)
	}

	// Same device, the same QR again: the page shows the existing claim
	// and opens its receipt, never Claim it.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible("#dw-receipt-link"),
	); err != nil {
		t.Fatal(err)
	}
	if n := eval(`String(document.querySelectorAll("#dw-submit, #dw-form").length)`); n != "0" {
		t.Fatalf("the revisit offers a claim form (%s elements)", n)
	}
	browsertest.Screenshot(t, ctx, "claim-3-again.png")
	if err := chromedp.Do(ctx, chromedp.Click("#dw-receipt-link"), chromedp.WaitVisible("#dw-qr svg")); err != nil {
		t.Fatal(err)
	}
	if path2, code2 := eval(`location.pathname`), text("#dw-code"); path2 != path || code2 != code {
		t.Fatalf("the revisit's receipt is %s (%s), want the existing %s (%s)", path2, code2, path, code)
	}

	// The overlay's stock went down with the claim.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 720),
		chromedp.Navigate(base+"/overlay/ava?key="+overlayKey),
		chromedp.WaitVisible("#dw-qr svg"),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("dw-stock").textContent.includes("69")`)); err != nil {
		t.Fatalf("overlay stock %q: %v", text("#dw-stock"), err)
	}
}

// With claim_pow_bits set, the page's own SHA-256 finds the proof the
// server checks, and the claim goes through as without it.
func TestBrowserClaimWithProofOfWork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := browserConfig(t, base)
	cfg.ClaimPowBits = 14
	serveApp(t, ln, cfg)
	hook(t, base, "evt-1", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)

	// Bounded, so a page that never gets to its receipt fails instead of
	// waiting out the suite.
	ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{}), time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(shownCode(t, base)),
		chromedp.WaitVisible("#dw-submit"),
		chromedp.Click("#dw-submit"),
		chromedp.WaitVisible("#dw-qr svg"),
	); err != nil {
		t.Fatal(err)
	}
	path, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil || !strings.HasPrefix(path, "/r/spring.") {
		t.Fatalf("after claiming: %q %v", path, err)
	}
}
