package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/server"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

const kioskKey = "kiosk-console-key-0123456789"

// hostedConfig is the demo configuration with a hosted node, "kiosk",
// that has a console key and stock in the demo drop.
func hostedConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes = append(cfg.Nodes, config.Node{ID: "kiosk", Name: "Kiosk", ConsoleKeys: []string{kioskKey}},
		config.Node{ID: "remote", URL: "http://127.0.0.1:9/hook", Secret: config.NewWebhookSecret()})
	cfg.Drops[0].Stock = append(cfg.Drops[0].Stock, config.StockLine{Node: "kiosk", SKU: config.DemoSKU, Qty: 5})
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Through the whole server (middleware, request ids, the request log): a
// wrong console key and an unknown node get the same answer but for the
// request id, and the key of a ?key= link is in no log line.
func TestConsoleWrongKeyAnswerThroughServer(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	cfg := hostedConfig(t)
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	a, err := New(Options{Config: cfg, Logger: zerolog.New(lockedBuf{&mu, &logs}), Store: storetest.Redis(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Server().Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = a.Shutdown(t.Context()) })
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for _, tc := range []struct{ name, a, b string }{
		{"wrong key", "/n/kiosk?key=wrong-key-0123456789", "/n/nowhere?key=wrong-key-0123456789"},
		{"a creator's overlay key", "/n/kiosk?key=" + url.QueryEscape(cfg.Creators[0].OverlayKeys[0]), "/n/nowhere?key=" + url.QueryEscape(cfg.Creators[0].OverlayKeys[0])},
		{"a hosted node without keys", "/n/kiosk?key=x", "/n/" + config.DemoNode + "?key=x"},
		{"a node with a url", "/n/kiosk?key=x", "/n/remote?key=x"},
		{"API", "/n/kiosk/claims", "/n/nowhere/claims"},
	} {
		ra, ba := get(tc.a)
		rb, bb := get(tc.b)
		if ra.StatusCode != rb.StatusCode || ba != bb {
			t.Fatalf("%s: %d %q\nvs %d %q", tc.name, ra.StatusCode, ba, rb.StatusCode, bb)
		}
		if ra.Header.Get(server.RequestIDHeader) == "" {
			t.Fatalf("%s: no request id", tc.name)
		}
		for _, h := range []http.Header{ra.Header, rb.Header} {
			h.Del(server.RequestIDHeader)
			h.Del("Date")
		}
		if len(ra.Header) != len(rb.Header) {
			t.Fatalf("%s: headers %v\nvs %v", tc.name, ra.Header, rb.Header)
		}
		for k := range ra.Header {
			if ra.Header.Get(k) != rb.Header.Get(k) {
				t.Fatalf("%s: %s %q vs %q", tc.name, k, ra.Header.Get(k), rb.Header.Get(k))
			}
		}
	}

	res, _ := get("/n/kiosk?key=" + kioskKey)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/n/kiosk" {
		t.Fatalf("right key: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), `"path":"/n/kiosk"`) {
		t.Fatalf("no request log line:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), kioskKey) {
		t.Fatalf("the console key is in the logs:\n%s", logs.String())
	}
}
