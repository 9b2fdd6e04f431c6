package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// benchCluster is the test cluster (REDIS_CLUSTER_ADDRS), or a private
// one of three masters started for the benchmark.
func benchCluster(b *testing.B) store.Store {
	b.Helper()
	if len(storetest.ClusterAddrs()) > 0 {
		return storetest.Cluster(b)
	}
	c := storetest.StartPrivateCluster(b, 3)
	st, err := store.NewRedis(store.RedisConfig{Cluster: c.Addrs(), Prefix: storetest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// Claims on a Redis Cluster by distinct viewers, 64 at a time, for a
// drop of 1 and of 4 shards in the same run, through Claims (no HTTP:
// the store is what shards change). "all-win": stock for every
// attempt; "rush": 20 attempts per unit, so most end sold out. Reports
// attempts/s, and created claims to check nothing was oversold.
func BenchmarkShardedClaims(b *testing.B) {
	for _, shape := range []struct {
		name    string
		perUnit int // attempts per unit
	}{{"all-win", 1}, {"rush", 20}} {
		for _, shards := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/shards=%d", shape.name, shards), func(b *testing.B) {
				st := benchCluster(b)
				units := max(b.N/shape.perUnit, 1)
				d := shardedDrop("bench", shards, units)
				e := newClaimEnv(b, st, time.Now, d)
				ctx := context.Background()
				if err := e.claims.InitStock(ctx, &d); err != nil {
					b.Fatal(err)
				}
				e.open(b, d.ID)
				var next, created, soldOut atomic.Int64
				b.SetParallelism(32) // 64 on this machine's 2 cores
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						v := fmt.Sprintf("viewer-%d", next.Add(1))
						_, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + d.ID, Viewer: v})
						switch {
						case err == nil:
							created.Add(1)
						case errors.Is(err, ErrSoldOut):
							soldOut.Add(1)
						default:
							b.Error(err)
						}
					}
				})
				took := time.Since(start)
				b.StopTimer()
				if created.Load() != int64(min(units, b.N)) {
					b.Fatalf("%d claims created of %d units (%d attempts)", created.Load(), units, b.N)
				}
				b.ReportMetric(float64(b.N)/took.Seconds(), "attempts/s")
				b.ReportMetric(float64(created.Load())/took.Seconds(), "claims/s")
			})
		}
	}
}
