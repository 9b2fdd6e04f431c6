package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/config"
)

// viewerIP is the address the test's viewers and OBS connect to Caddy
// from; Caddy reaches the replicas from 127.0.0.1, the one trusted proxy.
const viewerIP = "127.0.0.3"

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCaddy runs caddy with the example's Caddyfile, its upstreams
// replaced by the replicas' loopback addresses, serving plain HTTP on
// addr, and returns its URL.
func startCaddy(t *testing.T, caddy, addr string, replicas []*replica) string {
	t.Helper()
	data, err := os.ReadFile("caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	var upstreams []string
	for _, r := range replicas {
		upstreams = append(upstreams, r.addr)
	}
	const names = "dropwire-1:8080 dropwire-2:8080 dropwire-3:8080"
	if !strings.Contains(string(data), names) {
		t.Fatalf("the Caddyfile does not proxy to %s", names)
	}
	// The admin endpoint is off: tests of other packages may run Caddy at
	// the same time, and its default port is fixed.
	file := "{\n\tadmin off\n}\n\n" + strings.Replace(string(data), names, strings.Join(upstreams, " "), 1)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(caddyEnv(t), "SITE_ADDRESS=http://"+addr)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("caddy output:\n%s", out.b.String())
		}
	})
	base := "http://" + addr
	eventually(t, 10*time.Second, "caddy to answer", func() bool {
		select {
		case <-exited:
			t.Fatalf("caddy exited:\n%s", out.b.String())
		default:
		}
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return base
}

// viewerDialer connects from viewerIP.
func viewerDialer() *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(viewerIP)}, Timeout: 5 * time.Second}
}

// Caddy, configured as in the example, in front of three replicas on one
// Redis: overlays connect through it (WebSocket upgrade) and are spread
// over the replicas, a webhook through it opens the drop on every
// overlay, claims through it are made in the viewer's name (the address
// Caddy puts in X-Forwarded-For, not one the viewer sends), /metrics is
// not served to the public, and a request that finds its replica gone is
// served by another.
func TestCaddyInFrontOfReplicas(t *testing.T) {
	caddy := tool(t, "caddy", "apt-get install caddy")
	addr := freeAddr(t)
	rs := startReplicas(t, 3, func(c *config.Config) {
		c.PublicURL = "http://" + addr // QR codes and receipts point at the proxy
		c.TrustedProxies = []string{"127.0.0.1/32"}
	})
	base := startCaddy(t, caddy, addr, rs)
	cfg := rs[0].app.Config()
	viewer := &http.Client{Transport: &http.Transport{DialContext: viewerDialer().DialContext}}
	obs := &websocket.Dialer{NetDialContext: viewerDialer().DialContext, HandshakeTimeout: 5 * time.Second}

	var overlays []*overlayClient
	for range rs {
		overlays = append(overlays, dialOverlay(t, obs, base, cfg))
	}
	for i, r := range rs {
		s := scrapeMetrics(t, r.metrics)
		if _, ok := s["dropwire_overlay_connections"]; !ok {
			t.Errorf("replica %d got no overlay: Caddy does not spread them", i+1)
		}
	}
	trigger(t, viewer, base, cfg, "evt-proxy")
	var st = overlays[0].until("the drop open", isOpen)
	for i, ov := range overlays[1:] {
		ov.until(fmt.Sprintf("the drop open on overlay %d", i+2), isOpen)
	}
	if !strings.HasPrefix(claimURL(t, st), base+"/c/") {
		t.Fatalf("QR URL %q is not on the proxy", claimURL(t, st))
	}

	// A viewer who sends an X-Forwarded-For of their own is still
	// themselves: Caddy replaces the header with their address.
	spoofing := &http.Client{Transport: headerTransport{viewer.Transport, "X-Forwarded-For", "203.0.113.9"}}
	claim(t, spoofing, base, claimURL(t, st), "")
	var clients []string
	for _, r := range rs {
		for _, l := range r.log.lines() {
			if l["message"] == "request" && l["route"] == "POST /v1/claims" {
				clients = append(clients, fmt.Sprint(l["client"]))
			}
		}
	}
	if len(clients) != 1 || clients[0] != viewerIP {
		t.Fatalf("the claim was made by %v, want [%s] (the viewer's address)", clients, viewerIP)
	}

	res, err := viewer.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics through Caddy: %d, want 404", res.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rs[1].app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * len(rs) {
		res, err := viewer.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d with a replica gone: %d", i+1, res.StatusCode)
		}
	}
}

// headerTransport sets one request header.
type headerTransport struct {
	rt          http.RoundTripper
	name, value string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.rt.RoundTrip(r)
}
