package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/redis/go-redis/v9"
)

// countScript adds one to a key and returns the new count: a write whose
// acknowledgement a test can check on a replica.
var countScript = store.NewScript("test-count", `
return redis.call('INCR', KEYS[1])
`, func(tx store.Tx, keys, _ []string) (any, error) {
	return tx.IncrBy(keys[0], 1), nil
}).Replicated()

// A Replicated script on a master without the replicas asked for is not
// acknowledged: it answers ErrNotReplicated, an ErrUnavailable (a 503 to
// the client); its write is on the master, where a retry finds it.
func TestWaitReplicasRefusesWithoutReplicas(t *testing.T) {
	url := storetest.PrivateRedis(t)
	for _, pipelines := range []int{0, -1} {
		t.Run(fmt.Sprintf("pipelines=%d", pipelines), func(t *testing.T) {
			st, err := store.NewRedis(store.RedisConfig{URL: url, Prefix: fmt.Sprintf("w%d:", pipelines), WaitReplicas: 1, Pipelines: pipelines})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			ctx := context.Background()
			_, err = st.Run(ctx, countScript, []string{"{d:x}:n"})
			if !errors.Is(err, store.ErrNotReplicated) || !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("run without a replica: %v, want ErrNotReplicated and ErrUnavailable", err)
			}
			if v, err := st.Get(ctx, "{d:x}:n"); err != nil || v != "1" {
				t.Fatalf("the master holds %q (%v), want the script's write, 1", v, err)
			}
		})
	}
}

// With a replica in sync, a Replicated script is answered, and by then the
// replica holds its write: read on the replica right after, every time,
// also when many run at once and go out together.
func TestWaitReplicasOneRedis(t *testing.T) {
	master := storetest.StartPrivateRedis(t)
	replica := storetest.StartPrivateRedis(t, "--replicaof", "127.0.0.1", strings.TrimPrefix(strings.TrimSuffix(master.URL(), "/0"), "redis://127.0.0.1:"))
	waitLinkUp(t, replica.Client(t))
	for _, pipelines := range []int{0, -1} {
		t.Run(fmt.Sprintf("pipelines=%d", pipelines), func(t *testing.T) {
			prefix := fmt.Sprintf("w%d:", pipelines)
			st, err := store.NewRedis(store.RedisConfig{URL: master.URL(), Prefix: prefix, WaitReplicas: 1, Pipelines: pipelines})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			checkReplicated(t, st, func(string) *redis.Client { return replica.Client(t) }, prefix)
		})
	}
}

// On a cluster, each script's WAIT goes to the master of its slot, on the
// connection that ran it: scripts of keys on every master, run at once,
// are each on their master's replica when answered.
func TestWaitReplicasCluster(t *testing.T) {
	pc := storetest.StartReplicatedCluster(t, 3, 1)
	st, err := store.NewRedis(store.RedisConfig{Cluster: pc.Addrs(), Prefix: "w:", WaitReplicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: pc.Addrs()})
	t.Cleanup(func() { _ = raw.Close() })
	replicaOf := func(key string) *redis.Client {
		m, err := raw.MasterForKey(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range pc.Nodes {
			c := n.Client(t)
			info, _ := c.Info(context.Background(), "replication").Result()
			if strings.Contains(info, "master_port:"+strings.Split(m.Options().Addr, ":")[1]+"\r") {
				_ = c.ReadOnly(context.Background()).Err()
				return c
			}
		}
		t.Fatalf("no replica of %s", m.Options().Addr)
		return nil
	}
	checkReplicated(t, st, replicaOf, "w:")
}

// checkReplicated runs countScript on 30 drops' keys, 10 times each, 30 at
// once, and checks each answer on the replica of the key's master.
func checkReplicated(t *testing.T, st *store.Redis, replicaOf func(key string) *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for d := range 30 {
		key := store.DropKey(fmt.Sprintf("d%d", d), "n")
		rep := replicaOf(prefix + key)
		wg.Go(func() {
			for range 10 {
				v, err := st.Run(ctx, countScript, []string{key})
				for try := 0; errors.Is(err, store.ErrUnavailable) && try < 5; try++ {
					// A starved machine can time a round trip out, as a
					// client would see it: it retries. The count then
					// moves on by more than one, never back.
					v, err = st.Run(ctx, countScript, []string{key})
				}
				if err != nil {
					errs <- fmt.Errorf("run on %s: %w", key, err)
					return
				}
				got, err := rep.Get(ctx, prefix+key).Int64()
				if err != nil || got < v.(int64) {
					errs <- fmt.Errorf("%s: acknowledged %d, the replica holds %d (%v)", key, v, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func waitLinkUp(t *testing.T, c *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := c.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica link not up:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The replica wait must fit in the read timeout its reply is read within.
func TestWaitTimeoutBoundedByReadTimeout(t *testing.T) {
	_, err := store.NewRedis(store.RedisConfig{URL: "redis://127.0.0.1:1/0", WaitReplicas: 1, WaitTimeout: 400 * time.Millisecond})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a 400 ms wait with a 500 ms read timeout: %v, want ErrInvalid", err)
	}
}

// announceReplicated is announceScript, replicated.
var announceReplicated = store.NewScript("announce-replicated", announceScript.Lua, announceScript.Go).Replicated()

// A replicated script's announcements reach subscribers, as any script's:
// on one Redis from inside the script, on a cluster once its replicas
// hold it. Every one of 200, run 20 at a time, arrives.
func TestWaitReplicasAnnounces(t *testing.T) {
	pc := storetest.StartReplicatedCluster(t, 3, 1)
	st, err := store.NewRedis(store.RedisConfig{Cluster: pc.Addrs(), Prefix: "wa:", WaitReplicas: 1, PubSubPartitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	sub, err := st.Subscribe(ctx, "drop-state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 20 {
		wg.Go(func() {
			for i := next.Add(1); i <= 200; i = next.Add(1) {
				drop := fmt.Sprintf("a%d", i%7)
				if _, err := st.Run(ctx, announceReplicated, []string{store.DropKey(drop, "n")}, fmt.Sprintf("%s %d", drop, i), "wa:drop-state"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(got) < 200 {
		select {
		case m := <-sub.C():
			got[string(m.Payload)] = true
		case <-timeout:
			t.Fatalf("%d of 200 announcements arrived; unsent %d", len(got), st.Unsent())
		}
	}
}
