package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// adminApp runs the demo configuration on st behind an httptest server.
func adminApp(t *testing.T, cfg *config.Config, st store.Store) (*App, *httptest.Server) {
	t.Helper()
	if cfg == nil {
		var err error
		if cfg, err = config.Demo(); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	a, err := New(Options{Config: cfg, Logger: zerolog.Nop(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Server().Handler()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = a.Shutdown(t.Context())
	})
	return a, srv
}

// TestOpenAPICoversRoutes fails when a registered route is missing from
// /v1/openapi.json, or the document describes a route nobody serves.
func TestOpenAPICoversRoutes(t *testing.T) {
	a, srv := adminApp(t, nil, storetest.Memory(t))
	res, err := http.Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /v1/openapi.json: %d", res.StatusCode)
	}
	var head struct{ OpenAPI string }
	if err := json.Unmarshal(doc, &head); err != nil || head.OpenAPI != "3.1.0" {
		t.Fatalf("not an OpenAPI 3.1 document: %v %q", err, head.OpenAPI)
	}
	documented, err := admin.OpenAPIRoutes(doc)
	if err != nil {
		t.Fatal(err)
	}
	registered := a.Server().Routes()
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is registered but not in the OpenAPI document", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("the OpenAPI document describes %q, which is not registered", r)
		}
	}
}

// TestAdminRoutesRefuseToken checks every registered /v1/admin route:
// no token, a wrong one, a non-Bearer scheme, and — with no admin token
// configured — even an empty Bearer are all 401 problems.
func TestAdminRoutesRefuseToken(t *testing.T) {
	open, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	open.AdminToken = ""
	for _, tc := range []struct {
		name string
		cfg  *config.Config
	}{{"token configured", nil}, {"no token configured", open}} {
		t.Run(tc.name, func(t *testing.T) {
			a, srv := adminApp(t, tc.cfg, storetest.Memory(t))
			var n int
			for _, route := range a.Server().Routes() {
				method, path, _ := strings.Cut(route, " ")
				if !strings.HasPrefix(path, "/v1/admin/") {
					continue
				}
				n++
				path = strings.NewReplacer("{id}", "demo-drop", "{creator}", "demo").Replace(path)
				for _, auth := range []string{"", "Bearer wrong-token", "Basic " + a.Config().AdminToken, "Bearer ", a.Config().AdminToken} {
					req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{}`))
					if auth != "" {
						req.Header.Set("Authorization", auth)
					}
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var p struct{ Code string }
					_ = json.NewDecoder(res.Body).Decode(&p)
					res.Body.Close()
					if res.StatusCode != 401 || p.Code != "unauthorized" || res.Header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("%s with Authorization %q: %d %q, want a 401 problem", route, auth, res.StatusCode, p.Code)
					}
				}
			}
			if n < 13 {
				t.Fatalf("only %d admin routes registered", n)
			}
		})
	}
}

// adminCall sends an admin request and decodes the answer into out.
func adminCall(t *testing.T, srv *httptest.Server, token, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// TestAdminDropsAcrossReplicas creates, tests, stocks and closes drops on
// one replica and reads them on another sharing the Redis (one Redis, and
// a Redis Cluster).
func TestAdminDropsAcrossReplicas(t *testing.T) {
	storetest.EachRedis(t, testAdminDropsAcrossReplicas)
}

func testAdminDropsAcrossReplicas(t *testing.T, b storetest.Backend) {
	prefix := storetest.Prefix(t)
	st1, st2 := b.Open(t, prefix), b.Open(t, prefix)
	cfg1, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg2, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	// Same creators, sources, nodes and token on both replicas.
	cfg2.AdminToken, cfg2.Creators, cfg2.Sources, cfg2.Nodes = cfg1.AdminToken, cfg1.Creators, cfg1.Sources, cfg1.Nodes
	_, srv1 := adminApp(t, cfg1, st1)
	a2, srv2 := adminApp(t, cfg2, st2)
	tok := cfg1.AdminToken

	spec := map[string]any{"id": "spring", "creator": "demo", "title": "Spring pack", "window": "30m",
		"stock": []map[string]any{{"node": "demo-locker", "sku": "pack", "qty": 3}}}
	var created admin.DropView
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops", spec, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if created.Status != "idle" || created.Total != 3 || created.QRRotate != "20s" || created.Source != "api" {
		t.Fatalf("created: %+v", created)
	}
	if code := adminCall(t, srv2, tok, "POST", "/v1/admin/drops", spec, nil); code != 409 {
		t.Fatalf("same id on the other replica: %d, want 409", code)
	}
	var bad struct {
		Code     string
		Problems []map[string]string
	}
	badSpec := map[string]any{"id": "bad", "creator": "nobody", "window": "-1s", "stock": []any{}}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops", badSpec, &bad); code != 422 || bad.Code != "invalid_drop" {
		t.Fatalf("invalid drop: %d %+v", code, bad)
	}
	badSpec["window"] = "1h"
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops", badSpec, &bad); code != 422 || len(bad.Problems) < 2 {
		t.Fatalf("invalid drop: %d %+v", code, bad)
	}

	// The other replica learns the drop through pub/sub.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v admin.DropView
		if adminCall(t, srv2, tok, "GET", "/v1/admin/drops/spring", nil, &v) == 200 && v.Total == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica 2 never saw the created drop")
		}
		time.Sleep(50 * time.Millisecond)
	}

	var stocked admin.DropView
	if code := adminCall(t, srv2, tok, "POST", "/v1/admin/drops/spring/stock",
		map[string]any{"node": "demo-locker", "sku": "pack", "qty": 2}, &stocked); code != 200 || stocked.Total != 5 || stocked.Left != 5 {
		t.Fatalf("add stock: %d %+v", code, stocked)
	}

	var test admin.TestResult
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops/spring/test", map[string]any{"qty": 2}, &test); code != 201 {
		t.Fatalf("test drop: %d", code)
	}
	if !test.Drop.Sandbox || test.Drop.Status != "open" || test.Drop.Total != 2 || !strings.Contains(string(test.Trigger), `"opened"`) {
		t.Fatalf("test drop: %+v %s", test.Drop, test.Trigger)
	}
	var stats admin.Stats
	if code := adminCall(t, srv2, tok, "GET", "/v1/admin/drops/"+test.Drop.ID+"/stats", nil, &stats); code != 200 {
		t.Fatalf("stats: %d", code)
	}
	if stats.Status != "open" || stats.Claims != 0 || stats.Left != 2 || stats.Moment == nil || stats.Moment.Channel != "webhook" {
		t.Fatalf("stats: %+v", stats)
	}
	var closed admin.DropView
	if code := adminCall(t, srv2, tok, "POST", "/v1/admin/drops/"+test.Drop.ID+"/close", nil, &closed); code != 200 || closed.Status != "closed" {
		t.Fatalf("close: %d %+v", code, closed)
	}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops/"+test.Drop.ID+"/close", nil, nil); code != 409 {
		t.Fatalf("close twice: %d, want 409", code)
	}
	if code := adminCall(t, srv1, tok, "GET", "/v1/admin/drops/nope/stats", nil, nil); code != 404 {
		t.Fatalf("unknown drop: %d", code)
	}

	// Key rotation: the new key opens the overlay on both replicas, the
	// old one still does during the grace period.
	old := cfg1.Creators[0].OverlayKeys[0]
	var rot admin.Rotation
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/creators/demo/overlay-key/rotate", nil, &rot); code != 200 || rot.Key == "" || rot.Key == old {
		t.Fatalf("rotate: %d %+v", code, rot)
	}
	keys, ok := a2.overlayKeys("demo")
	if !ok || !slices.Contains(keys, rot.Key) || !slices.Contains(keys, old) {
		t.Fatalf("keys after rotation: %v", keys)
	}
	var creators struct{ Creators []admin.CreatorView }
	adminCall(t, srv2, tok, "GET", "/v1/admin/creators", nil, &creators)
	if len(creators.Creators) != 1 || !strings.HasSuffix(creators.Creators[0].OverlayURL, "key="+rot.Key) {
		t.Fatalf("creators: %+v", creators)
	}
}
