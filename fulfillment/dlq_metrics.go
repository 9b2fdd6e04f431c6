package fulfillment

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropwire/dropwire/internal/store"
)

// Dead-letter metrics, read at scrape time like the pool metrics: every
// replica reports what the store holds, so an entry dead-lettered by one
// replica shows on all of them, and a replay through any replica empties
// every replica's gauge. The counter dropwire_fulfillment_dead_letters_total
// says how often this replica gave up; this gauge says what still waits.
var dlqEntriesDesc = prometheus.NewDesc("dropwire_fulfillment_dlq_entries",
	"Dead-lettered outbox entries of a drop waiting to be replayed (GET /v1/admin/dlq lists them).", []string{"drop"}, nil)

// dlqCollector exports the size of the dead-letter list of every drop of
// the backlog (a drop with dead letters stays in it): one store read per
// such drop and scrape.
type dlqCollector struct{ s *Service }

func (c dlqCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dlqEntriesDesc }

func (c dlqCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	drops, err := c.s.workDrops(ctx)
	if err != nil {
		c.s.storeErr(ctx, err, "dead-letter metrics")
		return
	}
	for _, d := range drops {
		n, err := c.s.st.Run(ctx, hlenScript, []string{dlqKey(d.ID)})
		if err != nil {
			// Missing beats wrong: an alert on the gauge sees no data.
			c.s.storeErr(ctx, err, "dead-letter metrics")
			return
		}
		entries, _ := n.(int64)
		ch <- prometheus.MustNewConstMetric(dlqEntriesDesc, prometheus.GaugeValue, float64(entries), d.ID)
	}
}

var hlenScript = store.NewScript("hlen", `return redis.call('HLEN', KEYS[1])`,
	func(tx store.Tx, keys, _ []string) (any, error) { return tx.HLen(keys[0]), nil })
