package app

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
)

// TestOverlayCountAcrossReplicas: the dashboard of one replica counts the
// overlays connected to another (through the heartbeat), and a replica
// counts its own at once, connected and gone.
func TestOverlayCountAcrossReplicas(t *testing.T) {
	st1 := storetest.Redis(t)
	st2 := storetest.RedisWithPrefix(t, st1.Prefix())
	cfg1, _ := config.Demo()
	cfg2, _ := config.Demo()
	cfg2.AdminToken = cfg1.AdminToken
	a1, srv1 := adminApp(t, cfg1, st1)
	_, srv2 := adminApp(t, cfg2, st2)
	tok := cfg1.AdminToken
	connected := func(srv *httptest.Server) int {
		t.Helper()
		var out struct{ Creators []admin.CreatorView }
		if code := adminCall(t, srv, tok, "GET", "/v1/admin/creators", nil, &out); code != 200 || len(out.Creators) != 1 {
			t.Fatalf("creators: %d %+v", code, out)
		}
		return out.Creators[0].Overlays
	}
	if n := connected(srv1); n != 0 {
		t.Fatalf("before any overlay: %d", n)
	}
	ov := dialOverlay(t, a1, srv1)
	ov.until(func(overlay.State) bool { return true })
	if n := connected(srv1); n != 1 {
		t.Fatalf("replica 1 counts its own overlay: %d", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for connected(srv2) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("replica 2 never counted the overlay of replica 1")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = ov.ws.Close()
	for connected(srv1) != 0 || connected(srv2) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the overlay gone is still counted: %d on 1, %d on 2", connected(srv1), connected(srv2))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
