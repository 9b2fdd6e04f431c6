package overlay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
)

const (
	adminToken = "admin-token-settings-0123456789"
	longTitle  = "Limited edition holographic spring sticker pack signed by the artist herself"
)

// A creator changes the overlay's look on the dashboard while two overlays
// are open at 1920x1080, one on each of two replicas sharing the Redis
// keys: both change without a reload (a marker set in each page
// survives), the QR still reads at the smallest allowed size from the
// stream scaled down to 1280x720, and a title too long for two lines is
// cut between words with an ellipsis, never inside a word. Trying settings
// in the dashboard's preview sends nothing to the creator's overlays.
func TestBrowserOverlaySettingsLive(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	prefix := storetest.Prefix(t)
	stA, stB := storetest.RedisWithPrefix(t, prefix), storetest.RedisWithPrefix(t, prefix)
	cfgA := testConfig(t, "https://drops.example.com", 0)
	cfgB := testConfig(t, "https://drops.example.com", 0)
	for _, cfg := range []*config.Config{cfgA, cfgB} {
		cfg.AdminToken = adminToken
		cfg.Drops[0].Title = longTitle
		// No code rotation while the test watches the socket: any frame
		// it gets then would come from the preview.
		cfg.Drops[0].QRRotate = config.Duration(time.Hour)
	}
	a := startReplica(t, cfgA, stA, "127.0.0.1:0")
	b := startReplica(t, cfgB, stB, "127.0.0.1:0")

	browser := browsertest.New(t, browsertest.Options{Width: 1920, Height: 1080})
	tab := func(url string) context.Context {
		t.Helper()
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1920, 1080), chromedp.Navigate(url),
			chromedp.WaitReady(chromedp.CSS("#dw-overlay"))); err != nil {
			t.Fatal(err)
		}
		browsertest.TransparentBackground(t, ctx)
		return ctx
	}
	ovA := tab(a.url("/overlay/ava?key=" + overlayKey))
	ovB := tab(b.url("/overlay/ava?key=" + overlayKey))
	overlays := map[string]context.Context{"replica A": ovA, "replica B": ovB}

	triggered := time.Now()
	trigger(t, a, "spring", "evt-settings-1")
	for name, ctx := range overlays {
		poll(t, ctx, name+" shows the drop", `!!document.querySelector("#dw-overlay.dw-status-open #dw-qr svg")`)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.dwMarker = "kept"`)); err != nil {
			t.Fatal(err)
		}
	}
	assertTitleCutBetweenWords(t, ovA, longTitle)
	if cta := text(t, ovA, "#dw-cta"); cta != "Scan to claim" {
		t.Fatalf("call to action %q, want the default Scan to claim", cta)
	}
	full := shot(t, ovA, "overlay-settings-before.png")
	writeDoc(t, "overlay.png", full)
	writeDoc(t, "overlay-default.png", crop(t, ovA, full))

	// An overlay the test reads frame by frame, to see what the preview
	// sends it: nothing.
	ws := dialOverlay(t, a)
	readState(t, ws, func(s overlay.State) bool { return s.Status == overlay.StatusOpen })

	dash, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// A tab lives as long as the context of its first run: no timeout there.
	if err := chromedp.Do(dash, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatal(err)
	}
	run(t, dash, "sign in",
		chromedp.Navigate(a.url("/dashboard")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#ov-form")),
	)
	poll(t, dash, "form filled", `document.getElementById("ov-size").value === "280"`)
	const previewDoc = `document.getElementById("ov-preview").contentDocument`
	poll(t, dash, "preview shows the sample drop",
		previewDoc+`.querySelector("#dw-overlay.dw-status-open #dw-qr svg") !== null`)

	// Unsaved: the preview changes, the overlays do not, the socket gets
	// no frame.
	setField(t, dash, "ov-cta", "Only in the preview")
	poll(t, dash, "preview follows the form", previewDoc+`.getElementById("dw-cta").textContent === "Only in the preview"`)
	assertNoStateFrame(t, ws, 3*time.Second)
	for name, ctx := range overlays {
		if cta := text(t, ctx, "#dw-cta"); cta != "Scan to claim" {
			t.Fatalf("%s shows %q from an unsaved preview", name, cta)
		}
	}

	// Saved: position, size (the smallest allowed), theme and call to
	// action reach both overlays, on both replicas, without a reload.
	setField(t, dash, "ov-position", "tl")
	setField(t, dash, "ov-size", itoa(overlay.MinQRSize))
	setField(t, dash, "ov-theme", "light")
	setField(t, dash, "ov-brand", "#0b6e4f")
	setField(t, dash, "ov-cta", "Grab yours now")
	saved := time.Now()
	run(t, dash, "save", chromedp.Click(chromedp.CSS("#ov-save")))
	applied := `(function () {
		var root = document.getElementById("dw-overlay"), qr = document.getElementById("dw-qr");
		var card = document.getElementById("dw-card").getBoundingClientRect();
		return window.dwMarker === "kept" && root.classList.contains("dw-pos-tl") && root.classList.contains("dw-theme-light") &&
			getComputedStyle(qr).width === "` + itoa(overlay.MinQRSize) + `px" &&
			document.getElementById("dw-cta").textContent === "Grab yours now" &&
			card.left < 200 && card.top < 200 && !!qr.querySelector("svg");
	})()`
	for name, ctx := range overlays {
		poll(t, ctx, name+" applies the settings without a reload", applied)
		t.Logf("%s applied the settings %v after Save", name, time.Since(saved).Round(time.Millisecond))
	}
	poll(t, dash, "saved", `document.getElementById("ov-note").textContent.indexOf("Saved") === 0`)
	assertTitleCutBetweenWords(t, ovB, longTitle)

	// The smallest QR, from the stream as a 720p viewer gets it.
	after := shot(t, ovB, "overlay-settings-after.png")
	writeDoc(t, "overlay-light-top-left.png", crop(t, ovB, after))
	img, err := png.Decode(bytes.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	small := downscale(img, 1280, 720)
	saveArtifact(t, "overlay-settings-720p.png", small)
	assertShowsCode(t, browsertest.DecodeQR(t, small), cfgA, stA, "spring", triggered)

	// The dashboard's form and preview, for the README.
	if os.Getenv("DROPWIRE_DOCS") == "1" {
		pic, err := chromedp.Run(dash, chromedp.Screenshot(chromedp.CSS("#overlay-look")))
		if err != nil {
			t.Fatal(err)
		}
		writeDoc(t, "overlay-dashboard.png", pic)
	}

	// A bad value is refused by the server and named; the overlays keep
	// what they show.
	setField(t, dash, "ov-brand", "red")
	run(t, dash, "save a colour that is not one", chromedp.Click(chromedp.CSS("#ov-save")))
	poll(t, dash, "the field is named", `document.getElementById("ov-brand").classList.contains("invalid") &&
		document.getElementById("ov-error").textContent.indexOf("brand") >= 0`)
	time.Sleep(time.Second)
	poll(t, ovA, "the overlay keeps the saved look", `getComputedStyle(document.getElementById("dw-overlay")).getPropertyValue("--dw-accent").trim() === "#0b6e4f"`)
}

// assertTitleCutBetweenWords checks the title as rendered: at most two
// lines, nothing overflowing, every word shown whole on one line, and
// what is shown is the title's first words, with an ellipsis only when
// words were left out.
func assertTitleCutBetweenWords(t *testing.T, ctx context.Context, title string) {
	t.Helper()
	type rendered struct {
		Text     string   `json:"text"`
		Lines    int      `json:"lines"`
		Overflow bool     `json:"overflow"`
		Split    []string `json:"split"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[rendered](`(function () {
		var t = document.getElementById("dw-title"), node = t.firstChild, text = t.textContent;
		var tops = {}, split = [], re = /\S+/g, m;
		while ((m = re.exec(text)) !== null) {
			var r = document.createRange();
			r.setStart(node, m.index);
			r.setEnd(node, m.index + m[0].length);
			var rects = Array.prototype.filter.call(r.getClientRects(), function (x) { return x.width > 0; });
			if (rects.length !== 1) split.push(m[0]);
			rects.forEach(function (x) { tops[Math.round(x.top)] = true; });
		}
		return {text: text, lines: Object.keys(tops).length,
			overflow: t.scrollHeight > t.clientHeight + 1 || t.scrollWidth > t.clientWidth + 1, split: split};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	shown := strings.TrimSuffix(got.Text, "…")
	wholeWords := strings.HasPrefix(title, shown) && (len(shown) == len(title) || title[len(shown)] == ' ')
	cut := shown != got.Text
	if got.Lines < 1 || got.Lines > 2 || got.Overflow || len(got.Split) > 0 || !wholeWords || cut == (shown == title) || strings.HasSuffix(shown, " ") {
		t.Fatalf("title rendered as %+v; want at most 2 lines of whole words of %q, an ellipsis only after a cut", got, title)
	}
	t.Logf("title shown on %d lines: %q", got.Lines, got.Text)
}

// assertNoStateFrame reads ws for d and fails on any state frame (pings,
// which keep the socket alive whatever happens, are let through).
func assertNoStateFrame(t *testing.T, ws *websocket.Conn, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = ws.SetReadDeadline(deadline)
		_, b, err := ws.ReadMessage()
		if err != nil {
			if time.Now().Before(deadline) {
				t.Fatalf("overlay socket: %v", err)
			}
			return // nothing within d
		}
		var m struct{ Type string }
		_ = json.Unmarshal(b, &m)
		if m.Type != "ping" {
			t.Fatalf("the creator's overlay got a frame while only the preview changed: %s", b)
		}
	}
}

// setField changes a dashboard form field as a user does: its value, then
// the input and change events the form listens to.
func setField(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	js, _ := json.Marshal([]string{id, value})
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function (a) {
		var e = document.getElementById(a[0]);
		e.focus();
		e.value = a[1];
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return e.value === a[1];
	})(`+string(js)+`)`)); err != nil {
		t.Fatalf("set %s: %v", id, err)
	}
}

func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(browsertest.ArtifactDir(t), name), b, 0o644)
	return b
}

// crop cuts the card, with a margin, out of a full-canvas screenshot.
func crop(t *testing.T, ctx context.Context, full []byte) []byte {
	t.Helper()
	r, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(function () {
		var b = document.getElementById("dw-card").getBoundingClientRect();
		return [b.left, b.top, b.right, b.bottom];
	})()`))
	if err != nil || len(r) != 4 {
		t.Fatalf("card box: %v %v", r, err)
	}
	img, err := png.Decode(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	const m = 24
	rect := image.Rect(int(r[0])-m, int(r[1])-m, int(r[2])+m, int(r[3])+m).Intersect(img.Bounds())
	sub := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(rect)
	var buf bytes.Buffer
	if err := png.Encode(&buf, sub); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// downscale scales img to w×h, each output pixel the area average of the
// input pixels it covers, as a video scaler does.
func downscale(img image.Image, w, h int) image.Image {
	src := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	sx, sy := float64(src.Dx())/float64(w), float64(src.Dy())/float64(h)
	for y := range h {
		for x := range w {
			var r, g, b, a, n float64
			for yy := int(float64(y) * sy); yy < int(float64(y+1)*sy+0.999); yy++ {
				for xx := int(float64(x) * sx); xx < int(float64(x+1)*sx+0.999); xx++ {
					c := color.NRGBAModel.Convert(img.At(src.Min.X+xx, src.Min.Y+yy)).(color.NRGBA)
					r += float64(c.R)
					g += float64(c.G)
					b += float64(c.B)
					a += float64(c.A)
					n++
				}
			}
			out.SetNRGBA(x, y, color.NRGBA{uint8(r / n), uint8(g / n), uint8(b / n), uint8(a / n)})
		}
	}
	return out
}

func saveArtifact(t *testing.T, name string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err == nil {
		_ = os.WriteFile(filepath.Join(browsertest.ArtifactDir(t), name), buf.Bytes(), 0o644)
	}
}

// writeDoc saves a picture into docs/ when DROPWIRE_DOCS=1, so the
// README's pictures come from a test run, never from a hand edit.
func writeDoc(t *testing.T, name string, png []byte) {
	t.Helper()
	if os.Getenv("DROPWIRE_DOCS") != "1" {
		return
	}
	p := filepath.Join("..", "docs", name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", p)
}

func itoa(n int) string { return strconv.Itoa(n) }
