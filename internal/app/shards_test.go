package app

import (
	"strings"
	"testing"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// A drop created through the admin API with shards: outside 1..64 it is
// refused, naming the key; inside, its stock is split over the shards,
// added stock too, the API reports the sum, and deleting it removes the
// shards' keys. On one Redis and on a cluster.
func TestAdminShardedDrop(t *testing.T) {
	storetest.EachRedis(t, func(t *testing.T, b storetest.Backend) {
		st := b.Open(t, storetest.Prefix(t))
		a, srv := adminApp(t, nil, st)
		tok := a.cfg.AdminToken
		spec := func(shards int) map[string]any {
			return map[string]any{"id": "sharded", "creator": "demo", "shards": shards,
				"stock": []map[string]any{{"node": "demo-locker", "sku": "pack", "qty": 10}}}
		}
		for _, n := range []int{0, -1, 65} {
			var bad struct {
				Code     string
				Problems []map[string]string
			}
			if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec(n), &bad); code != 422 || bad.Code != "invalid_drop" ||
				len(bad.Problems) != 1 || bad.Problems[0]["path"] != "drop.shards" || !strings.Contains(bad.Problems[0]["message"], "1 to 64") {
				t.Errorf("shards %d: %d %+v, want 422 invalid_drop naming drop.shards", n, code, bad)
			}
		}
		var created admin.DropView
		if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec(4), &created); code != 201 {
			t.Fatalf("create: %d", code)
		}
		if created.Shards == nil || *created.Shards != 4 || created.Total != 10 || created.Left != 10 {
			t.Fatalf("created: shards %v, stock %d of %d; want 4, 10 of 10", created.Shards, created.Left, created.Total)
		}
		var stocked admin.DropView
		if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/sharded/stock",
			map[string]any{"node": "demo-locker", "sku": "pack", "qty": 6}, &stocked); code != 200 || stocked.Total != 16 || stocked.Left != 16 {
			t.Fatalf("add stock: %d, %d of %d; want 16 of 16", code, stocked.Left, stocked.Total)
		}
		// 10 and 6 split: 3,3,2,2 and 2,2,1,1.
		for i, want := range []string{"5", "5", "3", "3"} {
			h, err := st.HGetAll(t.Context(), verifier.ShardKey("sharded", i, "stock"))
			if err != nil || h["demo-locker:pack"] != want {
				t.Errorf("shard %d: %v %v, want demo-locker:pack %s", i, h, err, want)
			}
		}
		if code := adminCall(t, srv, tok, "DELETE", "/v1/admin/drops/sharded", nil, nil); code != 204 {
			t.Fatalf("delete: %d", code)
		}
		for i := range 4 {
			if h, _ := st.HGetAll(t.Context(), verifier.ShardKey("sharded", i, "stock")); len(h) != 0 {
				t.Errorf("shard %d stock after delete: %v", i, h)
			}
		}
	})
}
