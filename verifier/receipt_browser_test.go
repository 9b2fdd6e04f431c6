package verifier_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
)

// viewports are the screens every viewer page is tested at.
var viewports = []struct {
	name string
	o    browsertest.Options
}{
	{"phone", browsertest.Options{Width: 390, Height: 844, Mobile: true, DeviceScale: 2}},
	{"desktop", browsertest.Options{Width: 1280, Height: 800}},
}

// browserTimeout bounds each browser test, so a page that never shows
// what is awaited fails the test instead of hanging the suite.
const browserTimeout = 3 * time.Minute

// page is one browser tab of a test.
type page struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts a Chromium with a fresh profile at the viewport o.
func newBrowser(t *testing.T, o browsertest.Options) page {
	t.Helper()
	ctx, cancel := context.WithTimeout(browsertest.New(t, o), browserTimeout)
	t.Cleanup(cancel)
	return page{t: t, ctx: ctx}
}

// otherViewer opens a tab in a new browser context of p's browser: its
// own cookies and storage, as another phone.
func (p page) otherViewer(o browsertest.Options) page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithNewBrowserContext())
	p.t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(max(o.DeviceScale, 1))}
	if o.Mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(o.Width, o.Height, opts...)); err != nil {
		p.t.Fatal(err)
	}
	return page{t: p.t, ctx: ctx}
}

func (p page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p page) str(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// wait polls the page until expression is true, through navigations
// (an evaluation that meets one is tried again).
func (p page) wait(what, expression string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) && p.ctx.Err() == nil {
		var ok bool
		ok, err = chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(function () { try { return !!(`+expression+`); } catch (e) { return false; } })()`))
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	p.t.Fatalf("waiting for %s: %v\npage: %s", what, err, body)
}

// claim claims on the claim page at url as a viewer taps Claim it, and
// returns the claim id of the receipt it lands on.
func (p page) claim(url string) string {
	p.t.Helper()
	p.do("claim page", chromedp.Navigate(url), chromedp.WaitVisible("#dw-submit"), chromedp.Click("#dw-submit"))
	p.wait("the receipt", `location.pathname.startsWith("/r/") && !!document.getElementById("dw-code") &&
		document.getElementById("dw-code").textContent.length > 0`)
	return strings.TrimPrefix(p.str(`location.pathname`), "/r/")
}

// shot takes a full-page screenshot, keeps it as an artifact and, with
// DROPWIRE_DOCS=1, as docs/<docs> (the README's pictures), and returns
// it.
func (p page) shot(name, docs string) image.Image {
	p.t.Helper()
	b, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ArtifactDir(p.t), name), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if docs != "" && os.Getenv("DROPWIRE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", docs), b, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	return img
}

const lockerPIN, lockerSlot = "482913", "B-14"

// The open receipt follows the claim without a reload: a claim.ready
// with a locker shows its slot and PIN (copyable), a failed pickup shows
// the replacement code, another viewer's failed pickup another code; the
// saved link opens the receipt in a fresh browser profile.
func TestReceiptLive(t *testing.T) {
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			e := newReceiptEnv(t, nil)
			hook(t, e.base, "evt-open", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
			url := shownCode(t, e.base)

			a := newBrowser(t, vp.o)
			b := a.otherViewer(vp.o)
			idA, idB := a.claim(url), b.claim(url)
			if idA == idB {
				t.Fatalf("two viewers got one claim %s", idA)
			}
			// A reload would lose these.
			a.str(`window.dwMark = "same page"`)
			b.str(`window.dwMark = "same page"`)
			tokenA := a.str(`localStorage.getItem("dw_receipt:` + idA + `") || ""`)
			if strings.Count(tokenA, ".") != 2 || a.str(`location.hash`) != "" {
				t.Fatalf("stored receipt %q, hash %q", tokenA, a.str(`location.hash`))
			}

			e.nodeEvent("corner", "ready-"+idA, `{"type":"claim.ready","claim":"`+idA+`","locker":{"slot":"`+lockerSlot+`","pin":"`+lockerPIN+`"}}`)
			a.wait("the locker PIN", `!document.getElementById("dw-locker").hidden && document.getElementById("dw-pin").textContent === "`+lockerPIN+`"`)
			if got := a.str(`[dwMark, document.getElementById("dw-slot").textContent, document.getElementById("dw-state").textContent,
				document.getElementById("dw-now-title").textContent, document.querySelector('[data-copy="dw-pin"]').getAttribute("aria-label")].join("|")`); got != "same page|"+lockerSlot+"|Ready for pickup|Ready in a locker|Copy the locker PIN" {
				t.Fatalf("ready receipt: %s", got)
			}
			// The deadline counts down from the node's ready time.
			a.wait("the countdown", `/^\(\d+ h \d\d min left\)$/.test(document.getElementById("dw-left").textContent)`)

			// Live values (the countdown, each poll) move nothing on the page.
			a.str(`window.dwShift = 0; new PerformanceObserver(function (l) { l.getEntries().forEach(function (e) {
				if (!e.hadRecentInput) window.dwShift += e.value; }); }).observe({type: "layout-shift"}); "observing"`)
			a.do("three ticks", chromedp.Sleep(3*time.Second))
			if shift := a.str(`String(window.dwShift)`); shift != "0" {
				t.Fatalf("layout shift %s while the countdown ran", shift)
			}

			if vp.o.Mobile {
				// A 360 px phone: nothing runs off the side, the PIN stays on one line.
				a.do("360 px", chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile))
				if got := a.str(`var pin = document.getElementById("dw-pin");
					[document.documentElement.scrollWidth <= 360, pin.getBoundingClientRect().height < 1.6 * parseFloat(getComputedStyle(pin).fontSize),
					pin.scrollWidth <= pin.clientWidth].join("|")`); got != "true|true|true" {
					t.Fatalf("at 360 px (page fits, PIN on one line, PIN fits its box): %s", got)
				}
				a.do("back", chromedp.EmulateViewport(vp.o.Width, vp.o.Height, chromedp.EmulateScale(vp.o.DeviceScale), chromedp.EmulateMobile))
			}

			// The receipt QR, read off the screen as the node's scanner
			// would, is the receipt.
			if qr := browsertest.DecodeQR(t, a.shot("receipt-ready-"+vp.name+".png", docsName(vp.name, "receipt-ready.png"))); qr != tokenA {
				t.Fatalf("receipt QR holds %q, want the receipt", qr)
			}

			// Copy puts the PIN on the clipboard.
			if _, err := chromedp.CallBrowser(a.ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: "clipboard-read"}, Setting: browser.PermissionSettingGranted, Origin: e.base}); err != nil {
				t.Fatal(err)
			}
			a.do("copy the PIN", chromedp.Click(`[data-copy="dw-pin"]`))
			a.wait("Copied", `document.querySelector('[data-copy="dw-pin"]').textContent === "Copied"`)
			clip, err := chromedp.Run(a.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			if err != nil || clip != lockerPIN {
				t.Fatalf("clipboard %q %v", clip, err)
			}

			e.nodeEvent("corner", "failed-"+idA, `{"type":"claim.failed","claim":"`+idA+`","reason":"locker jammed"}`)
			e.nodeEvent("corner", "failed-"+idB, `{"type":"claim.failed","claim":"`+idB+`"}`)
			shown := `!document.getElementById("dw-compcode").hidden && document.getElementById("dw-comp-code").textContent.length > 0`
			a.wait("the replacement code", shown)
			b.wait("the other viewer's replacement code", shown)
			codeA := a.str(`document.getElementById("dw-comp-code").textContent`)
			codeB := b.str(`document.getElementById("dw-comp-code").textContent`)
			if codeA == codeB || !slices.Contains(compCodes, codeA) || !slices.Contains(compCodes, codeB) {
				t.Fatalf("replacement codes %q and %q", codeA, codeB)
			}
			for _, p := range []page{a, b} {
				// The pickup code and its QR are gone: a node would refuse them.
				if got := p.str(`[dwMark, document.getElementById("dw-state").textContent, document.getElementById("dw-locker").hidden,
					document.getElementById("dw-now-text").textContent, document.getElementById("dw-qr").offsetParent === null,
					document.getElementById("dw-code").offsetParent === null].join("|")`); got != "same page|Compensated|true|The pickup did not work out. Here is your replacement code.|true|true" {
					t.Fatalf("compensated receipt: %s", got)
				}
			}
			a.shot("receipt-compensated-"+vp.name+".png", docsName(vp.name, "receipt-compensated.png"))

			// Save this receipt: the link carries the receipt after "#".
			a.do("save", chromedp.Click("#dw-save"), chromedp.WaitVisible("#dw-link"))
			link := a.str(`document.getElementById("dw-link").value`)
			if link != e.base+"/r/"+idA+"#"+tokenA {
				t.Fatalf("saved link %q", link)
			}
			a.do("copy the link", chromedp.Click("#dw-copy-link"))
			a.wait("link copied", `document.getElementById("dw-copy-link").textContent === "Copied"`)

			// Another device: a fresh profile that never saw the claim.
			f := newBrowser(t, vp.o)
			f.do("open the saved link", chromedp.Navigate(link))
			f.wait("the receipt on another device", `document.getElementById("dw-comp-code").textContent === "`+codeA+`"`)
			if got := f.str(`[location.pathname, location.hash, localStorage.getItem("dw_receipt:` + idA + `") === "` + tokenA + `"].join("|")`); got != "/r/"+idA+"||true" {
				t.Fatalf("fresh profile: %s", got)
			}
		})
	}
}

// docsName is the docs/ picture a phone run makes, "" for the others.
func docsName(viewport, name string) string {
	if viewport != "phone" {
		return ""
	}
	return name
}

// /me lists the receipts this device holds, newest first, with their
// states: two claims on two drops, two receipts.
func TestMeListsReceipts(t *testing.T) {
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			e := newReceiptEnv(t, func(c *config.Config) {
				summer := c.Drops[0]
				summer.ID, summer.Title = "summer", "Summer badge"
				summer.Stock = []config.StockLine{{Node: "station", SKU: "badge", Qty: 5}}
				summer.Compensation = config.Compensation{Kind: config.CompensationNone}
				c.Drops = append(c.Drops, summer)
			})
			p := newBrowser(t, vp.o)
			hook(t, e.base, "evt-open-spring", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
			spring := p.claim(shownCode(t, e.base))
			hook(t, e.base, "evt-close-spring", `{"type":"drop.close","drop":"spring"}`)
			hook(t, e.base, "evt-open-summer", `{"type":"drop.trigger","drop":"summer","moment":"m-2"}`)
			summer := p.claim(shownCode(t, e.base))
			if !strings.HasPrefix(summer, "summer.") || !strings.HasPrefix(spring, "spring.") {
				t.Fatalf("claims %s and %s", spring, summer)
			}
			// The nodes are hosted: the forwarder hands the claim to the
			// node's console at once.
			p.wait("summer forwarded", `document.getElementById("dw-receipt").getAttribute("data-state") === "forwarded"`)
			e.nodeEvent("corner", "ready-"+spring, `{"type":"claim.ready","claim":"`+spring+`"}`)

			p.do("open /me", chromedp.Navigate(e.base+"/me"))
			p.wait("two receipts with their states", `document.querySelectorAll(".dw-item").length === 2 &&
				![].some.call(document.querySelectorAll(".dw-item .dw-state"), function (s) { return s.textContent === "Checking…"; })`)
			got := p.str(`[].map.call(document.querySelectorAll(".dw-item"), function (a) {
				return [a.getAttribute("href"), a.querySelector(".dw-item-title").textContent, a.querySelector(".dw-state").textContent].join(" ");
			}).join("\n")`)
			want := "/r/" + summer + " Summer badge Sent to the pickup point\n/r/" + spring + " Spring sticker pack Ready for pickup"
			if got != want {
				t.Fatalf("/me lists:\n%s\nwant:\n%s", got, want)
			}
			p.shot("me-"+vp.name+".png", "")
		})
	}
}

// The recovery link carries the receipt in its fragment: a fresh browser
// opening it shows the receipt, and the receipt is in no request line or
// header the server received (it goes only as the Authorization of the
// API calls) and in no line of the server's log.
func TestRecoveryLinkKeepsReceiptFromServer(t *testing.T) {
	e := newReceiptEnv(t, nil)
	hook(t, e.base, "evt-open", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
	id, receipt := e.claimHTTP(shownCode(t, e.base))
	e.nodeEvent("corner", "ready-"+id, `{"type":"claim.ready","claim":"`+id+`","locker":{"slot":"`+lockerSlot+`","pin":"`+lockerPIN+`"}}`)

	p := newBrowser(t, viewports[0].o)
	p.do("open the recovery link", chromedp.Navigate(e.base+"/r/"+id+"#"+receipt))
	p.wait("the receipt", `document.getElementById("dw-pin").textContent === "`+lockerPIN+`" && !!document.querySelector("#dw-qr svg")`)
	// A few polls later, a visit to /me and back, all with the receipt.
	p.do("save, /me, back", chromedp.Click("#dw-save"), chromedp.Sleep(3*time.Second), chromedp.Navigate(e.base+"/me"),
		chromedp.WaitVisible(".dw-item"))
	p.wait("/me's state", `document.querySelector(".dw-item .dw-state").textContent === "Ready for pickup"`)
	p.do("back to the receipt", chromedp.Click(".dw-item"))
	p.wait("the receipt again", `document.getElementById("dw-pin").textContent === "`+lockerPIN+`"`)

	// A mangled link says so and does not replace the receipt kept here.
	p.do("a mangled link", chromedp.Navigate(e.base+"/me"), chromedp.Navigate(e.base+"/r/"+id+"#eyJh.bad.link"))
	p.wait("the refusal", `document.getElementById("dw-error").textContent === "This receipt has expired or is not valid here."`)
	if kept := p.str(`localStorage.getItem("dw_receipt:` + id + `")`); kept != receipt {
		t.Fatalf("a mangled link replaced the kept receipt with %q", kept)
	}

	// The token, and its signature alone, anywhere but Authorization.
	sig := receipt[strings.LastIndexByte(receipt, '.')+1:]
	reqs := e.requests()
	var pageSeen, apiSeen bool
	for _, r := range reqs {
		pageSeen = pageSeen || strings.HasPrefix(r, "GET /r/"+id+" HTTP/1.1\n")
		apiSeen = apiSeen || strings.HasPrefix(r, "GET /v1/claims/"+id)
		if strings.Contains(r, sig) {
			t.Errorf("the server received the receipt outside Authorization:\n%s", r)
		}
	}
	if !pageSeen || !apiSeen {
		t.Fatalf("the recorder missed the page or its API calls:\n%s", strings.Join(reqs, "\n"))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"path":"/r/`+id+`"`) {
		t.Fatalf("the log has no request line of the receipt page (is it at debug level?):\n%s", logs)
	}
	if strings.Contains(logs, sig) {
		t.Fatalf("the receipt is in the log:\n%s", logs)
	}
}
