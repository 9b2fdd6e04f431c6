package storetest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PrivateCluster is a Redis Cluster of a test's own: masters only, on
// free loopback ports, its files in a temporary directory. A test that
// moves slots or changes the cluster's setup uses one, so the shared test
// cluster stays as every other test expects it.
type PrivateCluster struct {
	t     testing.TB
	Nodes []*RedisServer
}

// StartPrivateCluster starts masters redis-server processes in cluster
// mode with extra arguments (e.g. TLS), joins them into one cluster with
// redis-cli and waits until every node says cluster_state:ok. They stop
// when t ends.
func StartPrivateCluster(t testing.TB, masters int, args ...string) *PrivateCluster {
	t.Helper()
	return StartPrivateClusterWith(t, masters, func(int) []string { return args })
}

// StartPrivateClusterWith is StartPrivateCluster with arguments of each
// node's own (e.g. its TLS port), given its plain port.
func StartPrivateClusterWith(t testing.TB, masters int, args func(port int) []string) *PrivateCluster {
	t.Helper()
	return startCluster(t, masters, 0, args)
}

// StartReplicatedCluster starts a private cluster of masters masters
// (at least 3, as Redis Cluster wants), each with replicas replicas
// (masters × (1 + replicas) processes), for a test that kills a master and
// watches a replica take over. Extra arguments go to every node; a
// "--cluster-node-timeout" among them replaces the default 2000 ms, and is
// how long the others wait before they fail a dead master over.
func StartReplicatedCluster(t testing.TB, masters, replicas int, args ...string) *PrivateCluster {
	t.Helper()
	return startCluster(t, masters, replicas, func(int) []string { return args })
}

// startCluster starts masters × (1 + replicas) nodes and joins them.
func startCluster(t testing.TB, masters, replicas int, args func(port int) []string) *PrivateCluster {
	t.Helper()
	c := &PrivateCluster{t: t}
	var addrs []string
	for range masters * (1 + replicas) {
		port := clusterPort(t)
		dir := t.TempDir()
		s := &RedisServer{t: t, port: port, dir: dir, args: append([]string{"--cluster-enabled", "yes",
			"--cluster-config-file", dir + "/nodes.conf", "--cluster-node-timeout", "2000", "--appendonly", "no"}, args(port)...)}
		t.Cleanup(s.Kill)
		s.Start()
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-yes")
	if replicas > 0 {
		create = append(create, "--cluster-replicas", fmt.Sprint(replicas))
	}
	out, err := exec.CommandContext(ctx, "redis-cli", create...).CombinedOutput()
	if err != nil {
		t.Fatalf("storetest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		cl := n.Client(t)
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && (replicas == 0 || n.replicasInSync(ctx, cl)) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("storetest: private cluster node %d not ok: %v\n%s", n.port, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// clusterPort returns a free loopback port whose cluster bus port (port +
// 10000) is free too.
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := FreePort(t)
		if p+10000 > 65535 {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatal("storetest: no free port pair for a cluster node")
	return 0
}

// Addrs are the nodes' plain addresses (host:port).
func (c *PrivateCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = fmt.Sprintf("127.0.0.1:%d", n.port)
	}
	return out
}

// Client returns a raw client of the server, closed when t ends.
func (s *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Owner returns the node that serves slot now.
func (c *PrivateCluster) Owner(slot int) *RedisServer {
	c.t.Helper()
	ctx := context.Background()
	shards, err := c.Nodes[0].Client(c.t).ClusterShards(ctx).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if int64(slot) < r.Start || int64(slot) > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role != "master" {
					continue
				}
				for _, s := range c.Nodes {
					if int64(s.port) == n.Port {
						return s
					}
				}
			}
		}
	}
	c.t.Fatalf("storetest: no node serves slot %d", slot)
	return nil
}

// MoveSlot migrates slot, with its keys, from the node serving it to
// dst, as redis-cli --cluster reshard does: IMPORTING, MIGRATING, the
// keys, then NODE on every node.
func (c *PrivateCluster) MoveSlot(slot int, dst *RedisServer) {
	c.t.Helper()
	ctx := context.Background()
	src := c.Owner(slot)
	if src == dst {
		c.t.Fatalf("storetest: slot %d is on that node already", slot)
	}
	id := func(s *RedisServer) string {
		v, err := s.Client(c.t).ClusterMyID(ctx).Result()
		if err != nil {
			c.t.Fatal(err)
		}
		return v
	}
	srcID, dstID := id(src), id(dst)
	sc, dc := src.Client(c.t), dst.Client(c.t)
	must := func(err error) {
		c.t.Helper()
		if err != nil {
			c.t.Fatalf("storetest: moving slot %d: %v", slot, err)
		}
	}
	must(dc.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(sc.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	for {
		keys, err := sc.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(sc.Do(ctx, args...).Err())
	}
	for _, n := range append([]*RedisServer{dst, src}, c.Nodes...) {
		must(n.Client(c.t).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
}

// replicasInSync reports whether a node that is a master has a replica
// online, and a node that is a replica has its link to its master up.
func (s *RedisServer) replicasInSync(ctx context.Context, cl *redis.Client) bool {
	info, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		return false
	}
	if strings.Contains(info, "role:master") {
		return strings.Contains(info, "connected_slaves:") && !strings.Contains(info, "connected_slaves:0") &&
			strings.Contains(info, "state=online")
	}
	return strings.Contains(info, "master_link_status:up")
}

// Alive reports whether the server's process is running.
func (s *RedisServer) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Addr is the server's host:port.
func (s *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// WaitOwnerChange waits, up to timeout, until a running node other than
// old serves slot and every running node says cluster_state:ok: the
// failover of a killed master is done. It returns the new master.
func (c *PrivateCluster) WaitOwnerChange(slot int, old *RedisServer, timeout time.Duration) *RedisServer {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if owner := c.liveOwner(slot); owner != nil && owner != old && c.allOK() {
			return owner
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("storetest: slot %d still not failed over after %s", slot, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// liveOwner is the master of slot as the running nodes see it, or nil.
func (c *PrivateCluster) liveOwner(slot int) *RedisServer {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		shards, err := cl.ClusterShards(ctx).Result()
		_ = cl.Close()
		if err != nil {
			continue
		}
		for _, sh := range shards {
			for _, r := range sh.Slots {
				if int64(slot) < r.Start || int64(slot) > r.End {
					continue
				}
				for _, m := range sh.Nodes {
					if m.Role != "master" || m.Health != "online" {
						continue
					}
					for _, s := range c.Nodes {
						if int64(s.port) == m.Port && s.Alive() {
							return s
						}
					}
				}
			}
		}
		return nil
	}
	return nil
}

// allOK reports whether every running node says cluster_state:ok.
func (c *PrivateCluster) allOK() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		info, err := cl.ClusterInfo(ctx).Result()
		_ = cl.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
	}
	return true
}
