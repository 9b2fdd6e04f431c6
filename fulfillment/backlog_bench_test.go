package fulfillment

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// BenchmarkIdleTick is the periodic work of one replica's fulfillment
// loops with many drops configured and one with work (a claim forwarded,
// awaiting pickup), on Redis: one pass of the SLA loop, one full sweep
// of the forwarder with its depth gauges, and one scrape of the
// fulfillment metrics (dead letters, pools). Its cost should follow the
// drops with work, not the drops configured.
func BenchmarkIdleTick(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("drops=%d", n), func(b *testing.B) {
			st := storetest.Redis(b)
			node := newTestNode(b)
			f := newFixture(b, st, config.Compensation{Kind: "code"}, testNodeConfig("shop", node.srv.URL, node.secret))
			f.manyDrops(n - 1)
			reg := prometheus.NewRegistry()
			s := f.service(func(c *Config) { c.Registerer = reg })
			f.claim("shop")
			ctx := context.Background()
			work := make(chan item, 16)
			go func() {
				for range work {
				}
			}()
			b.Cleanup(func() { close(work) })
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.ExpirePickups(ctx); err != nil {
					b.Fatal(err)
				}
				s.gauge(ctx, s.pollOnce(ctx, work, pollFull), true)
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
