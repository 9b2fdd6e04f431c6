package verifier_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// BenchmarkRedisCPU measures what Redis spends per operation, from INFO
// commandstats and INFO cpu read before and after each phase, on a Redis
// and on a three-master Redis Cluster of the benchmark's own (so no other
// client's commands are counted):
//
//   - ingest: 2,000 capture events of an open drop (the ingest script:
//     dedupe, moment, corroboration), 32 at a time;
//   - page: 2,000 first visits of the claim page over HTTP, each a new
//     device (the code, the drop's state and stock, the device cookie);
//   - claim: 2,000 successful claims over HTTP, one by each of those
//     devices (the claim script: window, viewer, stock, claim, outbox
//     entry, announcement; then the claim's delivery from the outbox).
//
// Per phase it reports the mean µs of one script call (evalsha), of the
// announcement (PUBLISH inside the script on one Redis; SPUBLISH after it
// on a cluster), of the outbox write (XADD, inside the claim script), and
// Redis's whole processor time per operation (commands and socket I/O,
// summed over the masters). Run it with
//
//	go test -run '^$' -bench RedisCPU -benchtime 1x ./verifier/
func BenchmarkRedisCPU(b *testing.B) {
	for _, backend := range []string{"redis", "cluster"} {
		b.Run(backend, func(b *testing.B) {
			var addrs []string
			cfg := store.RedisConfig{Prefix: "cpu:"}
			if backend == "redis" {
				s := storetest.StartPrivateRedis(b)
				addrs = []string{s.Addr()}
				cfg.URL = s.URL()
			} else {
				pc := storetest.StartPrivateCluster(b, 3)
				addrs = pc.Masters()
				cfg.Cluster = pc.Addrs()
			}
			var runs sync.Map // script name → *atomic.Int64
			cfg.OnRun = func(s *store.Script, _ []string) {
				n, _ := runs.LoadOrStore(s.Name, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
			st, err := store.NewRedis(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			const n = 2000
			for range b.N {
				a, addr, code := benchApp(b, st, n)
				v := a.Verifier()
				phase := func(name string, fn func()) {
					runs.Clear()
					before := storetest.CommandStats(b, addrs...)
					cpu := make([]float64, len(addrs))
					for i, a := range addrs {
						cpu[i] = storetest.CPUSeconds(b, a)
					}
					fn()
					d := storetest.DiffStats(before, storetest.CommandStats(b, addrs...))
					var total, busiest float64
					for i, a := range addrs {
						used := (storetest.CPUSeconds(b, a) - cpu[i]) * 1e6 / n
						total += used
						busiest = max(busiest, used)
					}
					// The master of the drop's slot does the scripts: its
					// processor time bounds one drop's rate.
					b.ReportMetric(busiest, name+"-busiest-master-cpu-µs/op")
					announce := d["publish"]
					if backend == "cluster" {
						announce = d["spublish"]
					}
					b.ReportMetric(d["evalsha"].UsecPerCall(), name+"-script-µs/call")
					b.ReportMetric(float64(d["evalsha"].Calls)/n, name+"-scripts/op")
					b.ReportMetric(announce.UsecPerCall(), name+"-announce-µs/call")
					if name == "claim" {
						b.ReportMetric(d["xadd"].UsecPerCall(), "claim-outbox-µs/call")
					}
					b.ReportMetric(total, name+"-redis-cpu-µs/op")
					var mix []string
					runs.Range(func(k, v any) bool {
						mix = append(mix, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
						return true
					})
					b.Logf("%s, %s: scripts run: %s; commands: %v", backend, name, strings.Join(mix, ", "), d)
				}
				phase("ingest", func() {
					var wg sync.WaitGroup
					var next atomic.Int64
					for range 32 {
						wg.Go(func() {
							for i := next.Add(1); i <= n; i = next.Add(1) {
								_, err := v.Ingest(context.Background(), verifier.Source{ID: "capture", Creator: "ava"},
									verifier.Event{ID: fmt.Sprintf("cpu-%d", i), Type: verifier.TypeDropTrigger, Drop: "spring",
										Moment: "open", Channel: verifier.ChannelWebhook})
								if err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
				})
				var reqs []loadgen.Request
				phase("page", func() { reqs = claimRequests(b, addr, code, "cpu", n) })
				phase("claim", func() {
					res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: 32, Max: n,
						Request: func(i int) loadgen.Request { return reqs[i] }})
					// A script retried after a timeout on a starved machine
					// finds its own claim: 200, the same claim.
					if err != nil || res.Status[http.StatusCreated]+res.Status[http.StatusOK] != n {
						b.Fatalf("claims: %v %v %v", res.Status, res.Errors, err)
					}
				})
			}
		})
	}
}
