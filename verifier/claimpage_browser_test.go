package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
)

const adminToken = "admin-token-0123456789abcdef"

// presentedConfig is browserConfig with what a creator would fill in for
// viewers: a description, nodes in two regions with their own pickup
// deadlines, and an admin token to upload the picture with.
func presentedConfig(t *testing.T, base string) *config.Config {
	t.Helper()
	cfg := browserConfig(t, base)
	cfg.AdminToken = adminToken
	cfg.Nodes[1].Region = "eu-central"
	cfg.Nodes[1].PickupSLA = config.Duration(2 * time.Hour)
	cfg.Drops[0].Description = "Five die-cut vinyl stickers from tonight's stream, 7 cm each.\nWeatherproof."
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rewardPNG draws a picture of the reward: five stickers on a card.
func rewardPNG(t *testing.T) []byte {
	t.Helper()
	const w, h = 640, 400
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	colors := []color.RGBA{{255, 204, 51, 255}, {91, 212, 138, 255}, {255, 122, 112, 255}, {120, 170, 255, 255}, {200, 150, 255, 255}}
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(40 + 30*y/h), uint8(44 + 20*x/w), 60, 255})
			for i, c := range colors {
				cx, cy := 120+float64(i)*100, 200+40*math.Sin(float64(i))
				if math.Hypot(float64(x)-cx, float64(y)-cy) < 46 {
					img.Set(x, y, c)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// uploadImage puts the drop's picture through the admin API.
func uploadImage(t *testing.T, base, drop string, data []byte) string {
	t.Helper()
	req, _ := http.NewRequest("PUT", base+"/v1/admin/drops/"+drop+"/image", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "image/png")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct{ Image string }
	_ = json.NewDecoder(res.Body).Decode(&v)
	if res.StatusCode != 200 || v.Image == "" {
		t.Fatalf("image upload: %d %+v", res.StatusCode, v)
	}
	return v.Image
}

// claimElsewhere claims from another phone: its own cookie jar, the claim
// page first (device cookie), then the claim.
func claimElsewhere(t *testing.T, claimURL string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := c.Get(claimURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	base, code := claimURL[:strings.Index(claimURL, "/c/")], claimURL[strings.LastIndex(claimURL, "/")+1:]
	res, err = c.Post(base+"/v1/claims", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("claim from another phone: %d %s", res.StatusCode, b)
	}
}

// pageChecks are what a viewer with a screen reader, weak eyes or a small
// phone needs of any state of the page, measured in the browser: WCAG AA
// contrast of every piece of text against what is behind it (inactive
// controls aside, as WCAG allows), a name for every control, lang, and no
// sideways scrolling.
const pageChecks = `(() => {
  const out = [];
  const parse = c => { const m = /rgba?\(([^)]+)\)/.exec(c); if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => [c.r, c.g, c.b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  for (const el of document.querySelectorAll("body *")) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === "hidden" || el.getClientRects().length === 0 || el.closest("script")) continue;
    if (el.matches(":disabled") || el.closest(".dw-empty")) continue;
    const a = lum(parse(cs.color)), b = lum(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(cs.fontSize), large = size >= 24 || (parseInt(cs.fontWeight, 10) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) out.push("contrast " + ratio.toFixed(2) + ": " + el.tagName + "#" + el.id + " " + el.textContent.trim().slice(0, 40));
  }
  for (const el of document.querySelectorAll("input, button, select, textarea, a")) {
    const name = el.getAttribute("aria-label") || (el.labels && [...el.labels].map(l => l.textContent).join(" ")) || el.textContent;
    if (!name.trim()) out.push("no accessible name: " + el.outerHTML.slice(0, 80));
  }
  if (document.documentElement.lang !== "en") out.push("lang is " + JSON.stringify(document.documentElement.lang));
  if (document.documentElement.scrollWidth > window.innerWidth) out.push("scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
  return out.join("\n");
})()`

// jsString quotes s for a script.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// writeDoc saves a screenshot into docs/ when DROPWIRE_DOCS=1, so the
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

// A viewer, on a phone and on a laptop, sees before claiming what they
// get and on what terms, with the stock and the code's time left moving
// while they look, without a reload and without the page jumping; after
// claiming, the same QR shows their receipt, never Claim it.
func TestBrowserClaimPage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := presentedConfig(t, base)
	serveApp(t, ln, cfg)
	imagePath := uploadImage(t, base, "spring", rewardPNG(t))
	hook(t, base, "evt-1", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)

	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
		doc           string
	}{
		{"phone 390x844", 390, 844, true, "claim.png"},
		{"laptop 1280x800", 1280, 800, false, "claim-wide.png"},
	} {
		t.Run(vp.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{}), 90*time.Second)
			defer cancel()
			emulate := chromedp.EmulateViewport(vp.width, vp.height)
			if vp.mobile {
				emulate = chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateScale(2), chromedp.EmulateMobile)
			}
			url := shownCode(t, base)
			eval := func(js string) string {
				t.Helper()
				v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
				if err != nil {
					t.Fatalf("%s: %v", js, err)
				}
				return v
			}
			text := func(sel string) string {
				t.Helper()
				return eval(`(document.querySelector(` + jsString(sel) + `) || {}).innerText || ""`)
			}
			until := func(what, js string) {
				t.Helper()
				pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				if _, err := chromedp.Run(pctx, chromedp.Poll[bool](js)); err != nil {
					t.Fatalf("%s: %v\npage: %s", what, err, text("main"))
				}
			}
			if err := chromedp.Do(ctx, emulate, chromedp.Navigate(url), chromedp.WaitVisible("#dw-submit")); err != nil {
				t.Fatal(err)
			}
			// Layout shifts from now on, loading included.
			eval(`window.dwShift = 0; new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.dwShift += e.value; })
				.observe({type: "layout-shift", buffered: true}); ""`)
			until("the picture loads", `document.getElementById("dw-image").complete && document.getElementById("dw-image").naturalWidth === 640`)
			if src := eval(`document.getElementById("dw-image").getAttribute("src")`); src != imagePath {
				t.Fatalf("picture %q, want %q", src, imagePath)
			}
			body := text("main")
			for _, want := range []string{
				"Spring sticker pack",
				"Five die-cut vinyl stickers from tonight's stream, 7 cm each.\nWeatherproof.",
				"Corner Books locker", "12 Rue des Livres, Lyon", "Open Mon–Sat 9–19", "EU-WEST",
				"Station pop-up", "Gare Part-Dieu, hall 2", "Open daily 7–22", "EU-CENTRAL",
				"Pick up within 4 h", "Pick up within 2 h",
				"This code works for",
				"If the pickup fails or is refused, you get a replacement code on your receipt.",
				"No sign-up: this phone is your ticket.",
				"Claim it",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("the page does not say %q:\n%s", want, body)
				}
			}
			if n := eval(`String(document.querySelectorAll("#dw-nodes input[type=radio]").length)`); n != "2" {
				t.Errorf("%s nodes to choose from, want 2", n)
			}
			clock := text("#dw-clock")
			if !regexp.MustCompile(`^\d+:\d\d$`).MatchString(clock) {
				t.Fatalf("code time left %q", clock)
			}
			left := text("#dw-left")
			if !regexp.MustCompile(`^\d+ of 70 left$`).MatchString(left) {
				t.Fatalf("stock %q", left)
			}

			// Someone else claims: the stock moves here, without reload,
			// and the code's time counts down.
			claimElsewhere(t, url)
			n, _ := strconv.Atoi(strings.Fields(left)[0])
			until("the stock goes down", `document.getElementById("dw-left").textContent === "`+strconv.Itoa(n-1)+` of 70 left"`)
			until("the code's time counts down", `document.getElementById("dw-clock").textContent !== `+jsString(clock))
			if shift := eval(`String(window.dwShift)`); shift != "0" {
				t.Errorf("the page shifted (cumulative layout shift %s) while its live values changed", shift)
			}
			if bad := eval(pageChecks); bad != "" {
				t.Errorf("at %dx%d:\n%s", vp.width, vp.height, bad)
			}
			if vp.mobile {
				// The smallest phones in use.
				if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
					t.Fatal(err)
				}
				if bad := eval(pageChecks); bad != "" {
					t.Errorf("at 360x740:\n%s", bad)
				}
				if w := eval(`String(document.getElementById("dw-submit").getBoundingClientRect().right <= 360)`); w != "true" {
					t.Errorf("Claim it does not fit a 360 px screen")
				}
				if err := chromedp.Do(ctx, emulate); err != nil {
					t.Fatal(err)
				}
			}
			// The whole page, as a viewer scrolls it.
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			writeDoc(t, vp.doc, shot)
			browsertest.Screenshot(t, ctx, "claimpage-"+vp.doc)

			// Claim, then scan the same QR again: the receipt.
			if err := chromedp.Do(ctx, chromedp.Click("#dw-submit"), chromedp.WaitVisible("#dw-qr svg")); err != nil {
				t.Fatal(err)
			}
			receiptPath, code := eval(`location.pathname`), text("#dw-code")
			if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("#dw-claimed")); err != nil {
				t.Fatal(err)
			}
			if page := text("body"); strings.Contains(page, "Claim it") || !strings.Contains(page, "You claimed this") ||
				strings.ReplaceAll(text("#dw-pcode"), "-", "") != strings.ReplaceAll(code, "-", "") {
				t.Fatalf("the revisit shows:\n%s", page)
			}
			if href := eval(`document.getElementById("dw-receipt-link").getAttribute("href")`); href != receiptPath {
				t.Fatalf("the revisit's receipt link %q, want %q", href, receiptPath)
			}
			if bad := eval(pageChecks); bad != "" {
				t.Errorf("the revisit at %dx%d:\n%s", vp.width, vp.height, bad)
			}
			browsertest.Screenshot(t, ctx, "claimpage-claimed-"+vp.doc)
		})
	}
}

// Sold out says so, with the time it sold out in the viewer's own time
// zone, on the open page without a reload; a code that runs out while the
// page is open says to scan the QR on stream and offers nothing more.
func TestBrowserClaimPageSoldOutAndExpired(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := presentedConfig(t, base)
	cfg.Drops[0].QRRotate = config.Duration(time.Second)
	cfg.Drops[0].ScanGrace = config.Duration(time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	serveApp(t, ln, cfg)
	hook(t, base, "evt-1", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
	// A second server whose codes last: one unit to sell out.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base2 := "http://" + ln2.Addr().String()
	cfg2 := presentedConfig(t, base2)
	cfg2.Drops[0].Stock = []config.StockLine{{Node: "corner", SKU: "sticker-pack", Qty: 1}}
	// An image that does not load (never uploaded).
	cfg2.Drops[0].Image = "/i/00000000000000000000000000000000.png"
	if err := cfg2.Validate(); err != nil {
		t.Fatal(err)
	}
	serveApp(t, ln2, cfg2)
	hook(t, base2, "evt-1", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)

	ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{}), 90*time.Second)
	defer cancel()
	const zone = "America/New_York"
	loc, err := time.LoadLocation(zone)
	if err != nil {
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
	until := func(what, js string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](js)); err != nil {
			t.Fatalf("%s: %v\npage: %s", what, err, eval(`document.querySelector("main").innerText`))
		}
	}
	open := func(base string) string {
		t.Helper()
		url := shownCode(t, base)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil && !strings.Contains(err.Error(), "already in effect") {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("#dw-submit")); err != nil {
			t.Fatal(err)
		}
		return url
	}

	// The code runs out: rotation and grace are a second each. This drop
	// has no image: nothing in its place, nothing amiss.
	open(base)
	if n := eval(`String(document.querySelectorAll("figure, img").length)`); n != "0" {
		t.Fatalf("a drop without an image shows %s figures", n)
	}
	if bad := eval(pageChecks); bad != "" {
		t.Errorf("without an image:\n%s", bad)
	}
	until("the code expires on the open page", `!document.getElementById("dw-message").hidden`)
	if msg, form := eval(`document.getElementById("dw-message").textContent`), eval(`String(document.getElementById("dw-form").hidden)`); msg != "This code expired: scan the QR on stream now." || form != "true" {
		t.Fatalf("expired code: %q, form hidden %s", msg, form)
	}

	// The last unit goes while the page is open.
	url := open(base2)
	// The image fails: its box stays as it was and says what it showed.
	until("the failed image is noticed", `document.getElementById("dw-figure").classList.contains("dw-noimg")`)
	if box := eval(`(() => { const r = document.getElementById("dw-figure").getBoundingClientRect(); return Math.round(r.width * 10 / 16) + " " + Math.round(r.height); })()`); box[:strings.Index(box, " ")] != box[strings.Index(box, " ")+1:] {
		t.Errorf("the failed image's box is %s (16:10 height, height)", box)
	}
	if alt := eval(`getComputedStyle(document.getElementById("dw-figure"), "::after").content`); alt != `"The reward: Spring sticker pack"` {
		t.Errorf("the failed image's box says %s", alt)
	}
	if bad := eval(pageChecks); bad != "" {
		t.Errorf("with a failed image:\n%s", bad)
	}
	browsertest.Screenshot(t, ctx, "claimpage-no-image.png")
	claimElsewhere(t, url)
	until("sold out shows without reload", `!document.getElementById("dw-message").hidden`)
	res, err := http.Get(base2 + "/v1/codes/" + url[strings.LastIndex(url, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Status    string
		SoldOutAt time.Time `json:"sold_out_at"`
	}
	_ = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if st.Status != "sold_out" || st.SoldOutAt.IsZero() {
		t.Fatalf("code status %+v", st)
	}
	want := "Sold out at " + st.SoldOutAt.In(loc).Format("3:04 PM") + ": every reward of this drop has been claimed."
	msg := strings.NewReplacer("\u202f", " ", "\u00a0", " ").Replace(eval(`document.getElementById("dw-message").textContent`))
	if msg != want || eval(`String(document.getElementById("dw-form").hidden)`) != "true" {
		t.Fatalf("sold out says %q, want %q (in %s)", msg, want, zone)
	}
	browsertest.Screenshot(t, ctx, "claimpage-sold-out.png")
}
