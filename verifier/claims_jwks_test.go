package verifier

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// With the store down, the JWKS answers 503 about its keys, not about a
// claim nobody made.
func TestJWKSUnavailableSpeaksOfKeys(t *testing.T) {
	p := storetest.NewProxy(t)
	e := newAPIEnv(t, p.Redis(t, storetest.Redis(t).Prefix()), ViewersConfig{}, nil)
	p.Hold()
	p.Sever()
	got := e.do(t, http.DefaultClient, "GET", "/.well-known/jwks.json", "", nil)
	detail, _ := got.body["detail"].(string)
	if got.status != 503 || got.body["code"] != "store_unavailable" || got.header.Get("Retry-After") == "" {
		t.Fatalf("jwks with the store down: %d %v", got.status, got.body)
	}
	if !strings.Contains(detail, "key") || strings.Contains(detail, "claim") {
		t.Fatalf("detail %q should speak of the receipt keys", detail)
	}
}
