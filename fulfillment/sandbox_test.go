package fulfillment

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A claim of a sandbox (test) drop reaches its node with "sandbox": true in
// the claim object; a real claim's body has no such member, as before.
func TestSandboxClaimLabelled(t *testing.T) {
	st := storetest.Redis(t)
	secret := newSecret(t)
	var (
		mu     sync.Mutex
		bodies = map[string]map[string]json.RawMessage{} // drop → claim object
		bad    []string
	)
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := checkStandardSignature(secret, r.Header, body); err != nil {
			bad = append(bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Type  string                     `json:"type"`
			Claim map[string]json.RawMessage `json:"claim"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Type != TypeClaimCreated {
			bad = append(bad, "body: "+string(body))
		}
		var drop string
		_ = json.Unmarshal(p.Claim["drop"], &drop)
		bodies[drop] = p.Claim
	}))
	t.Cleanup(node.Close)

	realDrop := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.URL, secret))
	d, _ := realDrop.drops.Drop(t.Context(), realDrop.drop)
	test := *d
	test.ID, test.Sandbox = "drop-1-test-1", true
	realDrop.drops.Put(test)
	sandbox := &fixture{t: t, st: st, drops: realDrop.drops, nodes: realDrop.nodes, drop: test.ID}
	realDrop.claim("shop")
	sandbox.claim("shop")
	run(t, realDrop.service())
	eventually(t, 10*time.Second, "both claims delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("node refused: %v", bad)
	}
	if got := string(bodies[test.ID]["sandbox"]); got != "true" {
		t.Errorf(`sandbox claim: "sandbox" is %q, want true`, got)
	}
	if v, ok := bodies[realDrop.drop]["sandbox"]; ok {
		t.Errorf(`real claim carries "sandbox": %s`, v)
	}
}
