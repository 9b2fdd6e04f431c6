package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Viewers behind one reverse proxy each get their own claim budget once
// the proxy is trusted; without trusted_proxies the proxy's address is
// the one client they all share (and X-Forwarded-For is not believed).
func TestClaimLimitPerForwardedClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		limited bool
	}{
		{"proxy trusted", []string{"127.0.0.0/8", "::1"}, false},
		{"proxy not trusted", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Demo()
			if err != nil {
				t.Fatal(err)
			}
			cfg.TrustedProxies = tc.trusted
			cfg.ClaimRateIP = 2 // burst 6
			_, srv := adminApp(t, cfg, storetest.Redis(t))

			limited := 0
			for i := range 30 {
				// Each viewer comes with no device cookie and a code no
				// drop has: the per-address limit is decided before
				// either is looked at.
				req, _ := http.NewRequest("POST", srv.URL+"/v1/claims", strings.NewReader(`{"code":"no-such-code"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var p struct{ Code string }
				_ = json.NewDecoder(res.Body).Decode(&p)
				res.Body.Close()
				if res.StatusCode == http.StatusTooManyRequests {
					if p.Code != "rate_limited" {
						t.Fatalf("429 with code %q", p.Code)
					}
					limited++
				}
			}
			if tc.limited && limited == 0 {
				t.Fatal("30 claims through an untrusted proxy in a burst of 6 were never limited: X-Forwarded-For was believed")
			}
			if !tc.limited && limited > 0 {
				t.Fatalf("%d of 30 viewers behind a trusted proxy were limited as one client", limited)
			}
		})
	}
}
