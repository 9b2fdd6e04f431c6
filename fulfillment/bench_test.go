package fulfillment

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// countingNode is a node that answers 204 at once and records when each
// claim arrived.
type countingNode struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	done    chan struct{}
	want    int
}

func newCountingNode(b *testing.B, want int) (*countingNode, *httptest.Server) {
	n := &countingNode{arrived: make(map[string]time.Time, want), done: make(chan struct{}), want: want}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		now := time.Now()
		n.mu.Lock()
		if _, seen := n.arrived[id]; !seen {
			n.arrived[id] = now
			if len(n.arrived) == n.want {
				close(n.done)
			}
		}
		n.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return n, srv
}

// BenchmarkDeliveries measures end-to-end forwarding throughput of one
// replica to one local node: outbox read, claim read, receipt-less body,
// signing, POST, claim → forwarded, ack.
func BenchmarkDeliveries(b *testing.B) {
	st := storetest.Redis(b)
	node, srv := newCountingNode(b, b.N)
	f := newFixture(b, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", srv.URL, newSecret(b)))
	for range b.N {
		f.claim("shop")
	}
	s := f.service(func(c *Config) { c.Workers = 32 })
	b.ResetTimer()
	start := time.Now()
	run(b, s)
	select {
	case <-node.done:
	case <-time.After(5 * time.Minute):
		b.Fatal("not every claim was delivered")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	// The delivery log is written off the delivery path: say whether it
	// kept up.
	b.ReportMetric(testutil.ToFloat64(s.metrics.attemptLogDropped), "log-dropped")
}

// BenchmarkOutboxLagBurst measures outbox lag (claim written → node has
// it) when 10,000 claims arrive in one burst at a running replica.
func BenchmarkOutboxLagBurst(b *testing.B) {
	const burst = 10000
	for range b.N {
		b.StopTimer()
		st := storetest.Redis(b)
		node, srv := newCountingNode(b, burst)
		f := newFixture(b, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", srv.URL, newSecret(b)))
		s := f.service(func(c *Config) { c.Workers = 32 })
		run(b, s)
		b.StartTimer()
		created := make(map[string]time.Time, burst)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < burst; i += 16 {
					at := time.Now()
					id := f.claim("shop")
					mu.Lock()
					created[id+".created"] = at
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		written := time.Since(start)
		select {
		case <-node.done:
		case <-time.After(5 * time.Minute):
			b.Fatal("not every claim was delivered")
		}
		drained := time.Since(start)
		b.StopTimer()
		node.mu.Lock()
		lags := make([]float64, 0, burst)
		for id, at := range node.arrived {
			lags = append(lags, float64(at.Sub(created[id]).Milliseconds()))
		}
		node.mu.Unlock()
		slices.Sort(lags)
		b.ReportMetric(lags[len(lags)/2], "p50-lag-ms")
		b.ReportMetric(lags[len(lags)*99/100], "p99-lag-ms")
		b.ReportMetric(lags[len(lags)-1], "max-lag-ms")
		b.ReportMetric(written.Seconds()*1000, "burst-written-ms")
		b.ReportMetric(drained.Seconds()*1000, "drained-ms")
		b.StartTimer()
	}
}
