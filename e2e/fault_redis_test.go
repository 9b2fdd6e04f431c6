package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestFaultRedisRestartWithAOF: a private Redis with appendonly yes is
// SIGKILLed while webhooks and claims flow, stays down for two seconds,
// and is started again on the same port and directory; dropwire is not
// restarted. While Redis is down every request is answered, and with 503
// store_unavailable only; afterwards requests succeed again, and nothing
// that was acknowledged is lost: each accepted webhook is a duplicate when
// sent again, each claim reads back with its receipt and reaches the node,
// and the stock taken is the number of claims.
func TestFaultRedisRestartWithAOF(t *testing.T) {
	const phones, senders, claimers = 400, 3, 3
	rs := storetest.StartPrivateRedis(t, "--appendonly", "yes", "--appendfsync", "everysec")
	srcSecret, nodeSecret := newSecret(), newSecret()
	node := newFaultNode(t, "shop", nodeSecret, nil)
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	cfg := writeFile(t, "dw.yaml", faultConfig(rs.URL(), "fault-aof:")+fmt.Sprintf(`creators:
  - id: ava
    overlay_keys: [%q]
sources:
  - id: capture
    creator: ava
    scheme: standard
    secrets: [%q]
    rate: 5000
    burst: 5000
nodes:
  - id: shop
    url: %q
    secret: %q
    timeout: 1s
    retry_base: 50ms
    retry_max: 200ms
drops:
  - id: aof
    creator: ava
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: 1000}
`, faultOverlayKey, srcSecret, srv.URL+"/hook", nodeSecret))
	p := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := "http://" + p.addr
	code := openDrop(t, base, "capture", srcSecret, "aof", "ava", faultOverlayKey)

	// The phones opened the claim page (device cookie) before the outage.
	vs := make(chan *viewer, phones)
	for i := range phones {
		v := newViewer(fmt.Sprintf("aof-phone-%d", i), 5*time.Second)
		if a := v.page(base, code); a.status != http.StatusOK {
			t.Fatalf("claim page: %v", a)
		}
		vs <- v
	}
	close(vs)

	// Every request is kept with when it was sent and answered.
	type attempt struct {
		what, id   string // "hook" with the event id, "claim" with the phone's key
		start, end time.Time
		a          answer
		hookStatus string
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		accepted = map[string]hook{}   // webhooks answered "accepted"
		claims   = map[string]string{} // claim id → receipt
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	ctx := t.Context()
	// A sender retries a 503 as a vendor does, then moves on; once
	// stopped it finishes the request it has.
	retry := func() bool {
		time.Sleep(100 * time.Millisecond)
		return ctx.Err() == nil
	}
	client := &http.Client{Timeout: 5 * time.Second}
	signer := mustSigner(t, srcSecret)
	t.Cleanup(wg.Wait)
	began := time.Now()
	for w := range senders {
		wg.Go(func() {
			for n := 0; !stopped(); n++ {
				h := newHook(signer, fmt.Sprintf("evt-%d-%d", w, n), "aof", "m-open-aof")
				for {
					at := attempt{what: "hook", id: h.id, start: time.Now()}
					at.a, at.hookStatus = h.send(client, base, "capture")
					at.end = time.Now()
					mu.Lock()
					attempts = append(attempts, at)
					if at.a.status == http.StatusAccepted && at.hookStatus == "accepted" {
						accepted[h.id] = h
					}
					mu.Unlock()
					if !at.a.storeUnavailable() || !retry() {
						break
					}
				}
			}
		})
	}
	for range claimers {
		wg.Go(func() {
			for v := range vs {
				if stopped() {
					return
				}
				for {
					at := attempt{what: "claim", id: v.key, start: time.Now()}
					at.a = v.claim(base, code)
					at.end = time.Now()
					mu.Lock()
					attempts = append(attempts, at)
					if (at.a.status == http.StatusCreated || at.a.status == http.StatusOK) && at.a.claimID != "" {
						claims[at.a.claimID] = at.a.receipt
					}
					mu.Unlock()
					if !at.a.storeUnavailable() || !retry() {
						break
					}
				}
			}
		})
	}
	// acked counts the webhooks accepted and the claims made by requests
	// sent after since.
	acked := func(since time.Time) (hooks, made int) {
		mu.Lock()
		defer mu.Unlock()
		for _, at := range attempts {
			switch {
			case at.start.Before(since):
			case at.what == "hook" && at.a.status == http.StatusAccepted && at.hookStatus == "accepted":
				hooks++
			case at.what == "claim" && at.a.status == http.StatusCreated:
				made++
			}
		}
		return hooks, made
	}
	enough := func(since time.Time) func() bool {
		return func() bool { h, c := acked(since); return h >= 30 && c >= 30 }
	}

	waitFor(t, 30*time.Second, "30 webhooks and 30 claims acknowledged before the outage", enough(began))
	rs.Kill()
	down := time.Now() // a request sent from now on finds no Redis
	time.Sleep(2 * time.Second)
	up := time.Now()
	rs.Start()
	waitStatus(t, base+"/readyz", http.StatusOK, 15*time.Second)
	waitFor(t, 30*time.Second, "30 webhooks and 30 claims acknowledged after the restart", enough(up))
	close(stop)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("senders still busy 30 s after they were stopped")
	}

	var whileDown, unavailable int
	for _, at := range attempts {
		ok := false
		switch at.what {
		case "hook":
			ok = at.a.status == http.StatusAccepted && (at.hookStatus == "accepted" || at.hookStatus == "duplicate")
		case "claim":
			ok = (at.a.status == http.StatusCreated || at.a.status == http.StatusOK) && at.a.claimID != "" && at.a.receipt != ""
		}
		if at.a.storeUnavailable() {
			unavailable++
		} else if !ok {
			t.Errorf("%s %s: %v", at.what, at.id, at.a)
		}
		if at.start.After(down) && at.end.Before(up) {
			whileDown++
			if !at.a.storeUnavailable() {
				t.Errorf("%s %s sent and answered while Redis was down: %v", at.what, at.id, at.a)
			}
		}
	}
	if whileDown == 0 {
		t.Fatal("no request was sent and answered while Redis was down")
	}
	var hooksBefore, claimsBefore int // acknowledged before Redis died
	for _, at := range attempts {
		if at.end.Before(down) && at.a.status == http.StatusAccepted && at.hookStatus == "accepted" {
			hooksBefore++
		}
		if at.end.Before(down) && at.a.status == http.StatusCreated {
			claimsBefore++
		}
	}
	t.Logf("%d requests, %d answered 503 store_unavailable (%d sent and answered while Redis was down); "+
		"%d webhooks accepted, %d claims; of them %d and %d before the outage",
		len(attempts), unavailable, whileDown, len(accepted), len(claims), hooksBefore, claimsBefore)
	if t.Failed() {
		t.FailNow()
	}

	// Nothing acknowledged is lost.
	for id, h := range accepted {
		if a, status := h.send(client, base, "capture"); a.status != http.StatusAccepted || status != "duplicate" {
			t.Errorf("webhook %s, accepted before, sent again: %v", id, a)
		}
	}
	readBack(t, base, claims)
	left, total := dropStock(t, base, faultAdminToken, "aof")
	if total-left != int64(len(claims)) {
		t.Errorf("stock %d of %d left after %d claims", left, total, len(claims))
	}
	waitFor(t, 60*time.Second, "the node to get every claim", func() bool {
		for id := range claims {
			if !node.has(id) {
				return false
			}
		}
		return true
	})
	node.check(t)
}
