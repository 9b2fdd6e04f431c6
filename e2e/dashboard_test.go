package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
)

// artifacts is where the browser test leaves its screenshots (gitignored).
const artifacts = "artifacts"

// TestDashboardWholeLoop drives `dropwire demo` the way a new creator
// does: sign in to the dashboard, create a drop, press "Test drop"; the
// overlay in a second tab shows the QR; a phone in a third tab claims; the
// dashboard's numbers move until the built-in demo node confirms pickup.
func TestDashboardWholeLoop(t *testing.T) {
	p := start(t, nil, "demo", "--listen", "127.0.0.1:0", "--pickup-after", "3s", "--qr-terminal")
	p.waitOutput("Stop with Ctrl-C.")
	out := p.Stdout()
	token := field(t, out, "Admin token:")
	overlayURL := field(t, out, "Overlay (OBS browser source, 1920x1080):")

	dash := browsertest.New(t, browsertest.Options{Width: 1280, Height: 1000})
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", what, err, p.Stdout(), p.Stderr())
		}
	}

	// 1. Sign in: the token goes to sessionStorage, never into the URL.
	run(dash, "sign in",
		chromedp.Navigate(p.url("/dashboard")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`[data-creator="demo"]`)),
	)
	loc, err := chromedp.Run(dash, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := chromedp.Run(dash, chromedp.Evaluate[string](`sessionStorage.getItem("dw-admin-token")`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, token) || stored != token {
		t.Fatalf("token: url %q, sessionStorage %q", loc, stored)
	}

	// 2. Create a drop.
	run(dash, "create drop",
		chromedp.SendKeys(chromedp.CSS("#new-id"), "spring"),
		chromedp.SendKeys(chromedp.CSS("#new-title"), "Spring stickers"),
		chromedp.SetValue(chromedp.CSS("#new-qty"), "3"),
		chromedp.Click(chromedp.CSS("#create")),
		chromedp.WaitVisible(chromedp.CSS(`[data-drop="spring"] .badge.idle`)),
	)

	// 3. The overlay in a second tab; the dashboard sees it connected.
	ov, cancelO := chromedp.NewContext(dash, chromedp.WithNewBrowserContext())
	defer cancelO()
	// A tab lives as long as the context of its first run: no timeout there.
	if err := chromedp.Do(ov, chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	run(ov, "open overlay",
		chromedp.Navigate(overlayURL),
		chromedp.WaitReady(chromedp.CSS("#dw-overlay")),
	)
	run(dash, "overlay connected",
		chromedp.WaitVisible(chromedp.CSS(`[data-creator="demo"] .conn[data-overlays="1"]`)))

	// 4. Test drop: a sandbox copy opens through the signed webhook path.
	run(dash, "test drop",
		chromedp.Click(chromedp.CSS(`[data-drop="spring"] button[data-action="test"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-drop^="spring-test-"] .badge.open`)),
	)
	run(ov, "overlay shows the QR",
		front(),
		pollTrue(`!!document.querySelector("#dw-overlay.dw-status-open #dw-qr svg")`, 15*time.Second),
		chromedp.Sleep(700*time.Millisecond), // the card's entrance transition
	)
	shot(ov, "dashboard-overlay.png")

	// 5. A phone claims from the URL the terminal printed under its QR.
	re := regexp.MustCompile(`http://` + regexp.QuoteMeta(p.addr) + `/c/[A-Z0-9]+`)
	deadline := time.Now().Add(10 * time.Second)
	var claimURL string
	for claimURL == "" {
		if m := re.FindAllString(p.Stdout(), -1); len(m) > 0 {
			claimURL = m[len(m)-1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the demo never printed a claim QR:\n%s", p.Stdout())
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !strings.Contains(p.Stdout(), "▀") {
		t.Fatal("no half-block QR in the terminal output")
	}
	phone, cancelP := chromedp.NewContext(dash, chromedp.WithNewBrowserContext())
	defer cancelP()
	if err := chromedp.Do(phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
	run(phone, "claim on a phone",
		front(),
		chromedp.Navigate(claimURL),
		chromedp.WaitVisible(chromedp.CSS("#dw-submit")),
	)
	shot(phone, "dashboard-phone-claim.png")
	run(phone, "claim", chromedp.Click(chromedp.CSS("#dw-submit")))
	// The page goes to the receipt on success: wait for the navigation.
	for deadline := time.Now().Add(10 * time.Second); ; {
		loc, _ := chromedp.Run(phone, chromedp.Location())
		if strings.Contains(loc, "/r/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the claim did not lead to a receipt: at %q", loc)
		}
		time.Sleep(100 * time.Millisecond)
	}
	run(phone, "receipt", chromedp.WaitVisible(chromedp.CSS("body")), chromedp.Sleep(800*time.Millisecond))
	shot(phone, "dashboard-phone-receipt.png")

	// 6. The dashboard's numbers move: 1 claim, stock -1, then picked up.
	sandbox := `[data-drop^="spring-test-"]`
	run(dash, "claim counted",
		front(),
		chromedp.WaitVisible(chromedp.CSS(sandbox+` .stat-claims b`)),
		pollTrue(`document.querySelector('`+sandbox+` .stat-claims b').textContent === "1" &&
			document.querySelector('`+sandbox+` .stat-left b').textContent === "4 / 5"`, 10*time.Second),
	)
	shot(dash, "dashboard-claimed.png")
	run(dash, "picked up",
		pollTrue(`document.querySelector('`+sandbox+` .stat-picked b').textContent === "1"`, 15*time.Second),
		chromedp.Sleep(300*time.Millisecond),
	)
	rate, err := chromedp.Run(dash, chromedp.Text(chromedp.CSS(sandbox+` .stat-rate b`)))
	if err != nil {
		t.Fatal(err)
	}
	if rate != "100%" {
		t.Fatalf("redemption rate %q, want 100%%", rate)
	}
	shot(dash, "dashboard.png")

	// 7. A real drop goes live (the signed curl the demo printed): the
	// overlay shows it, not the test, and Test drop says why it refuses.
	req := curlRequest(t, out)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("real trigger: %d", res.StatusCode)
	}
	run(ov, "overlay shows the real drop over the test",
		front(),
		pollTrue(`document.querySelector("#dw-title").textContent === "Demo sticker pack" &&
			!!document.querySelector("#dw-overlay.dw-status-open #dw-qr svg")`, 15*time.Second),
	)
	run(dash, "test refused while live",
		front(),
		chromedp.WaitVisible(chromedp.CSS(`[data-drop="demo-drop"] .badge.open`)),
		chromedp.Click(chromedp.CSS(`[data-drop="spring"] button[data-action="test"]`)),
		pollTrue(`document.querySelector('[data-drop="spring"] .error').textContent.includes("\u201cDemo sticker pack\u201d is live on stream")`, 10*time.Second),
	)
	shot(dash, "dashboard-drop-live.png")

	// 8. Delete the test drop, confirming the dialog; the configured drop
	// offers no Delete, the never-opened spring does.
	visible := func(sel string) string {
		return `(function () { var b = document.querySelector('` + sel + ` button[data-action="delete"]'); return !!b && !b.hidden; })()`
	}
	run(dash, "delete buttons",
		pollTrue(visible(sandbox)+` && `+visible(`[data-drop="spring"]`)+` && !`+visible(`[data-drop="demo-drop"]`), 10*time.Second))
	dialogs := chromedp.Events(dash, page.JavascriptDialogOpening)
	confirmed := make(chan string, 1)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			confirmed <- ev.Message
			_, _ = chromedp.Call(dash, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			return
		}
	}()
	run(dash, "delete the test drop",
		chromedp.Click(chromedp.CSS(sandbox+` button[data-action="delete"]`)),
		pollTrue(`!document.querySelector('`+sandbox+`')`, 10*time.Second),
		chromedp.Sleep(2*time.Second), // a poll or two: it stays gone
		pollTrue(`!document.querySelector('`+sandbox+`') && !!document.querySelector('[data-drop="spring"]')`, time.Second),
	)
	if msg := <-confirmed; !strings.Contains(msg, "test drop") {
		t.Fatalf("confirm dialog: %q", msg)
	}
	shot(dash, "dashboard-deleted.png")
}

// curlRequest rebuilds the signed webhook of the curl command the demo
// printed.
func curlRequest(t *testing.T, out string) *http.Request {
	t.Helper()
	i := strings.Index(out, "curl -sS -X POST ")
	if i < 0 {
		t.Fatalf("no curl command in:\n%s", out)
	}
	quoted := regexp.MustCompile(`'([^']*)'`)
	var url, body string
	h := http.Header{}
	for _, line := range strings.Split(out[i:], "\n") {
		q := quoted.FindStringSubmatch(line)
		switch {
		case q == nil:
		case strings.HasPrefix(line, "curl "):
			url = q[1]
		case strings.Contains(line, "-H "):
			k, v, _ := strings.Cut(q[1], ": ")
			h.Set(k, v)
		case strings.Contains(line, "--data "):
			body = q[1]
		}
		if !strings.HasSuffix(line, "\\") {
			break
		}
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil || body == "" {
		t.Fatalf("curl command: %v %q", err, out[i:])
	}
	req.Header = h
	return req
}

// front makes the tab the active one: background tabs do not paint.
func front() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{})
		return err
	})
}

// pollTrue waits until expression is true in the page.
func pollTrue(expression string, within time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(within))(ctx, tg)
		return err
	})
}

// field returns the value printed after label on one line of out.
func field(t *testing.T, out, label string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if _, v, ok := strings.Cut(line, label); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q in:\n%s", label, out)
	return ""
}
