package store_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// benchEach runs fn against a fresh store of each kind; "cluster" skips
// without a test cluster.
func benchEach(b *testing.B, fn func(b *testing.B, s store.Store)) {
	b.Run("memory", func(b *testing.B) { fn(b, storetest.Memory(b)) })
	b.Run("redis", func(b *testing.B) { fn(b, storetest.Redis(b)) })
	b.Run("cluster", func(b *testing.B) { fn(b, storetest.Cluster(b)) })
}

// counterScript increments a counter up to a cap, the shape of a claim.
var counterScript = store.NewScript("counter", `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return redis.error_reply('full') end
return redis.call('INCRBY', KEYS[1], 1)
`, func(tx store.Tx, keys, args []string) (any, error) {
	v, _ := tx.Get(keys[0])
	n, _ := strconv.ParseInt(v, 10, 64)
	limit, _ := strconv.ParseInt(args[0], 10, 64)
	if n >= limit {
		return nil, &store.ScriptError{Code: "full"}
	}
	return tx.IncrBy(keys[0], 1), nil
})

func BenchmarkSetNX(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.SetNX(ctx, "dedupe:"+strconv.FormatInt(seq.Add(1), 10), "1", time.Minute); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkGet(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		_ = s.Set(ctx, "k", "value", 0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, "k"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkHIncrBy(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		key := store.DropKey("bench", "counts")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.HIncrBy(ctx, key, "views", 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkRun(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		keys := []string{store.DropKey("bench", "claimed")}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Run(ctx, counterScript, keys, 1<<62); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkOutboxAdd(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		fields := map[string]string{"kind": "moment", "drop": "d1", "body": "{\"id\":42}"}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.OutboxAdd(ctx, "outbox", fields); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkPublish(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		sub, err := s.Subscribe(ctx, "overlay")
		if err != nil {
			b.Fatal(err)
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for range sub.C() {
			}
		}()
		msg := []byte(`{"type":"moment","id":42}`)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Publish(ctx, "overlay", msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		_ = sub.Close()
		<-drained
	})
}

func BenchmarkAllow(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		l := store.PerSecond(1 << 30)
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			key := "ip:" + strconv.FormatInt(seq.Add(1), 10)
			for pb.Next() {
				if _, err := s.Allow(ctx, key, l); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRunAnnounce is a script that changes a drop and announces it,
// the shape of a claim or an opening: on one Redis the announcement is a
// PUBLISH inside the script; on a cluster an SPUBLISH to the drop's
// partition after it, one more round trip.
func BenchmarkRunAnnounce(b *testing.B) {
	benchEach(b, func(b *testing.B, s store.Store) {
		ctx := context.Background()
		channel := s.(prefixed).Prefix() + "drop-state"
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			drop := "d" + strconv.FormatInt(seq.Add(1), 10)
			keys := []string{store.DropKey(drop, "state")}
			for pb.Next() {
				if _, err := s.Run(ctx, announceScript, keys, drop+" 1 0", channel); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
