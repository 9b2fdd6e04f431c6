package overlay_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

const chromium = "/usr/bin/chromium"

// artifactDir keeps screenshots: $DROPWIRE_ARTIFACTS when set, else a
// test temp dir.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("DROPWIRE_ARTIFACTS"); d != "" {
		_ = os.MkdirAll(d, 0o755)
		return d
	}
	return t.TempDir()
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Skip("no chromium: apt-get install -y chromium")
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1920, 1080),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride,
		emulation.SetDeviceMetricsOverrideParams{Width: 1920, Height: 1080, DeviceScaleFactor: 1}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	transparentBackground(t, ctx)
	return ctx
}

// transparentBackground makes what the page does not paint come out with
// alpha 0 in screenshots, as in OBS.
func transparentBackground(t *testing.T, ctx context.Context) {
	t.Helper()
	// cdp.RGBA omits a zero alpha (which then means opaque), so the color
	// is spelled out.
	cmd := cdp.Command[map[string]any, cdp.Empty]{Method: emulation.CommandSetDefaultBackgroundColorOverride}
	color := map[string]any{"color": map[string]any{"r": 0, "g": 0, "b": 0, "a": 0}}
	if _, err := chromedp.Call(ctx, cmd, color); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) image.Image {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// decodeQR reads the QR in img, composited on white as a phone sees it.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Over)
	bmp, err := gozxing.NewBinaryBitmapFromImage(rgba)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR in screenshot: %v", err)
	}
	return res.GetText()
}

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
	ctx := newBrowser(t)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/overlay/ava?key="+overlayKey+"&pos=br&size=300"),
		chromedp.WaitReady(chromedp.CSS("#dw-overlay.dw-status-idle")),
	); err != nil {
		t.Fatal(err)
	}
	transparentBackground(t, ctx)
	idle := screenshot(t, ctx, "overlay-idle.png")
	assertTransparent(t, idle, idle.Bounds())

	trigger(t, r, "spring", "evt-browser-1")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#dw-qr svg"))); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	open := screenshot(t, ctx, "overlay-open.png")
	got := decodeQR(t, open)
	if want, prev := base+"/c/"+codeOf(t, cfg, st, "spring", time.Now()), base+"/c/"+codeOf(t, cfg, st, "spring", before); got != want && got != prev {
		t.Fatalf("QR says %q, want %q", got, want)
	}
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
	got = decodeQR(t, screenshot(t, ctx, "overlay-recovered.png"))
	if want := base + "/c/" + codeOf(t, cfg, st, "summer", time.Now()); got != want {
		t.Fatalf("after restart QR says %q, want %q", got, want)
	}
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
