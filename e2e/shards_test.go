package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// A drop of shards: 4 through HTTP: phones claim at once, each retrying
// its claim with the same Idempotency-Key; every unit is claimed once,
// each retry gets its phone's claim back, the rest are told sold out, the
// admin API sums the shards, and the node gets every claim once. On one
// Redis, and on a Redis Cluster.
func TestShardedDropClaimsOverHTTP(t *testing.T) {
	storetest.EachRedis(t, testShardedDropClaimsOverHTTP)
}

func testShardedDropClaimsOverHTTP(t *testing.T, be storetest.Backend) {
	const stock, phones, concurrent = 30, 90, 16
	prefix := storetest.Prefix(t)
	st := be.Open(t, prefix) // deletes the keys when the test ends
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
  - id: sharded
    creator: ava
    window: 30m
    qr_rotate: 10m
    shards: 4
    stock:
      - {node: shop, sku: sticker, qty: %d}
`, faultOverlayKey, srcSecret, srv.URL+"/hook", nodeSecret, stock))

	p := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := "http://" + p.addr
	code := openDrop(t, base, "capture", srcSecret, "sharded", "ava", faultOverlayKey)
	if left, total := dropStock(t, base, faultAdminToken, "sharded"); left != stock || total != stock {
		t.Fatalf("stock before the rush: %d of %d, want %d of %d", left, total, stock, stock)
	}

	type result struct{ first, retry answer }
	results := make([]result, phones)
	jobs := make(chan int, phones)
	for i := range phones {
		jobs <- i
	}
	close(jobs)
	var wg sync.WaitGroup
	for range concurrent {
		wg.Go(func() {
			for i := range jobs {
				v := newViewer(fmt.Sprintf("shard-phone-%d", i), 30*time.Second)
				if a := v.page(base, code); a.status != http.StatusOK {
					t.Errorf("phone %d: claim page: %v", i, a)
					continue
				}
				results[i].first = v.claim(base, code)
				results[i].retry = v.claim(base, code)
			}
		})
	}
	wg.Wait()

	claims := map[string]bool{}
	soldOut := 0
	for i, r := range results {
		switch {
		case r.first.status == http.StatusCreated && r.first.claimID != "":
			if claims[r.first.claimID] {
				t.Errorf("phone %d: claim %s given twice", i, r.first.claimID)
			}
			claims[r.first.claimID] = true
			if r.retry.status != http.StatusOK || r.retry.claimID != r.first.claimID {
				t.Errorf("phone %d: retry of claim %s answered %v", i, r.first.claimID, r.retry)
			}
		case r.first.status == http.StatusGone && r.first.code == "sold_out":
			soldOut++
			if r.retry.status != http.StatusGone || r.retry.code != "sold_out" {
				t.Errorf("phone %d: told sold out, then %v", i, r.retry)
			}
		default:
			t.Errorf("phone %d: claim answered %v", i, r.first)
		}
	}
	if len(claims) != stock || soldOut != phones-stock {
		t.Fatalf("%d claimed and %d sold out, want %d and %d", len(claims), soldOut, stock, phones-stock)
	}
	if left, total := dropStock(t, base, faultAdminToken, "sharded"); left != 0 || total != stock {
		t.Errorf("stock after the rush: %d of %d, want 0 of %d", left, total, stock)
	}
	// The units were in the four shards' slots, and each is empty now.
	for i := range 4 {
		h, err := st.HGetAll(t.Context(), verifier.ShardKey("sharded", i, "stock"))
		if err != nil || h["shop:sticker"] != "0" {
			t.Errorf("shard %d stock: %v, %v; want shop:sticker 0", i, h, err)
		}
	}
	waitFor(t, 60*time.Second, "the node got every claim", func() bool { return len(node.claims()) == stock })
	for _, c := range node.claims() {
		if !claims[c] {
			t.Errorf("node got claim %s no phone was given", c)
		}
	}
	node.check(t)
	p.signal(syscall.SIGTERM, 15*time.Second)
}
