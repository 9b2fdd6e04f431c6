package fulfillment

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

const dlqHelp = `# HELP dropwire_fulfillment_dlq_entries Dead-lettered outbox entries of a drop waiting to be replayed (GET /v1/admin/dlq lists them).
# TYPE dropwire_fulfillment_dlq_entries gauge
`

// The dead-letter gauge is what the store holds: a replica that
// dead-lettered nothing reports the entry another replica gave up on, and
// a replay through it brings both replicas' gauges back to 0.
func TestDeadLetterGaugeSharedByReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node, setDown := switchableNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, deadNode(node))
		regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
		a := f.service(func(c *Config) { c.Registerer = regA })
		// B only reads: it forwards nothing, so the entry is A's.
		b := f.service(func(c *Config) { c.Registerer = regB })
		gauge := func(reg *prometheus.Registry, want string) error {
			return testutil.GatherAndCompare(reg, strings.NewReader(dlqHelp+
				`dropwire_fulfillment_dlq_entries{drop="drop-1"} `+want+"\n"), "dropwire_fulfillment_dlq_entries")
		}
		id := f.claim("shop")
		if err := gauge(regB, "0"); err != nil {
			t.Fatalf("before any dead letter: %v", err)
		}
		run(t, a)
		eventually(t, 5*time.Second, "forward_failed", func() bool { return f.claimHash(id)["state"] == "forward_failed" })
		for name, reg := range map[string]*prometheus.Registry{"A": regA, "B": regB} {
			if err := gauge(reg, "1"); err != nil {
				t.Fatalf("replica %s after the dead letter: %v", name, err)
			}
		}
		setDown(false)
		if err := b.Replay(context.Background(), id+".created"); err != nil {
			t.Fatal(err)
		}
		for name, reg := range map[string]*prometheus.Registry{"A": regA, "B": regB} {
			if err := gauge(reg, "0"); err != nil {
				t.Fatalf("replica %s after the replay: %v", name, err)
			}
		}
	})
}

// A replica whose store does not answer exports no dead-letter gauge
// rather than a wrong 0.
func TestDeadLetterGaugeMissingWhenStoreDown(t *testing.T) {
	rs := storetest.StartPrivateRedis(t)
	st, err := store.NewRedis(store.RedisConfig{URL: rs.URL(), Prefix: storetest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t)))
	reg := prometheus.NewRegistry()
	f.service(func(c *Config) { c.Registerer = reg })
	f.backlogged()
	if n, err := testutil.GatherAndCount(reg, "dropwire_fulfillment_dlq_entries"); err != nil || n != 1 {
		t.Fatalf("with the store up: %d series, %v", n, err)
	}
	rs.Kill()
	if n, err := testutil.GatherAndCount(reg, "dropwire_fulfillment_dlq_entries"); err != nil || n != 0 {
		t.Fatalf("with the store down: %d series, %v", n, err)
	}
}

// Missed pickup deadlines are counted once across replicas, by drop; the
// series is there at 0 from the first pass of the SLA loop, so that an
// alert on its increase sees the first miss.
func TestPickupSLAMissedCounted(t *testing.T) {
	prefix := storetest.Prefix(t)
	stA, stB := storetest.RedisWithPrefix(t, prefix), storetest.RedisWithPrefix(t, prefix)
	node := newTestNode(t)
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	nc.PickupSLA = config.Duration(300 * time.Millisecond)
	fA, fB := newFixture(t, stA, config.Compensation{Kind: "none"}, nc), newFixture(t, stB, config.Compensation{Kind: "none"}, nc)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := fA.service(func(c *Config) { c.Registerer, c.SLATick = regA, 5*time.Millisecond })
	b := fB.service(func(c *Config) { c.Registerer, c.SLATick = regB, 5*time.Millisecond })
	fA.backlogged() // the drop has work: its series stands at 0 from then
	if _, err := a.ExpirePickups(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `# HELP dropwire_fulfillment_pickup_sla_missed_total Claims whose pickup deadline passed without a pickup (moved to pickup_failed by the SLA loop), by drop; counted once across replicas.
# TYPE dropwire_fulfillment_pickup_sla_missed_total counter
dropwire_fulfillment_pickup_sla_missed_total{drop="drop-1"} 0
`
	if err := testutil.GatherAndCompare(regA, strings.NewReader(want), "dropwire_fulfillment_pickup_sla_missed_total"); err != nil {
		t.Fatalf("before any miss: %v", err)
	}
	run(t, a)
	run(t, b)
	const claims = 12
	var ids []string
	for range claims {
		ids = append(ids, fA.claim("shop"))
	}
	eventually(t, 15*time.Second, "every deadline missed", func() bool {
		for _, id := range ids {
			if fA.claimHash(id)["state"] != "pickup_failed" {
				return false
			}
		}
		return true
	})
	missed := testutil.ToFloat64(a.metrics.slaMissed.WithLabelValues(fA.drop)) +
		testutil.ToFloat64(b.metrics.slaMissed.WithLabelValues(fA.drop))
	if missed != claims {
		t.Fatalf("pickup_sla_missed across replicas = %v, want %d", missed, claims)
	}
}
