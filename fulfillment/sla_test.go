package fulfillment

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Two replicas expire the same deadlines (on one Redis and on a Redis
// Cluster): each claim fails and is compensated exactly once, and no code
// is handed out twice.
func TestSLAExpiryTwoReplicas(t *testing.T) {
	storetest.EachRedis(t, testSLAExpiryTwoReplicas)
}

func testSLAExpiryTwoReplicas(t *testing.T, be storetest.Backend) {
	prefix := storetest.Prefix(t)
	stA, stB := be.Open(t, prefix), be.Open(t, prefix)
	node := newTestNode(t)
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	nc.PickupSLA = config.Duration(400 * time.Millisecond)
	const claims, codes = 30, 25
	comp := config.Compensation{Kind: "code", CodesFile: codesFile(t, codes)}
	fA, fB := newFixture(t, stA, comp, nc), newFixture(t, stB, comp, nc)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := fA.service(func(c *Config) { c.Registerer, c.SLATick = regA, 5*time.Millisecond })
	b := fB.service(func(c *Config) { c.Registerer, c.SLATick = regB, 5*time.Millisecond })
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); run(t, s) }() // both load the pool at once
	}
	wg.Wait()
	if left, err := a.PoolLeft(context.Background(), fA.drop); err != nil || left != codes {
		t.Fatalf("pool after two loads: %d %v", left, err)
	}
	var ids []string
	for range claims {
		ids = append(ids, fA.claim("shop"))
	}
	eventually(t, 15*time.Second, "every deadline expired", func() bool {
		for _, id := range ids {
			if st := fA.claimHash(id)["state"]; st != "compensated" && st != "pickup_failed" {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // let any straggling replica act
	handed := map[string]string{}
	compensated := 0
	for _, id := range ids {
		h := fA.claimHash(id)
		hist := strings.Join(fA.history(id), ",")
		switch h["state"] {
		case "compensated":
			compensated++
			if hist != "claimed,forwarded,pickup_failed,compensated" {
				t.Errorf("%s history %s", id, hist)
			}
			if prev, dup := handed[h["compensation_code"]]; dup {
				t.Errorf("code %s handed to %s and %s", h["compensation_code"], prev, id)
			}
			handed[h["compensation_code"]] = id
		case "pickup_failed":
			if hist != "claimed,forwarded,pickup_failed" || h["compensation"] != "pool_empty" {
				t.Errorf("%s history %s, %v", id, hist, h)
			}
		}
	}
	if compensated != codes {
		t.Fatalf("%d compensated, want %d (the pool size)", compensated, codes)
	}
	sum := func(kind string) float64 {
		return testutil.ToFloat64(a.metrics.compensations.WithLabelValues(kind)) +
			testutil.ToFloat64(b.metrics.compensations.WithLabelValues(kind))
	}
	if got := sum("code"); got != codes {
		t.Fatalf("compensations{code} across replicas = %v, want %d", got, codes)
	}
	if got := sum("pool_empty"); got != claims-codes {
		t.Fatalf("compensations{pool_empty} across replicas = %v, want %d", got, claims-codes)
	}
	redeemed := testutil.ToFloat64(a.metrics.redemptions.WithLabelValues(fA.drop, "pickup_failed")) +
		testutil.ToFloat64(b.metrics.redemptions.WithLabelValues(fA.drop, "pickup_failed"))
	if redeemed != claims {
		t.Fatalf("pickup_failed counted %v times, want %d", redeemed, claims)
	}
	if left, _ := a.PoolLeft(context.Background(), fA.drop); left != 0 {
		t.Fatalf("pool left %d", left)
	}
}

// A ready claim gets a fresh deadline; a picked-up one has none.
func TestSLAReadyExtendsAndPickupClears(t *testing.T) {
	st := storetest.Memory(t)
	node := newTestNode(t)
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	nc.PickupSLA = config.Duration(300 * time.Millisecond)
	f := newFixture(t, st, config.Compensation{Kind: "none"}, nc)
	s := f.service()
	run(t, s)
	ready, picked := f.claim("shop"), f.claim("shop")
	eventually(t, 5*time.Second, "forwarded", func() bool {
		return f.claimHash(ready)["state"] == "forwarded" && f.claimHash(picked)["state"] == "forwarded"
	})
	ctx := context.Background()
	time.Sleep(150 * time.Millisecond)
	if _, err := s.HandleCallback(ctx, "shop", "r1", Callback{Type: "claim.ready", Claim: ready}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HandleCallback(ctx, "shop", "p1", Callback{Type: "claim.picked_up", Claim: picked}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond) // past the first deadline, not the new one
	if st := f.claimHash(ready)["state"]; st != "ready" {
		t.Fatalf("ready claim is %s before its new deadline", st)
	}
	eventually(t, 5*time.Second, "ready claim expired", func() bool { return f.claimHash(ready)["state"] == "pickup_failed" })
	if st := f.claimHash(picked)["state"]; st != "picked_up" {
		t.Fatalf("picked-up claim is %s", st)
	}
	if h := f.claimHash(ready); h["compensation"] != "none" {
		t.Fatalf("compensation %q", h["compensation"])
	}
}

// Compensation kind webhook: a signed claim.compensated reaches the
// creator's URL through the forwarder, once per claim, and then the claim
// is compensated.
func TestWebhookCompensation(t *testing.T) {
	st := storetest.Redis(t)
	node := newTestNode(t)
	creator := newTestNode(t)
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	f := newFixture(t, st, config.Compensation{Kind: "webhook", URL: creator.srv.URL, Secret: creator.secret}, nc)
	creator.setRespond(func(_ *http.Request, hit int) (int, http.Header) {
		if hit == 1 {
			return 500, nil // retried like any delivery
		}
		return 200, nil
	})
	s := f.service()
	run(t, s)
	id := f.claim("shop")
	eventually(t, 5*time.Second, "forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })
	if _, err := s.HandleCallback(context.Background(), "shop", "rej-1", Callback{Type: "claim.rejected", Claim: id, Reason: "out of stock"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "compensated", func() bool { return f.claimHash(id)["state"] == "compensated" })
	got := creator.deliveries()
	if len(got) != 1 || got[0].ID != id+".compensated" || got[0].Payload.Type != TypeClaimCompensated ||
		got[0].Payload.Claim.ID != id || got[0].Payload.Claim.PickupCode != "" {
		b, _ := json.Marshal(got)
		t.Fatalf("creator got %s", b)
	}
	if bad := creator.badSignatures(); len(bad) > 0 {
		t.Fatalf("bad signatures %v", bad)
	}
	if got := strings.Join(f.history(id), ","); got != "claimed,forwarded,rejected,compensated" {
		t.Fatalf("history %s", got)
	}
}

// zaddScript adds a member to a sorted set, as a deadline is written.
var zaddScript = store.NewScript("test-zadd", `return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])`,
	func(tx store.Tx, keys, argv []string) (any, error) {
		score, _ := strconv.ParseFloat(argv[0], 64)
		if tx.ZAdd(keys[0], score, argv[1]) {
			return int64(1), nil
		}
		return int64(0), nil
	})

// A passed deadline of a claim that no longer exists (its hash expired)
// is dropped, and fails nothing.
func TestSLADeadlineOfUnknownClaimDropped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		ctx := context.Background()
		past := strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10)
		f.backlogged() // as the transition that set the deadline did
		if _, err := st.Run(ctx, zaddScript, []string{slaKey(f.drop)}, past, f.drop+".gonegonegonegone"); err != nil {
			t.Fatal(err)
		}
		s := f.service()
		n, err := s.ExpirePickups(ctx)
		if err != nil || n != 0 {
			t.Fatalf("ExpirePickups = %d, %v; want nothing failed", n, err)
		}
		if left, err := st.Run(ctx, cardScript, []string{slaKey(f.drop)}); err != nil || left != int64(0) {
			t.Fatalf("deadlines left: %v, %v", left, err)
		}
	})
}
