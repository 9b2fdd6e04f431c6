package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestFaultKillDuringClaimBurst: `dropwire serve` is SIGKILLed while 600
// phones claim 300 rewards, and started again. Phones whose request failed
// retry with the same Idempotency-Key against the new process. Every
// phone ends with a claim or "sold out"; the claims are exactly the stock;
// each reads back with its receipt; the node gets each under one
// webhook-id. On one Redis, and on a Redis Cluster.
func TestFaultKillDuringClaimBurst(t *testing.T) {
	storetest.EachRedis(t, testFaultKillDuringClaimBurst)
}

func testFaultKillDuringClaimBurst(t *testing.T, be storetest.Backend) {
	const stock, phones, concurrent = 300, 600, 24
	prefix := storetest.Prefix(t)
	be.Open(t, prefix) // deletes the keys when the test ends
	srcSecret, nodeSecret := newSecret(), newSecret()
	node := newFaultNode(t, "shop", nodeSecret, nil)
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	cfg := writeFile(t, "dw.yaml", faultConfig(be.URL(), prefix)+fmt.Sprintf(`creators:
  - id: ava
    overlay_keys: [%q]
sources:
  - id: capture
    creator: ava
    scheme: standard
    secrets: [%q]
nodes:
  - id: shop
    url: %q
    secret: %q
    timeout: 1s
    retry_base: 50ms
    retry_max: 200ms
drops:
  - id: burst
    creator: ava
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: %d}
`, faultOverlayKey, srcSecret, srv.URL+"/hook", nodeSecret, stock))

	first := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	var base atomic.Pointer[string]
	setBase := func(p *proc) { u := "http://" + p.addr; base.Store(&u) }
	setBase(first)
	code := openDrop(t, *base.Load(), "capture", srcSecret, "burst", "ava", faultOverlayKey)

	type result struct {
		final   answer
		retries int
		bad     []string
	}
	results := make([]result, phones)
	jobs := make(chan int, phones)
	for i := range phones {
		jobs <- i
	}
	close(jobs)
	ctx := t.Context()
	var answered atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // before the processes are killed: phones stop on ctx
	for range concurrent {
		wg.Go(func() {
			for i := range jobs {
				v := newViewer(fmt.Sprintf("burst-phone-%d", i), 10*time.Second)
				r := &results[i]
				hasCookie := false
				for ctx.Err() == nil {
					// A phone without an answer (connection lost or
					// refused, or no answer in time) tries again, with
					// the same Idempotency-Key, on whatever process now
					// answers.
					if !hasCookie {
						a := v.page(*base.Load(), code)
						if a.err != nil || a.storeUnavailable() {
							r.retries++
							time.Sleep(50 * time.Millisecond)
							continue
						}
						if a.status != http.StatusOK {
							r.bad = append(r.bad, "claim page: "+a.String())
							break
						}
						hasCookie = true
					}
					a := v.claim(*base.Load(), code)
					if a.err != nil || a.storeUnavailable() {
						r.retries++
						time.Sleep(50 * time.Millisecond)
						continue
					}
					r.final = a
					ok := (a.status == http.StatusCreated || a.status == http.StatusOK) && a.claimID != "" && a.receipt != "" ||
						a.status == http.StatusGone && a.code == "sold_out"
					if !ok {
						r.bad = append(r.bad, "claim: "+a.String())
					}
					break
				}
				answered.Add(1)
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	waitFor(t, 60*time.Second, "a sixth of the phones answered before the kill", func() bool { return answered.Load() >= phones/6 })
	first.signal(syscall.SIGKILL, 10*time.Second)
	atKill := answered.Load()
	second := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	setBase(second)
	select {
	case <-allDone:
	case <-time.After(90 * time.Second):
		t.Fatalf("phones still claiming 90 s after the restart (%d of %d answered)", answered.Load(), phones)
	}

	claims := map[string]string{} // claim id → receipt
	var created, again, soldOut, retried int
	for i, r := range results {
		for _, b := range r.bad {
			t.Errorf("phone %d: %s", i, b)
		}
		retried += min(r.retries, 1)
		switch r.final.status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
			again++
		case http.StatusGone:
			soldOut++
			continue
		default:
			continue
		}
		if _, dup := claims[r.final.claimID]; dup {
			t.Errorf("claim %s answered to two phones", r.final.claimID)
		}
		claims[r.final.claimID] = r.final.receipt
	}
	t.Logf("%d phones answered before the kill; %d retried; %d created, %d answered to a retry, %d sold out",
		atKill, retried, created, again, soldOut)
	if t.Failed() {
		t.FailNow()
	}
	if retried == 0 {
		t.Fatal("no phone had to retry: the kill missed the burst")
	}
	b := *base.Load()
	left, total := dropStock(t, b, faultAdminToken, "burst")
	if total != stock || left != 0 || len(claims) != stock || soldOut != phones-stock {
		t.Fatalf("stock %d/%d left; %d claims, %d sold out: want every one of %d rewards claimed once, the other %d phones told sold out",
			left, total, len(claims), soldOut, stock, phones-stock)
	}
	readBack(t, b, claims)
	waitFor(t, 60*time.Second, "the node to get every claim", func() bool {
		for id := range claims {
			if !node.has(id) {
				return false
			}
		}
		return true
	})
	node.check(t)
	for _, id := range node.claims() {
		if _, ok := claims[id]; !ok {
			t.Errorf("the node got claim %s, which no phone was given", id)
		}
	}
}
