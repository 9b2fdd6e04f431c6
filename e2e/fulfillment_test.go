package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// fulfillmentNode is a node on loopback that checks signatures with its
// own Standard Webhooks code and can hold requests to catch a replica
// mid-delivery.
type fulfillmentNode struct {
	secret   string
	mu       sync.Mutex
	hold     bool
	inFlight int
	ids      map[string]map[string]bool // claim → webhook-ids delivered (2xx)
	bad      int
}

func (n *fulfillmentNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(n.secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte(want)) {
		n.mu.Lock()
		n.bad++
		n.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	n.mu.Lock()
	hold := n.hold
	n.inFlight++
	n.mu.Unlock()
	defer func() { n.mu.Lock(); n.inFlight--; n.mu.Unlock() }()
	if hold {
		// Held until the replica dies (its connection closes).
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		return
	}
	var p struct {
		Claim struct {
			ID string `json:"id"`
		} `json:"claim"`
	}
	_ = json.Unmarshal(body, &p)
	n.mu.Lock()
	if n.ids[p.Claim.ID] == nil {
		n.ids[p.Claim.ID] = map[string]bool{}
	}
	n.ids[p.Claim.ID][r.Header.Get("webhook-id")] = true
	n.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// A replica killed with SIGKILL while deliveries are in flight: another
// replica takes its pending entries over; no claim is lost and none is
// delivered under two webhook-ids. On one Redis, and on a Redis Cluster
// named by a redis+cluster:// URL.
func TestReplicaKilledMidDelivery(t *testing.T) {
	storetest.EachRedis(t, testReplicaKilledMidDelivery)
}

func testReplicaKilledMidDelivery(t *testing.T, be storetest.Backend) {
	prefix := storetest.Prefix(t)
	st := be.Open(t, prefix)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	node := &fulfillmentNode{secret: "whsec_" + base64.StdEncoding.EncodeToString(secret), hold: true,
		ids: map[string]map[string]bool{}}
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)

	cfg := writeFile(t, "dw.yaml", fmt.Sprintf(`public_url: "http://127.0.0.1:8080"
redis_url: %q
key_prefix: %q
forward_workers: 4
forward_tick: 20ms
forward_takeover: 3s
creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
sources:
  - id: capture
    creator: ava
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
nodes:
  - id: shop
    url: %q
    secret: %q
    timeout: 2s
    retry_base: 50ms
    retry_max: 200ms
drops:
  - id: spring
    creator: ava
    stock:
      - {node: shop, sku: sticker, qty: 1000}
`, be.URL(), prefix, srv.URL+"/hook", node.secret))

	a := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	// Claims as verifier.Claims writes them (claim hash, history, outbox
	// entry in one drop's slot).
	const n = 24
	ids := make([]string, n)
	ctx := context.Background()
	for i := range ids {
		ids[i] = fmt.Sprintf("spring.killtestkillte%c%c", 'a'+i/26, 'a'+i%26)
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		if err := st.HSet(ctx, store.DropKey("spring", "claim", ids[i]), map[string]string{"id": ids[i], "drop": "spring",
			"state": "claimed", "node": "shop", "sku": "sticker", "tier": "standard", "pickup_code": fmt.Sprintf("K%07d", i),
			"pickup_by": now, "created_at": now}); err != nil {
			t.Fatal(err)
		}
		// As a claim does: its drop joins the backlog the forwarders go over.
		if err := verifier.NewBacklog(st, nil).Touch(ctx, "spring"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.OutboxAdd(ctx, store.DropKey("spring", "outbox"), map[string]string{"type": "claim.created",
			"claim": ids[i], "event": ids[i] + ".created", "node": "shop", "drop": "spring"}); err != nil {
			t.Fatal(err)
		}
	}
	// Kill the first replica while every worker is inside a delivery: those
	// entries are read and not acknowledged, so only a takeover can save
	// them. (Entries it never read are simply read by the next replica.)
	waitFor(t, 30*time.Second, "deliveries in flight, their entries pending", func() bool {
		node.mu.Lock()
		inFlight := node.inFlight
		node.mu.Unlock()
		p, err := st.OutboxPending(ctx, store.DropKey("spring", "outbox"), "forwarders")
		return inFlight >= 4 && err == nil && p.Count >= 4
	})
	a.signal(syscall.SIGKILL, 10*time.Second)
	node.mu.Lock()
	node.hold = false
	node.mu.Unlock()

	b := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	waitFor(t, 30*time.Second, "every claim forwarded by the second replica", func() bool {
		for _, id := range ids {
			s, err := st.HGet(ctx, store.DropKey("spring", "claim", id), "state")
			if err != nil || s != "forwarded" {
				return false
			}
		}
		return true
	})
	// A claim is marked forwarded just before its entry is acknowledged.
	waitFor(t, 10*time.Second, "no entry pending after the takeover", func() bool {
		p, err := st.OutboxPending(ctx, store.DropKey("spring", "outbox"), "forwarders")
		return err == nil && p.Count == 0
	})
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.bad > 0 {
		t.Fatalf("%d requests with bad signatures", node.bad)
	}
	for _, id := range ids {
		if got := node.ids[id]; len(got) != 1 || !got[id+".created"] {
			t.Errorf("claim %s delivered with webhook-ids %v", id, got)
		}
	}
	if len(node.ids) != n {
		t.Fatalf("node got %d claims, want %d", len(node.ids), n)
	}
	if !strings.Contains(b.Stderr(), "took over pending outbox entries") {
		t.Fatalf("the second replica did not report a takeover:\n%s", b.Stderr())
	}
	b.signal(syscall.SIGTERM, 15*time.Second)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
