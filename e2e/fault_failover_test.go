package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestFaultClusterFailover: two `dropwire serve` replicas with
// redis_wait_replicas: 1 on a Redis Cluster of three masters, each with
// two replicas. 300 phones claim 150 rewards over both replicas while a
// capture vendor keeps sending events; in the middle, the master serving
// the drop's slot is SIGKILLed and the cluster promotes its replica.
// Clients see nothing but their answers and 503 store_unavailable, and
// retry (same Idempotency-Key, same event). Once the promotion is done,
// both replicas serve again without a restart, with no 503 at all. No
// claim that was answered 2xx is lost: every one reads back, and the
// claims are exactly the stock (a lost claim's unit would have been
// claimed again). No event answered 202 is forgotten (sent again, it is a
// duplicate), the moment opened once, and overlays on both replicas end
// showing the final stock.
func TestFaultClusterFailover(t *testing.T) {
	const stock, phones, concurrent = 150, 300, 24
	// Two replicas per master: when one master dies, the replica promoted
	// in its place still has a replica, which redis_wait_replicas: 1 needs.
	pc := storetest.StartReplicatedCluster(t, 3, 2, "--cluster-node-timeout", "1000")
	prefix := storetest.Prefix(t)
	clusterURL := "redis+cluster://" + strings.Join(pc.Addrs(), ",")
	srcSecret, nodeSecret := newSecret(), newSecret()
	node := newFaultNode(t, "shop", nodeSecret, nil)
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	cfg := writeFile(t, "dw.yaml", faultConfig(clusterURL, prefix)+fmt.Sprintf(`redis_wait_replicas: 1
creators:
  - id: ava
    overlay_keys: [%q]
sources:
  - id: capture
    creator: ava
    scheme: standard
    secrets: [%q]
    rate: 10000
nodes:
  - id: shop
    url: %q
    secret: %q
    timeout: 1s
    retry_base: 50ms
    retry_max: 200ms
drops:
  - id: failover
    creator: ava
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: %d}
`, faultOverlayKey, srcSecret, srv.URL+"/hook", nodeSecret, stock))

	replicas := []*proc{
		start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0"),
		start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0"),
	}
	base := func(i int) string { return "http://" + replicas[i%2].addr }
	code := openDrop(t, base(0), "capture", srcSecret, "failover", "ava", faultOverlayKey)
	var opened struct {
		OpenedAt *time.Time `json:"opened_at"`
	}
	adminGet(t, base(0), faultAdminToken, "/v1/admin/drops/failover", &opened)
	if opened.OpenedAt == nil {
		t.Fatal("the drop did not open")
	}

	ctx := t.Context()
	overlays := []*overlayWatch{watchOverlay(t, base(0), "failover"), watchOverlay(t, base(1), "failover")}

	// Every answer a client gets, with when: during the promotion, 503
	// store_unavailable is allowed; after it, nothing but answers.
	var promoted atomic.Bool
	var mu sync.Mutex
	var bad []string
	var unavailable, unavailableAfter int
	note := func(what string, a answer) (retry bool) {
		// The claim page is HTML: its 503 is the page saying so.
		pageDown := what == "claim page" && a.err == nil && a.status == http.StatusServiceUnavailable &&
			strings.Contains(a.body, `"status":"error"`)
		if a.err == nil && !a.storeUnavailable() && !pageDown {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case a.err != nil:
			bad = append(bad, what+": "+a.String())
		case promoted.Load():
			unavailableAfter++
		default:
			unavailable++
		}
		return true
	}

	// Phones, half on each replica, retrying like the claim page does.
	type result struct{ final answer }
	results := make([]result, phones)
	jobs := make(chan int, phones)
	for i := range phones {
		jobs <- i
	}
	close(jobs)
	var answered atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for range concurrent {
		wg.Go(func() {
			for i := range jobs {
				v := newViewer(fmt.Sprintf("failover-phone-%d", i), 10*time.Second)
				b := base(i)
				for ctx.Err() == nil {
					if a := v.page(b, code); note("claim page", a) {
						time.Sleep(50 * time.Millisecond)
						continue
					} else if a.status != http.StatusOK {
						mu.Lock()
						bad = append(bad, "claim page: "+a.String())
						mu.Unlock()
						break
					}
					a := v.claim(b, code)
					if note("claim", a) {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					results[i].final = a
					break
				}
				answered.Add(1)
			}
		})
	}

	// The capture vendor: events of the moment that opened the drop
	// (corroboration), each retried until answered 202.
	signer := mustSigner(t, srcSecret)
	var acked []hook
	var stopHooks atomic.Bool
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		for n := 0; !stopHooks.Load() && ctx.Err() == nil; n++ {
			h := newHook(signer, fmt.Sprintf("evt-fo-%d", n), "failover", "m-open-failover")
			retried := false
			for ctx.Err() == nil {
				a, status := h.send(http.DefaultClient, base(n), "capture")
				if note("webhook", a) {
					// A 503 may come after the event was written: its
					// retry is then a duplicate.
					retried = true
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if a.status != http.StatusAccepted || status != "accepted" && !(retried && status == "duplicate") {
					mu.Lock()
					bad = append(bad, "webhook: "+a.String())
					mu.Unlock()
				} else {
					mu.Lock()
					acked = append(acked, h)
					mu.Unlock()
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// Kill the master of the drop's slot a sixth into the burst.
	slot := store.KeySlot(prefix + store.DropKey("failover", "state"))
	master := pc.Owner(slot)
	waitFor(t, 60*time.Second, "a sixth of the phones answered before the kill", func() bool { return answered.Load() >= phones/6 })
	master.Kill()
	atKill := answered.Load()
	newMaster := pc.WaitOwnerChange(slot, master, 30*time.Second)
	// The cluster has promoted; each replica of Dropwire learns it on its
	// own. From their first success on, nothing may fail.
	for i := range replicas {
		// An event runs the drop's script on its slot and waits for the
		// new master's replica (the dead master's other replica, which
		// now follows it).
		probe := 0
		waitFor(t, 20*time.Second, fmt.Sprintf("replica %d to reach the new master", i), func() bool {
			probe++
			a, _ := newHook(signer, fmt.Sprintf("probe-%d-%d", i, probe), "failover", "m-open-failover").send(http.DefaultClient, base(i), "capture")
			return a.err == nil && !a.storeUnavailable()
		})
	}
	promoted.Store(true)
	t.Logf("slot %d moved from %s to %s; %d phones had answered at the kill", slot, master.Addr(), newMaster.Addr(), atKill)

	select {
	case <-waitGroupDone(&wg):
	case <-time.After(60 * time.Second):
		t.Fatalf("phones still claiming 60 s after the promotion (%d of %d answered)", answered.Load(), phones)
	}
	stopHooks.Store(true)
	<-hooksDone

	mu.Lock()
	for _, b := range bad {
		t.Error(b)
	}
	t.Logf("503 store_unavailable: %d during the promotion, %d after; %d events acknowledged", unavailable, unavailableAfter, len(acked))
	if unavailableAfter > 0 {
		t.Errorf("%d requests answered 503 after both replicas served again", unavailableAfter)
	}
	mu.Unlock()

	claims := map[string]string{}
	var soldOut int
	for i, r := range results {
		switch {
		case (r.final.status == http.StatusCreated || r.final.status == http.StatusOK) && r.final.claimID != "" && r.final.receipt != "":
			if _, dup := claims[r.final.claimID]; dup {
				t.Errorf("claim %s answered to two phones", r.final.claimID)
			}
			claims[r.final.claimID] = r.final.receipt
		case r.final.status == http.StatusGone && r.final.code == "sold_out":
			soldOut++
		default:
			t.Errorf("phone %d ended with %v", i, r.final)
		}
	}
	left, total := dropStock(t, base(1), faultAdminToken, "failover")
	if total != stock || left != 0 || len(claims) != stock || soldOut != phones-stock {
		t.Fatalf("stock %d/%d left; %d claims, %d sold out: want every one of %d rewards claimed once, the other %d phones told sold out",
			left, total, len(claims), soldOut, stock, phones-stock)
	}
	// Every acknowledged claim is in the store after the failover.
	readBack(t, base(0), claims)

	// Every acknowledged event is remembered: sent again, a duplicate.
	for i, h := range acked {
		a, status := h.send(http.DefaultClient, base(i), "capture")
		if a.status != http.StatusAccepted || status != "duplicate" {
			t.Errorf("event %s, acknowledged before, sent again: %v, want 202 duplicate", h.id, a)
		}
	}
	var after struct {
		OpenedAt *time.Time `json:"opened_at"`
	}
	adminGet(t, base(1), faultAdminToken, "/v1/admin/drops/failover", &after)
	if after.OpenedAt == nil || !after.OpenedAt.Equal(*opened.OpenedAt) {
		t.Errorf("the drop opened at %v, and at %v after the failover: opened twice", opened.OpenedAt, after.OpenedAt)
	}

	for i, o := range overlays {
		waitFor(t, 30*time.Second, fmt.Sprintf("the overlay on replica %d to show the final stock", i), func() bool {
			l, ok := o.left()
			return ok && l == 0
		})
		if c := o.closesAt(); len(c) != 1 {
			t.Errorf("the overlay on replica %d showed %d different closing times %v: the moment opened more than once", i, len(c), c)
		}
	}
}

func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// overlayWatch follows one overlay WebSocket, reconnecting when it
// breaks, and keeps what the overlay shows of one drop.
type overlayWatch struct {
	mu      sync.Mutex
	stock   int64
	seen    bool
	closing map[int64]bool
}

func watchOverlay(t *testing.T, base, drop string) *overlayWatch {
	t.Helper()
	o := &overlayWatch{closing: map[int64]bool{}}
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/overlay/ava/ws?key=" + url.QueryEscape(faultOverlayKey)
	ctx := t.Context()
	done := make(chan struct{})
	var ws atomic.Pointer[websocket.Conn]
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			c, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			ws.Store(c)
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					break
				}
				var s struct {
					Type     string          `json:"type"`
					Status   string          `json:"status"`
					ClosesAt json.RawMessage `json:"closes_at"`
					Drop     *struct {
						ID string `json:"id"`
					} `json:"drop"`
					Stock *struct {
						Left int64 `json:"left"`
					} `json:"stock"`
				}
				if json.Unmarshal(msg, &s) != nil || s.Type != "state" || s.Drop == nil || s.Drop.ID != drop {
					continue
				}
				o.mu.Lock()
				if s.Stock != nil {
					o.stock, o.seen = s.Stock.Left, true
				}
				var closes int64
				if (s.Status == "open" || s.Status == "sold_out") && json.Unmarshal(s.ClosesAt, &closes) == nil && closes > 0 {
					o.closing[closes] = true
				}
				o.mu.Unlock()
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		if c := ws.Load(); c != nil {
			_ = c.Close()
		}
		<-done
	})
	return o
}

func (o *overlayWatch) left() (int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stock, o.seen
}

func (o *overlayWatch) closesAt() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int64
	for c := range o.closing {
		out = append(out, c)
	}
	return out
}
