package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestDashboardNodeDeliveries: a node answering 500 shows on the
// dashboard's Nodes section with its breaker open and the failing
// attempts; past its retry_horizon the claim is dead-lettered; the node
// is fixed, and Replay on the dashboard delivers the claim: it is
// forwarded, and the node has it.
func TestDashboardNodeDeliveries(t *testing.T) {
	prefix := storetest.Prefix(t)
	storetest.RedisWithPrefix(t, prefix)
	sourceSecret, nodeSecret := newSecret(), newSecret()
	node := newFaultNode(t, "shop", nodeSecret, nil)
	var failing atomic.Bool
	failing.Store(true)
	var failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			failed.Add(1)
			http.Error(w, "out of order", http.StatusInternalServerError)
			return
		}
		node.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// Two failures open the breaker for 5 s; the probe after it fails too,
	// and the next attempt would come past the 6 s horizon: dead letter.
	cfg := writeFile(t, "dw.yaml", faultConfig(storetest.URL(), prefix)+fmt.Sprintf(`creators:
  - id: ava
    overlay_keys: [%q]
sources:
  - id: capture-ava
    creator: ava
    scheme: standard
    secrets: [%q]
nodes:
  - id: shop
    name: "Corner Books"
    url: %q
    secret: %q
    timeout: 1s
    retry_base: 100ms
    retry_max: 300ms
    retry_horizon: 6s
    breaker_failures: 2
    breaker_cooldown: 5s
drops:
  - id: plain
    creator: ava
    title: "Plain stickers"
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: 10}
`, faultOverlayKey, sourceSecret, srv.URL+"/hook", nodeSecret))
	p := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := p.url("")

	// The whole browser session is bounded, and each step within it.
	dash, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{Width: 1280, Height: 1000}), 3*time.Minute)
	defer cancel()
	run := func(what string, within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(dash, within)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nstderr:\n%s", what, err, p.Stderr())
		}
	}
	card := `[data-node="shop"]`
	shot := func(name string) {
		t.Helper()
		run("scroll to the node", 10*time.Second, chromedp.ScrollIntoView(chromedp.CSS(card)))
		ctx, cancel := context.WithTimeout(dash, 10*time.Second)
		defer cancel()
		browsertest.Screenshot(t, ctx, name)
	}
	run("sign in", 30*time.Second,
		chromedp.Navigate(p.url("/dashboard")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), faultAdminToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(card+` .badge.breaker[data-state="closed"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+` .no-deliveries`)),
	)

	// A viewer claims; the node answers 500.
	code := openDrop(t, base, "capture-ava", sourceSecret, "plain", "ava", faultOverlayKey)
	v := newViewer("phone-1", 5*time.Second)
	if a := v.page(base, code); a.status != http.StatusOK {
		t.Fatalf("claim page: %v", a)
	}
	claim := v.claim(base, code)
	if claim.status != http.StatusCreated {
		t.Fatalf("claim: %v", claim)
	}
	run("breaker open, failing attempts listed", 20*time.Second,
		pollTrue(`(function () {
			var c = document.querySelector('`+card+`');
			var rows = c.querySelectorAll('.deliveries tbody tr[data-result="http_500"]');
			return c.querySelector('.badge.breaker').getAttribute('data-state') === 'open' && rows.length >= 2 &&
				Array.prototype.every.call(rows, function (r) {
					return r.children[2].textContent === '`+claim.claimID+`' && r.children[4].textContent === '500';
				});
		})()`, 15*time.Second),
	)
	shot("dashboard-node-open.png")
	if failed.Load() < 2 {
		t.Fatalf("the node saw %d failing attempts, want at least 2", failed.Load())
	}

	// Past the horizon: a dead letter with Replay, and the claim
	// forward_failed.
	row := card + ` .dead-letters tr[data-claim="` + claim.claimID + `"]`
	run("dead letter listed", 30*time.Second,
		pollTrue(`!!document.querySelector('`+row+` button[data-action="replay"]') &&
			document.querySelector('`+card+` .dl-title').textContent === 'Dead letters (1)'`, 25*time.Second),
	)
	if _, cv := readClaim(base, claim.claimID, claim.receipt); cv.State != "forward_failed" {
		t.Fatalf("claim %s after its dead letter, want forward_failed", cv.State)
	}
	if node.has(claim.claimID) {
		t.Fatal("the failing node accepted the claim")
	}
	shot("dashboard-node-dead-letter.png")

	// The node is fixed; Replay delivers the claim (after the breaker's
	// cooldown, as any attempt to the node).
	failing.Store(false)
	run("replay", 30*time.Second,
		chromedp.Click(chromedp.CSS(row+` button[data-action="replay"]`)),
		pollTrue(`document.querySelector('`+card+` .replay-note').textContent.indexOf('`+claim.claimID+`') >= 0`, 10*time.Second),
	)
	// The replay marks the claim forwarded at once (on its timeline); the
	// node has it once the delivery is made.
	waitFor(t, 30*time.Second, "the node has the replayed claim", func() bool { return node.has(claim.claimID) })
	if _, cv := readClaim(base, claim.claimID, claim.receipt); cv.State != "forwarded" {
		t.Fatalf("claim %s after the replayed delivery, want forwarded (history %v)", cv.State, cv.states())
	}
	node.check(t)
	run("delivered on the dashboard", 20*time.Second,
		pollTrue(`(function () {
			var c = document.querySelector('`+card+`');
			var last = c.querySelector('.deliveries tbody tr');
			return !!last && last.getAttribute('data-result') === 'ok' && last.children[2].textContent === '`+claim.claimID+`' &&
				c.querySelector('.dl-title').textContent === 'Dead letters (0)' &&
				c.querySelector('[data-action="replay-all"]').hidden &&
				c.querySelector('.badge.breaker').getAttribute('data-state') === 'closed';
		})()`, 15*time.Second),
	)
	shot("dashboard-node-replayed.png")
}
