package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// `dropwire node` between `dropwire serve` and a locker system: a claim
// arrives at the node, the locker marks it ready with a PIN through the
// node's local API, then picked up, and Dropwire shows the claim picked
// up, the viewer's receipt with the PIN while it was ready. The claims
// survive a restart of the node with --state.
func TestNodeCommand(t *testing.T) {
	const captureSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const overlayKey = "ava-overlay-key-0001"
	nodeSecret := newSecret()
	hookAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeFile(t, "dw.yaml", faultConfig(storetest.URL(), storetest.Prefix(t))+fmt.Sprintf(`creators:
  - id: ava
    overlay_keys: [%q]
sources:
  - id: capture
    creator: ava
    scheme: standard
    secrets: [%q]
nodes:
  - id: locker
    url: "http://%s/dropwire"
    secret: %q
    timeout: 1s
    retry_base: 50ms
    retry_max: 500ms
drops:
  - id: spring
    creator: ava
    stock:
      - {node: locker, sku: sticker, qty: 10}
`, overlayKey, captureSecret, hookAddr, nodeSecret))
	dw := start(t, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := dw.url("")

	state := filepath.Join(t.TempDir(), "claims.json")
	nodeArgs := []string{"node", "--dropwire-url", base, "--node", "locker", "--listen", hookAddr,
		"--api-listen", "127.0.0.1:0", "--state", state}
	node := start(t, []string{"DROPWIRE_NODE_SECRET=" + nodeSecret}, nodeArgs...)
	api := "http://" + apiAddr(t, node)

	// A viewer claims.
	code := openDrop(t, base, "capture", captureSecret, "spring", "ava", overlayKey)
	v := newViewer("node-test-viewer", 10*time.Second)
	v.page(base, code)
	a := v.claim(base, code)
	if a.status != http.StatusCreated || a.claimID == "" {
		t.Fatalf("claim: %v", a)
	}
	id := a.claimID

	// The claim reaches the node, which reports it accepted by itself.
	var held localClaim
	waitFor(t, 15*time.Second, "the claim accepted at the node", func() bool {
		var l struct{ Claims []localClaim }
		apiDo(t, "GET", api+"/claims", "", &l)
		for _, c := range l.Claims {
			if c.ID == id {
				held = c
			}
		}
		return held.State == "accepted"
	})
	if held.Drop != "spring" || held.SKU != "sticker" || held.PickupCode == "" || held.Receipt == "" {
		t.Fatalf("node holds %+v", held)
	}
	var byCode struct{ Claims []localClaim }
	if apiDo(t, "GET", api+"/claims?pickup_code="+strings.ToLower(held.PickupCode), "", &byCode); len(byCode.Claims) != 1 || byCode.Claims[0].ID != id {
		t.Fatalf("by pickup code: %+v", byCode)
	}
	var rv struct {
		Receipt struct {
			ClaimID string `json:"claim_id"`
			Node    string `json:"node"`
		}
		Claim localClaim
	}
	if status := apiDo(t, "POST", api+"/receipts/verify", `{"receipt":"`+a.receipt+`"}`, &rv); status != 200 ||
		rv.Receipt.ClaimID != id || rv.Receipt.Node != "locker" || rv.Claim.ID != id {
		t.Fatalf("receipt verify: %d %+v", status, rv)
	}

	// The locker: ready with a PIN, which the viewer's receipt shows.
	var got localClaim
	if status := apiDo(t, "POST", api+"/claims/"+id+"/ready", `{"slot":"B-14","pin":"482913"}`, &got); status != 200 || got.State != "ready" {
		t.Fatalf("ready: %d %+v", status, got)
	}
	if view := receiptView(t, base, id, a.receipt); view.State != "ready" || view.Locker == nil || view.Locker.PIN != "482913" || view.Locker.Slot != "B-14" {
		t.Fatalf("viewer's claim after ready: %+v", view)
	}
	// Picked up.
	if status := apiDo(t, "POST", api+"/claims/"+id+"/picked-up", "", &got); status != 200 || got.State != "picked_up" {
		t.Fatalf("picked up: %d %+v", status, got)
	}
	view := receiptView(t, base, id, a.receipt)
	if view.State != "picked_up" {
		t.Fatalf("Dropwire shows %s, want picked_up", view.State)
	}
	if h := view.states(); !slices.Equal(h, []string{"claimed", "forwarded", "accepted", "ready", "picked_up"}) &&
		!slices.Equal(h, []string{"claimed", "accepted", "ready", "picked_up"}) {
		t.Fatalf("history %v", h)
	}
	// A step Dropwire refuses is a 409 naming the claim's state.
	var p struct{ Code, State string }
	if status := apiDo(t, "POST", api+"/claims/"+id+"/failed", `{"reason":"jammed"}`, &p); status != 409 || p.Code != "illegal_transition" || p.State != "picked_up" {
		t.Fatalf("failed after pickup: %d %+v", status, p)
	}
	if status := apiDo(t, "POST", api+"/claims/nope/ready", "", &p); status != 404 || p.Code != "unknown_claim" {
		t.Fatalf("unknown claim: %d %+v", status, p)
	}

	// Restarted with the same --state, the node still holds the claim.
	if code := node.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("node exit code %d", code)
	}
	node = start(t, []string{"DROPWIRE_NODE_SECRET=" + nodeSecret}, nodeArgs...)
	api = "http://" + apiAddr(t, node)
	if status := apiDo(t, "GET", api+"/claims/"+id, "", &got); status != 200 || got.State != "picked_up" || got.Locker == nil || got.Locker.PIN != "482913" {
		t.Fatalf("after restart: %d %+v", status, got)
	}
	node.signal(syscall.SIGTERM, 15*time.Second)
	dw.signal(syscall.SIGTERM, 15*time.Second)
}

// The node refuses to start without what it needs, and says so.
func TestNodeCommandUsage(t *testing.T) {
	_, errOut, code := runCmd(t, nil, "node", "--node", "locker")
	if code != 2 || !strings.Contains(errOut, "--dropwire-url") || !strings.Contains(errOut, "DROPWIRE_NODE_SECRET") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	_, errOut, code = runCmd(t, nil, "node", "--help")
	if code != 0 || !strings.Contains(errOut, "Usage: dropwire node") || !strings.Contains(errOut, "POST /claims/{id}/ready") {
		t.Fatalf("--help: exit %d:\n%s", code, errOut)
	}
}

// localClaim is a claim of the node's local API.
type localClaim struct {
	ID         string `json:"id"`
	Drop       string `json:"drop"`
	SKU        string `json:"sku"`
	PickupCode string `json:"pickup_code"`
	Receipt    string `json:"receipt"`
	State      string `json:"state"`
	Locker     *struct {
		Slot string `json:"slot"`
		PIN  string `json:"pin"`
	} `json:"locker"`
}

// apiAddr waits for the node's "local API listening" line.
func apiAddr(t *testing.T, p *proc) string {
	t.Helper()
	var addr string
	waitFor(t, 10*time.Second, "the node's local API", func() bool {
		for _, line := range strings.Split(p.Stderr(), "\n") {
			var l struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Message == "local API listening" {
				addr = l.Addr
			}
		}
		return addr != ""
	})
	return addr
}

// apiDo calls the node's local API and decodes the answer into out.
func apiDo(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	return res.StatusCode
}

// lockerView is GET /v1/claims/{id} with the locker.
type lockerView struct {
	claimView
	Locker *struct {
		Slot string `json:"slot"`
		PIN  string `json:"pin"`
	} `json:"locker"`
}

func receiptView(t *testing.T, base, id, receipt string) lockerView {
	t.Helper()
	a, _ := readClaim(base, id, receipt)
	var v lockerView
	if a.status != 200 || json.Unmarshal([]byte(a.body), &v) != nil {
		t.Fatalf("GET /v1/claims/%s: %v", id, a)
	}
	return v
}
