package overlay

import (
	"context"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// A drop of shards: 2 shows the stock of both shards summed, from its
// opening on (a line a shard has no count for has its share left).
func TestHubShardedStock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		leakCheck(t)
		d := testDrop("sharded") // n1:s 30 (15 + 15), n2:s 12 (6 + 6)
		shards := 2
		d.Shards = &shards
		e := newEnv(t, st, func(c *HubConfig) { c.Linger = time.Hour }, d)
		ctx := context.Background()
		// Taken before this opening: 10 of shard 0's n1, 4 of shard 1's n2.
		if err := st.HSet(ctx, verifier.ShardKey("sharded", 0, "stock"), map[string]string{"n1:s": "5"}); err != nil {
			t.Fatal(err)
		}
		if err := st.HSet(ctx, verifier.ShardKey("sharded", 1, "stock"), map[string]string{"n2:s": "2"}); err != nil {
			t.Fatal(err)
		}
		c := e.dial(t)
		c.next()
		e.trigger(t, "sharded", "e1")
		want := Stock{Left: 5 + 15 + 6 + 2, Total: 42}
		if s := c.until(func(s State) bool { return s.Status == StatusOpen }); *s.Stock != want {
			t.Fatalf("open frame stock %+v, want %+v", *s.Stock, want)
		}
	})
}
