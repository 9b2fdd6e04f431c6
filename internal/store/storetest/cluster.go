package storetest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dropwire/dropwire/internal/store"
)

// ClusterEnv names the variable that lists the nodes of the test Redis
// Cluster, e.g. REDIS_CLUSTER_ADDRS=127.0.0.1:7101,127.0.0.1:7102,…
// ./scripts/test starts a cluster and sets it.
const ClusterEnv = "REDIS_CLUSTER_ADDRS"

// ClusterAddrs returns the nodes of the test cluster, none when
// REDIS_CLUSTER_ADDRS is not set.
func ClusterAddrs() []string {
	var out []string
	for _, a := range strings.Split(os.Getenv(ClusterEnv), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// NeedCluster skips t, saying why, when there is no test cluster.
func NeedCluster(t testing.TB) {
	t.Helper()
	if len(ClusterAddrs()) == 0 {
		t.Skipf("no Redis Cluster to test against: set %s (./scripts/test starts one and sets it)", ClusterEnv)
	}
}

// ClusterURL is the test cluster as a redis+cluster:// URL, as an
// operator writes it in redis_url.
func ClusterURL() string {
	return store.ClusterScheme + "://" + strings.Join(ClusterAddrs(), ",")
}

// ClusterClient returns a raw client of the test cluster, closed when t
// ends; it skips t when there is none and fails it when the cluster is
// not serving every slot.
func ClusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	NeedCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: ClusterAddrs()})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("storetest: Redis Cluster at %s is not ready: %v\n%s", strings.Join(ClusterAddrs(), ","), err, info)
	}
	return c
}

// Cluster returns a store on the test cluster under a fresh prefix; it
// skips t when there is no cluster. Its keys are deleted and it is closed
// when t ends.
func Cluster(t testing.TB) *store.Redis {
	t.Helper()
	return ClusterWithPrefix(t, Prefix(t))
}

// ClusterWithPrefix returns a store on the test cluster under prefix, e.g.
// a second replica sharing the keys of a store from Cluster. Keys under
// prefix are deleted and it is closed when t ends.
func ClusterWithPrefix(t testing.TB, prefix string) *store.Redis {
	t.Helper()
	raw := ClusterClient(t)
	s, err := store.NewRedis(store.RedisConfig{Cluster: ClusterAddrs(), Prefix: prefix, OnRun: recordRun})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		if err := deleteClusterPrefix(raw, prefix); err != nil {
			t.Errorf("storetest: clean up %q: %v", prefix, err)
		}
	})
	return s
}

// deleteClusterPrefix deletes the keys under prefix on every master, one
// key a command: they lie in many slots.
func deleteClusterPrefix(c *redis.ClusterClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var keys []string
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		return err
	}
	pipe := c.Pipeline()
	for _, k := range keys {
		pipe.Unlink(ctx, k)
	}
	if len(keys) > 0 {
		_, err = pipe.Exec(ctx)
	}
	return err
}

// Backend is a kind of Redis deployment a test runs against: one Redis
// ("redis") or a Redis Cluster ("cluster").
type Backend struct {
	Name string
}

// Backends of EachRedis.
var (
	SingleRedis  = Backend{Name: "redis"}
	RedisCluster = Backend{Name: "cluster"}
)

// Open returns a store of the backend under prefix, as RedisWithPrefix or
// ClusterWithPrefix do.
func (b Backend) Open(t testing.TB, prefix string) *store.Redis {
	t.Helper()
	if b == RedisCluster {
		return ClusterWithPrefix(t, prefix)
	}
	return RedisWithPrefix(t, prefix)
}

// URL is the backend's redis_url: REDIS_URL, or the cluster's
// redis+cluster:// URL.
func (b Backend) URL() string {
	if b == RedisCluster {
		return ClusterURL()
	}
	return URL()
}

// EachRedis runs fn as the subtests "redis" and "cluster"; the second
// skips, saying why, when there is no test cluster.
func EachRedis(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range []Backend{SingleRedis, RedisCluster} {
		t.Run(b.Name, func(t *testing.T) {
			if b == RedisCluster {
				NeedCluster(t)
			}
			fn(t, b)
		})
	}
}

// SlotOwner returns the slot of a full key or shard channel, as the test
// cluster computes it (CLUSTER KEYSLOT), and the address of the master
// serving that slot (CLUSTER SHARDS).
func SlotOwner(t testing.TB, c *redis.ClusterClient, key string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slot, err := c.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("storetest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatalf("storetest: CLUSTER SHARDS: %v", err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return int(slot), fmt.Sprintf("%s:%d", n.IP, n.Port)
				}
			}
		}
	}
	t.Fatalf("storetest: no master serves slot %d", slot)
	return 0, ""
}
