package e2e

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestFaultNodeDownThenReplay: the node is down past its retry_horizon, so
// every claim is dead-lettered: those of a drop without compensation stay
// forward_failed, those of a drop with compensation codes are compensated.
// The node comes up and `dropwire dlq replay --all` sends the first kind
// again, which the node then picks up; the compensated ones are left, and
// the command says so. No claim ends both picked up and compensated.
func TestFaultNodeDownThenReplay(t *testing.T) {
	const each = 4
	prefix := storetest.Prefix(t)
	storetest.RedisWithPrefix(t, prefix)
	secretA, secretB, nodeSecret := newSecret(), newSecret(), newSecret()
	nodeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there yet
	codes := writeFile(t, "codes.txt", "COMP-0001\nCOMP-0002\nCOMP-0003\nCOMP-0004\nCOMP-0005\nCOMP-0006\n")
	// Two creators: an overlay shows one drop at a time.
	cfg := writeFile(t, "dw.yaml", faultConfig(storetest.URL(), prefix)+fmt.Sprintf(`sla_tick: 100ms
creators:
  - id: ava
    overlay_keys: [%q]
  - id: bo
    overlay_keys: [%q]
sources:
  - id: capture-ava
    creator: ava
    scheme: standard
    secrets: [%q]
  - id: capture-bo
    creator: bo
    scheme: standard
    secrets: [%q]
nodes:
  - id: shop
    url: "http://%s/hook"
    secret: %q
    timeout: 500ms
    retry_base: 100ms
    retry_max: 300ms
    retry_horizon: 2s
    breaker_failures: 3
    breaker_cooldown: 200ms
    pickup_sla: 1h
drops:
  - id: plain
    creator: ava
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: 10}
  - id: comp
    creator: bo
    window: 30m
    qr_rotate: 10m
    stock:
      - {node: shop, sku: sticker, qty: 10}
    compensation: {kind: code, codes_file: %q}
`, faultOverlayKey, faultOverlayKey+"-bo", secretA, secretB, nodeAddr, nodeSecret, codes))
	p := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := "http://" + p.addr

	claims := map[string]map[string]string{} // drop → claim id → receipt
	for _, d := range []struct{ drop, creator, source, secret, key string }{
		{"plain", "ava", "capture-ava", secretA, faultOverlayKey},
		{"comp", "bo", "capture-bo", secretB, faultOverlayKey + "-bo"},
	} {
		code := openDrop(t, base, d.source, d.secret, d.drop, d.creator, d.key)
		claims[d.drop] = map[string]string{}
		for i := range each {
			v := newViewer(fmt.Sprintf("%s-phone-%d", d.drop, i), 5*time.Second)
			if a := v.page(base, code); a.status != http.StatusOK {
				t.Fatalf("claim page: %v", a)
			}
			a := v.claim(base, code)
			if a.status != http.StatusCreated {
				t.Fatalf("claim of %s: %v", d.drop, a)
			}
			claims[d.drop][a.claimID] = a.receipt
		}
	}

	type deadLetter struct{ ID, Drop, Claim, Reason string }
	var dlq struct {
		DeadLetters []deadLetter `json:"dead_letters"`
	}
	waitFor(t, 30*time.Second, "every claim dead-lettered past the node's retry_horizon", func() bool {
		adminGet(t, base, faultAdminToken, "/v1/admin/dlq", &dlq)
		return len(dlq.DeadLetters) == 2*each
	})
	settledIDs := map[string]bool{} // dead letters of compensated claims
	for _, dl := range dlq.DeadLetters {
		if _, ok := claims[dl.Drop][dl.Claim]; !ok || dl.Reason != "horizon" {
			t.Errorf("dead letter %+v: want one of a claim made here, reason horizon", dl)
		}
		if dl.Drop == "comp" {
			settledIDs[dl.ID] = true
		}
	}
	wantStates := map[string]string{"plain": "forward_failed", "comp": "compensated"}
	// A claim's entry is dead-lettered a moment before the claim fails
	// (and, with a policy, is compensated in that same step).
	waitFor(t, 10*time.Second, "every dead-lettered claim failed", func() bool {
		for drop, want := range wantStates {
			for _, v := range readBack(t, base, claims[drop]) {
				if v.State != want {
					return false
				}
			}
		}
		return true
	})
	for drop, want := range wantStates {
		for id, v := range readBack(t, base, claims[drop]) {
			if v.State != want {
				t.Errorf("claim %s of %s is %s after the horizon, want %s (history %v)", id, drop, v.State, want, v.states())
			}
		}
	}
	out, errOut, code := runCmd(t, nil, "dlq", "list", "--url", base, "--admin-token", faultAdminToken)
	if code != 0 || strings.Count(out, "horizon") != 2*each {
		t.Fatalf("dlq list: exit %d\n%s%s", code, out, errOut)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The node comes up on its address, verifying every signature.
	node := newFaultNode(t, "shop", nodeSecret, func() string { return base })
	ln, err := net.Listen("tcp", nodeAddr)
	if err != nil {
		t.Fatalf("the node's address was taken meanwhile: %v", err)
	}
	nodeSrv := &http.Server{Handler: node}
	go func() { _ = nodeSrv.Serve(ln) }()
	t.Cleanup(func() { _ = nodeSrv.Close() })

	out, errOut, code = runCmd(t, nil, "dlq", "replay", "--all", "--url", base, "--admin-token", faultAdminToken)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("replayed %d\n", each)) {
		t.Fatalf("dlq replay --all: exit %d\n%s%s", code, out, errOut)
	}
	for id := range settledIDs {
		if !strings.Contains(out, "left "+id+": its claim has settled") {
			t.Errorf("dlq replay --all does not say it left %s:\n%s", id, out)
		}
	}

	var views map[string]claimView
	waitFor(t, 30*time.Second, "every replayed claim picked up", func() bool {
		views = readBack(t, base, claims["plain"])
		for _, v := range views {
			if v.State != "picked_up" {
				return false
			}
		}
		return true
	})
	for id, v := range views {
		h := v.states()
		failed, forwarded := slices.Index(h, "forward_failed"), slices.Index(h, "forwarded")
		if failed < 0 || forwarded < failed || slices.Contains(h, "compensated") || h[len(h)-1] != "picked_up" {
			t.Errorf("claim %s of plain: history %v, want forward_failed, then forwarded, ending picked_up", id, h)
		}
		if !node.has(id) {
			t.Errorf("claim %s picked up, yet the node never got it", id)
		}
	}
	for id, v := range readBack(t, base, claims["comp"]) {
		if h := v.states(); v.State != "compensated" || slices.Contains(h, "picked_up") || slices.Contains(h, "accepted") {
			t.Errorf("claim %s of comp: %s, history %v, want compensated and nothing after", id, v.State, h)
		}
		if node.has(id) {
			t.Errorf("the node got claim %s, which was compensated", id)
		}
	}
	node.check(t)
	adminGet(t, base, faultAdminToken, "/v1/admin/dlq", &dlq)
	if len(dlq.DeadLetters) != len(settledIDs) {
		t.Errorf("after the replay %d dead letters are listed, want the %d of compensated claims: %+v",
			len(dlq.DeadLetters), len(settledIDs), dlq.DeadLetters)
	}
	for _, dl := range dlq.DeadLetters {
		if !settledIDs[dl.ID] {
			t.Errorf("dead letter %s still listed after its replay", dl.ID)
		}
	}
}
