package fulfillment

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// manyDrops adds n drops without work to the fixture's catalog.
func (f *fixture) manyDrops(n int) {
	for i := range n {
		d := config.Drop{ID: fmt.Sprintf("idle-%d", i), Creator: "ava",
			Stock: []config.StockLine{{Node: f.nodes[0].ID, SKU: "s", Qty: 5}}}
		d.ApplyDefaults()
		f.drops.Put(d)
	}
}

// Among many drops without work, the one with work is still found: a
// pickup deadline stored before the backlog was kept is indexed at start
// and expired, a claim is forwarded; once the
// drop's work is done and nothing was added to it for a while, it leaves
// the backlog, and its depth series with it.
func TestBacklogFindsWorkAmongManyDrops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		f.manyDrops(300)
		// Stored by an earlier version: no backlog entry.
		past := strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10)
		if _, err := st.Run(ctx, zaddScript, []string{slaKey(f.drop)}, past, f.drop+".gonegonegonegone"); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		skew := time.Duration(0)
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
		// The backlog's clock runs ahead when the test says so; the rest
		// keeps time (webhook timestamps).
		s := f.service(func(c *Config) {
			c.Backlog, c.Tick, c.SLATick = verifier.NewBacklog(st, now), 5*time.Millisecond, 5*time.Millisecond
		})
		run(t, s)
		eventually(t, 10*time.Second, "the old deadline expired", func() bool {
			n, _ := st.Run(ctx, cardScript, []string{slaKey(f.drop)})
			return n == int64(0)
		})
		backlog := func() []string {
			all, err := verifier.NewBacklog(st, nil).Drops(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range all {
				ids = append(ids, d.ID)
			}
			return ids
		}
		if b := backlog(); len(b) != 1 || b[0] != f.drop {
			t.Fatalf("backlog %v, want %s alone", b, f.drop)
		}

		id := f.claim("shop")
		eventually(t, 10*time.Second, "the claim forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })
		for _, to := range []string{verifier.ClaimAccepted, verifier.ClaimReady, verifier.ClaimPickedUp} {
			if _, err := s.Apply(ctx, Transition{Drop: f.drop, Claim: id, To: to, Node: "shop"}); err != nil {
				t.Fatalf("%s: %v", to, err)
			}
		}
		// Picked up: no deadline left, nothing pending. Still in the
		// backlog until nothing has been added to it for a while.
		time.Sleep(100 * time.Millisecond)
		if b := backlog(); len(b) != 1 {
			t.Fatalf("backlog right after the work: %v", b)
		}
		mu.Lock()
		skew = 11 * time.Minute
		mu.Unlock()
		eventually(t, 15*time.Second, "the drop released", func() bool { return len(backlog()) == 0 })
		if n := testutil.CollectAndCount(s.metrics.depth); n != 0 {
			t.Fatalf("depth series left: %d", n)
		}
		// Work again: a claim brings it back and it is forwarded.
		id2 := f.claim("shop")
		eventually(t, 10*time.Second, "the next claim forwarded", func() bool { return f.claimHash(id2)["state"] == "forwarded" })
		if b := backlog(); len(b) != 1 {
			t.Fatalf("backlog after the next claim: %v", b)
		}
	})
}

// A replica's pool gauge answers a drop without work from its last read,
// yet shows codes added through another replica at its next scrape (the
// upload touches the backlog, whose pools every scrape reads).
func TestPoolGaugeFollowsOtherReplicasUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, config.Compensation{Kind: "code"}, testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t)))
		f.manyDrops(50)
		regB := prometheus.NewRegistry()
		a := f.service()
		f.service(func(c *Config) { c.Registerer = regB })
		codes := func() string {
			t.Helper()
			mfs, err := regB.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "dropwire_compensation_pool_codes" {
					for _, m := range mf.GetMetric() {
						if m.GetLabel()[0].GetValue() == f.drop {
							return strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64)
						}
					}
				}
			}
			return "none"
		}
		if got := codes(); got != "0" {
			t.Fatalf("before any code: %s", got)
		}
		if _, _, err := a.AddCodes(context.Background(), f.drop, []string{"A", "B", "C"}); err != nil {
			t.Fatal(err)
		}
		if got := codes(); got != "3" {
			t.Fatalf("after another replica added 3 codes: %s", got)
		}
	})
}
