package overlay_test

import (
	"context"
	"image"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// The overlay in real headless Chromium at 1920x1080: transparent while
// idle, a scannable QR of the current claim URL after a signed webhook,
// transparent wherever nothing is drawn; after the server restarts on the
// same port (the state having changed meanwhile) the page recovers the
// current state by itself within 16 s.
func TestBrowserOverlay(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	st := storetest.Redis(t)
	ln := reservePort(t)
	base := "http://" + ln
	cfg := testConfig(t, base, 0)
	r := startReplica(t, cfg, st, ln)
	ctx := newOverlayBrowser(t)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/overlay/ava?key="+overlayKey+"&pos=br&size=300"),
		chromedp.WaitReady(chromedp.CSS("#dw-overlay.dw-status-idle")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.TransparentBackground(t, ctx)
	idle := browsertest.Screenshot(t, ctx, "overlay-idle.png")
	assertTransparent(t, idle, idle.Bounds())

	triggered := time.Now()
	trigger(t, r, "spring", "evt-browser-1")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#dw-qr svg"))); err != nil {
		t.Fatal(err)
	}
	open := browsertest.Screenshot(t, ctx, "overlay-open.png")
	assertShowsCode(t, browsertest.DecodeQR(t, open), cfg, st, "spring", triggered)
	// The card sits bottom right; the rest of the canvas is untouched.
	assertTransparent(t, open, image.Rect(0, 0, 1920, 600))
	assertTransparent(t, open, image.Rect(0, 0, 1400, 1080))
	countdown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#dw-countdown")))
	if err != nil || countdown == "" {
		t.Fatalf("countdown %q %v", countdown, err)
	}

	// Restart on the same port; meanwhile spring closes and summer opens,
	// unannounced to the page.
	r.shutdown()
	v, err := verifier.New(verifier.Config{Store: st, Drops: verifier.NewCatalog(cfg.Drops)})
	if err != nil {
		t.Fatal(err)
	}
	src := verifier.Source{ID: "capture", Creator: "ava"}
	for _, ev := range []verifier.Event{
		{ID: "c1", Type: verifier.TypeDropClose, Drop: "spring"},
		{ID: "o2", Type: verifier.TypeDropTrigger, Drop: "summer", Moment: "m-o2"},
	} {
		if _, err := v.Ingest(context.Background(), src, ev); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second) // the page notices and backs off
	startReplica(t, cfg, st, ln)
	restarted := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 16*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](`document.getElementById("dw-title").textContent === "Summer stickers" && !!document.querySelector("#dw-overlay.dw-status-open #dw-qr svg")`)); err != nil {
		t.Fatalf("page did not recover within 16 s: %v", err)
	}
	t.Logf("page recovered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	recovered := browsertest.Screenshot(t, ctx, "overlay-recovered.png")
	assertShowsCode(t, browsertest.DecodeQR(t, recovered), cfg, st, "summer", restarted)
}

func assertTransparent(t *testing.T, img image.Image, r image.Rectangle) {
	t.Helper()
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y += 7 {
		for x := r.Min.X; x < r.Max.X; x += 7 {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0 {
				t.Fatalf("pixel (%d,%d) is drawn (alpha %d); want fully transparent", x, y, a>>8)
			}
		}
	}
}

// newOverlayBrowser is Chromium at OBS's default canvas, painting nothing
// where the page paints nothing.
func newOverlayBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx := browsertest.New(t, browsertest.Options{Width: 1920, Height: 1080})
	browsertest.TransparentBackground(t, ctx)
	return ctx
}
