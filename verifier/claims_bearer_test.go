package verifier

import (
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A receipt is accepted under any spelling of the Bearer scheme.
func TestReceiptBearerSchemeAnyCase(t *testing.T) {
	e := newAPIEnv(t, storetest.Memory(t), ViewersConfig{}, nil, claimDrop("spring", 2, 1, 0))
	e.open(t, "spring")
	alice := viewerClient(t)
	e.do(t, alice, "GET", "/c/open-spring", "", nil)
	r := e.claim(t, alice, "open-spring", "k-1")
	if r.status != 201 {
		t.Fatalf("claim: %d %v", r.status, r.body)
	}
	id, receipt := r.body["claim_id"].(string), r.body["receipt"].(string)
	for _, scheme := range []string{"bearer ", "BEARER ", "Bearer\t", "Bearer   "} {
		got := e.do(t, alice, "GET", "/v1/claims/"+id, "", map[string]string{"Authorization": scheme + receipt})
		if got.status != 200 || got.body["claim_id"] != id {
			t.Errorf("scheme %q: %d %v", scheme, got.status, got.body["code"])
		}
	}
}
