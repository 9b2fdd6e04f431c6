package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestFaultWaitReplicasRetry: with redis_wait_replicas: 1 and no replica
// in sync, a claim is written on the master but not acknowledged: the
// phone gets 503 store_unavailable. Once a replica is in sync, the phone's
// retry with the same Idempotency-Key gets that same claim back (200, the
// receipt), never a second one: the stock went down by one.
func TestFaultWaitReplicasRetry(t *testing.T) {
	master := storetest.StartPrivateRedis(t)
	prefix := storetest.Prefix(t)
	srcSecret, nodeSecret := newSecret(), newSecret()
	node := newFaultNode(t, "shop", nodeSecret, nil)
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	cfg := writeFile(t, "dw.yaml", faultConfig(master.URL(), prefix)+fmt.Sprintf(`redis_wait_replicas: 1
creators:
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
drops:
  - id: waited
    creator: ava
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: 5}
`, faultOverlayKey, srcSecret, srv.URL+"/hook", nodeSecret))
	p := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := "http://" + p.addr

	// No replica: even opening the drop is not acknowledged.
	h := newHook(mustSigner(t, srcSecret), "evt-open", "waited", "m-open")
	if a, _ := h.send(http.DefaultClient, base, "capture"); !a.storeUnavailable() {
		t.Fatalf("an event without the replica asked for: %v, want 503 store_unavailable", a)
	}

	replica := storetest.StartPrivateRedis(t, "--replicaof", "127.0.0.1", strings.TrimSuffix(strings.TrimPrefix(master.URL(), "redis://127.0.0.1:"), "/0"))
	waitFor(t, 20*time.Second, "the replica in sync", func() bool {
		info, _ := replica.Client(t).Info(context.Background(), "replication").Result()
		if !strings.Contains(info, "master_link_status:up") {
			return false
		}
		// WAIT counts only replicas the master lists online.
		info, _ = master.Client(t).Info(context.Background(), "replication").Result()
		return strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})
	// The same event again, as a vendor retries a 503: it was written, so
	// it is a duplicate now, and acknowledged once the replica confirms
	// (the first WAIT just after a full sync may still time out). The
	// drop is open.
	waitFor(t, 10*time.Second, "the event sent again acknowledged", func() bool {
		a, status := h.send(http.DefaultClient, base, "capture")
		if a.storeUnavailable() {
			return false
		}
		if a.status != http.StatusAccepted || status != "duplicate" {
			t.Fatalf("the event sent again with a replica: %v (%s), want 202 duplicate", a, status)
		}
		return true
	})
	code := overlayCode(t, base, "ava", faultOverlayKey, "waited")
	v := newViewer("waited-phone", 10*time.Second)
	if a := v.page(base, code); a.status != http.StatusOK {
		t.Fatalf("claim page: %v", a)
	}

	// The replica goes away; the claim is written but not acknowledged.
	replica.Kill()
	waitFor(t, 20*time.Second, "the master to see its replica gone", func() bool {
		info, _ := master.Client(t).Info(context.Background(), "replication").Result()
		return strings.Contains(info, "connected_slaves:0")
	})
	if a := v.claim(base, code); !a.storeUnavailable() {
		t.Fatalf("a claim without the replica: %v, want 503 store_unavailable", a)
	}
	if left, _ := dropStock(t, base, faultAdminToken, "waited"); left != 4 {
		t.Fatalf("stock left %d after the unacknowledged claim, want 4: it is written on the master", left)
	}

	// Back in sync, the retry gets the same claim: 200, not 201, and the
	// stock is not taken twice.
	replica.Start()
	waitFor(t, 20*time.Second, "the replica in sync again", func() bool {
		info, _ := replica.Client(t).Info(context.Background(), "replication").Result()
		if !strings.Contains(info, "master_link_status:up") {
			return false
		}
		// WAIT counts only replicas the master lists online.
		info, _ = master.Client(t).Info(context.Background(), "replication").Result()
		return strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})
	a := v.claim(base, code)
	if a.status != http.StatusOK || a.claimID == "" || a.receipt == "" {
		t.Fatalf("the retry: %v, want 200 with the claim written before", a)
	}
	if left, _ := dropStock(t, base, faultAdminToken, "waited"); left != 4 {
		t.Fatalf("stock left %d after the retry, want 4", left)
	}
	readBack(t, base, map[string]string{a.claimID: a.receipt})
}
