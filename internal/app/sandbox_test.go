package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
)

// trigger opens drop as a capture SDK does: a signed drop.trigger webhook.
func trigger(t *testing.T, a *App, srv *httptest.Server, drop, id string) {
	t.Helper()
	src := a.Config().Sources[0]
	now := time.Now()
	body, _ := json.Marshal(map[string]any{"type": "drop.trigger", "drop": drop, "moment": "m-" + id,
		"occurred_at": now.UTC().Format(time.RFC3339Nano)})
	h, err := sdkhooks.SignRequest(src, id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/hooks/"+src.ID, bytes.NewReader(body))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger %s: %d", drop, res.StatusCode)
	}
}

// overlayClient is an overlay of the demo creator on srv.
type overlayClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialOverlay(t *testing.T, a *App, srv *httptest.Server) *overlayClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/overlay/demo/ws?key=" + url.QueryEscape(a.Config().Creators[0].OverlayKeys[0])
	ws, res, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("overlay: %v %v", err, res)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &overlayClient{t: t, ws: ws}
}

// until reads states until ok accepts one.
func (c *overlayClient) until(ok func(overlay.State) bool) overlay.State {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("overlay read: %v", err)
		}
		var s overlay.State
		if err := json.Unmarshal(b, &s); err != nil {
			c.t.Fatalf("bad frame %q: %v", b, err)
		}
		if s.Type == "state" && ok(s) {
			return s
		}
	}
}

// qrURL reads the claim URL the state's QR encodes, from its modules.
func qrURL(t *testing.T, s overlay.State) string {
	t.Helper()
	u, err := s.QR.Text()
	if err != nil {
		t.Fatalf("the overlay's QR does not decode: %v", err)
	}
	return u
}

func showing(drop string) func(overlay.State) bool {
	return func(s overlay.State) bool {
		return s.Status == overlay.StatusOpen && s.Drop != nil && s.Drop.ID == drop && s.QR != nil
	}
}

type problemBody struct {
	Code   string
	Detail string
	Drop   struct {
		ID, Title, Status string
		ClosesAt          time.Time `json:"closes_at"`
	}
}

// TestTestDropRefusedWhileLive: while a real drop of the creator is open
// (sold out included), a test drop is refused with 409 drop_live naming
// it, nothing is created and the overlay keeps the real QR; once the real
// drop has closed, the test opens.
func TestTestDropRefusedWhileLive(t *testing.T) {
	a, srv := adminApp(t, nil, storetest.Redis(t))
	tok := a.Config().AdminToken
	spec := map[string]any{"id": "spring", "creator": "demo", "title": "Spring pack", "window": "30m",
		"stock": []map[string]any{{"node": "demo-locker", "sku": "pack", "qty": 3}}}
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	ov := dialOverlay(t, a, srv)
	trigger(t, a, srv, "spring", "evt-1")
	shown := ov.until(showing("spring"))

	var p problemBody
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/spring/test", map[string]any{}, &p); code != 409 ||
		p.Code != "drop_live" || p.Drop.ID != "spring" || p.Drop.Title != "Spring pack" || p.Drop.Status != "open" ||
		!strings.Contains(p.Detail, "Spring pack") || p.Drop.ClosesAt.IsZero() {
		t.Fatalf("test while live: %d %+v", code, p)
	}
	// The same for the configured drop: any real drop of the creator counts.
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/"+config.DemoDrop+"/test", map[string]any{}, &p); code != 409 || p.Drop.ID != "spring" {
		t.Fatalf("test of another drop while live: %d %+v", code, p)
	}
	var list struct{ Drops []admin.DropView }
	adminCall(t, srv, tok, "GET", "/v1/admin/drops", nil, &list)
	for _, d := range list.Drops {
		if d.Sandbox {
			t.Fatalf("a refused test left a sandbox drop: %+v", d)
		}
	}
	// A fresh overlay gets the hub's state: still the real drop's QR.
	if s := dialOverlay(t, a, srv).until(func(overlay.State) bool { return true }); !showing("spring")(s) {
		t.Fatalf("overlay after the refused test: %+v", s)
	}

	// Sold out, within its window, it is still live.
	if err := a.Store().HSet(t.Context(), store.DropKey("spring", "stock"), map[string]string{"demo-locker:pack": "0"}); err != nil {
		t.Fatal(err)
	}
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/spring/test", map[string]any{}, &p); code != 409 || p.Code != "drop_live" || p.Drop.Status != "sold_out" {
		t.Fatalf("test while sold out: %d %+v", code, p)
	}

	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/spring/close", nil, nil); code != 200 {
		t.Fatalf("close: %d", code)
	}
	var res admin.TestResult
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/spring/test", map[string]any{}, &res); code != 201 || !res.Drop.Sandbox {
		t.Fatalf("test after the close: %d %+v", code, res.Drop)
	}
	if s := ov.until(showing(res.Drop.ID)); qrURL(t, s) == qrURL(t, shown) {
		t.Fatalf("the test shows the real drop's QR: %+v", s)
	}
}

// dropKeys lists the Redis keys of a drop under the app's prefix, read
// with a raw client (on a cluster, of the master of the drop's slot).
func dropKeys(t *testing.T, st *store.Redis, drop string) []string {
	t.Helper()
	var raw redis.Cmdable = storetest.Client(t)
	if st.Cluster() {
		node, err := storetest.ClusterClient(t).MasterForKey(t.Context(), st.Prefix()+store.DropKey(drop))
		if err != nil {
			t.Fatal(err)
		}
		raw = node
	}
	var keys []string
	iter := raw.Scan(t.Context(), 0, st.Prefix()+store.DropKey(drop)+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		keys = append(keys, strings.TrimPrefix(iter.Val(), st.Prefix()))
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// claim claims code as a phone does: the claim page for the device
// cookie, then the claim.
func claim(t *testing.T, srv *httptest.Server, claimURL string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	u, _ := url.Parse(claimURL)
	res, err := c.Get(srv.URL + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	code := strings.TrimPrefix(u.Path, "/c/")
	res, err = c.Post(srv.URL+"/v1/claims", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("claim: %d", res.StatusCode)
	}
}

// TestDeleteDrop, on one Redis and on a Redis Cluster: a sandbox drop goes in any state with every key of it
// (its claims are tests), on every replica, and leaves the overlay; a
// drop of the API that never opened goes too; an opened real drop, a
// drop of the configuration file and an unknown id are refused.
func TestDeleteDrop(t *testing.T) {
	storetest.EachRedis(t, testDeleteDrop)
}

func testDeleteDrop(t *testing.T, b storetest.Backend) {
	prefix := storetest.Prefix(t)
	st1, st2 := b.Open(t, prefix), b.Open(t, prefix)
	cfg1, _ := config.Demo()
	cfg2, _ := config.Demo()
	cfg2.AdminToken, cfg2.Creators, cfg2.Sources, cfg2.Nodes = cfg1.AdminToken, cfg1.Creators, cfg1.Sources, cfg1.Nodes
	a1, srv1 := adminApp(t, cfg1, st1)
	a2, srv2 := adminApp(t, cfg2, st2)
	tok := cfg1.AdminToken
	mk := func(id string) {
		t.Helper()
		spec := map[string]any{"id": id, "creator": "demo", "title": id, "window": "30m",
			"stock": []map[string]any{{"node": "demo-locker", "sku": "pack", "qty": 3}}}
		if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops", spec, nil); code != 201 {
			t.Fatalf("create %s: %d", id, code)
		}
	}
	var p problemBody
	del := func(srv *httptest.Server, id string) int {
		t.Helper()
		p = problemBody{}
		return adminCall(t, srv, tok, "DELETE", "/v1/admin/drops/"+id, nil, &p)
	}
	var keys []string
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what, keys)
			}
		}
	}

	if code := del(srv1, "nope"); code != 404 || p.Code != "unknown_drop" {
		t.Fatalf("unknown: %d %+v", code, p)
	}
	if code := del(srv1, config.DemoDrop); code != 409 || p.Code != "config_drop" {
		t.Fatalf("config drop: %d %+v", code, p)
	}

	// A sandbox drop, open on stream, with a claim.
	mk("spring")
	ov := dialOverlay(t, a1, srv1)
	var test admin.TestResult
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops/spring/test", map[string]any{}, &test); code != 201 {
		t.Fatalf("test: %d", code)
	}
	sb := test.Drop.ID
	shown := ov.until(showing(sb))
	claim(t, srv1, qrURL(t, shown))
	if keys := dropKeys(t, st1, sb); !slices.Contains(keys, store.DropKey(sb, "outbox")) {
		t.Fatalf("no outbox after the claim: %v", keys)
	}
	var stats admin.Stats
	if code := adminCall(t, srv1, tok, "GET", "/v1/admin/drops/"+sb+"/stats", nil, &stats); code != 200 || stats.Claims != 1 {
		t.Fatalf("stats of the sandbox drop: %d %+v, want its one claim", code, stats)
	}
	eventually("replica 2 never saw the sandbox drop", func() bool { return adminCall(t, srv2, tok, "GET", "/v1/admin/drops/"+sb, nil, nil) == 200 })
	// Replica 2 knows it as a sandbox too: its forwarder labels the claims.
	if d, err := a2.Drops().Drop(t.Context(), sb); err != nil || !d.Sandbox {
		t.Fatalf("replica 2's catalog: %+v %v", d, err)
	}

	if code := del(srv1, sb); code != 204 {
		t.Fatalf("delete sandbox: %d %+v", code, p)
	}
	if s := ov.until(func(s overlay.State) bool { return s.Status != overlay.StatusOpen }); s.Status != overlay.StatusIdle {
		t.Fatalf("overlay after the deletion: %+v", s)
	}
	// Only the tombstone is left, and it expires. (A forwarder polling the
	// drop before it heard of the deletion may recreate an empty outbox:
	// a second sweep takes it.)
	state := store.DropKey(sb, "state")
	eventually("keys left", func() bool { keys = dropKeys(t, st1, sb); return slices.Equal(keys, []string{state}) })
	if h, _ := st1.HGetAll(t.Context(), state); h["status"] != "deleted" {
		t.Fatalf("tombstone: %v", h)
	}
	if ttl, err := st1.TTL(t.Context(), state); err != nil || ttl <= 0 {
		t.Fatalf("tombstone ttl: %v %v", ttl, err)
	}
	if code := adminCall(t, srv1, tok, "GET", "/v1/admin/drops/"+sb, nil, nil); code != 404 {
		t.Fatalf("deleted drop: %d", code)
	}
	eventually("replica 2 still has the deleted drop", func() bool {
		return adminCall(t, srv2, tok, "GET", "/v1/admin/drops/"+sb, nil, nil) == 404
	})
	if code := del(srv2, sb); code != 404 {
		t.Fatalf("delete twice: %d", code)
	}

	// A real drop that opened stays.
	trigger(t, a1, srv1, "spring", "evt-1")
	if code := del(srv1, "spring"); code != 409 || p.Code != "drop_opened" {
		t.Fatalf("opened real drop: %d %+v", code, p)
	}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops/spring/close", nil, nil); code != 200 {
		t.Fatalf("close: %d", code)
	}
	if code := del(srv1, "spring"); code != 409 || p.Code != "drop_opened" {
		t.Fatalf("closed real drop: %d %+v", code, p)
	}

	// A real drop that never opened goes, from either replica; its id can
	// be used again, and the new drop opens.
	mk("autumn")
	eventually("replica 2 never saw autumn", func() bool { return adminCall(t, srv2, tok, "GET", "/v1/admin/drops/autumn", nil, nil) == 200 })
	if code := del(srv2, "autumn"); code != 204 {
		t.Fatalf("delete never-opened drop: %d %+v", code, p)
	}
	eventually("replica 1 still has autumn", func() bool { return adminCall(t, srv1, tok, "GET", "/v1/admin/drops/autumn", nil, nil) == 404 })
	mk("autumn")
	trigger(t, a1, srv1, "autumn", "evt-2")
	var v admin.DropView
	if code := adminCall(t, srv1, tok, "GET", "/v1/admin/drops/autumn", nil, &v); code != 200 || v.Status != "open" {
		t.Fatalf("autumn again: %d %+v", code, v)
	}
}
