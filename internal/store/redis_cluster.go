package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// On a Redis Cluster, a pub/sub channel is carried by a fixed number of
// shard channels, its partitions: "<channel>:{p:<i>}" for i in
// [0, partitions). Each partition's hash tag puts it in a slot of its own,
// so the partitions, and the work of delivering their messages, spread
// over the masters. A message goes to one partition, chosen by its
// ordering key (see orderingKey): the messages of one key keep their
// order. A subscriber listens to every partition.

// PartitionChannel returns the shard channel of partition i of channel (a
// full name, prefix included).
func PartitionChannel(channel string, i int) string {
	return channel + ":{p:" + strconv.Itoa(i) + "}"
}

// Partition returns the partition, among n, of a message: that of its
// ordering key.
func Partition(msg []byte, n int) int {
	h := fnv.New32a()
	_, _ = h.Write(orderingKey(msg))
	return int(h.Sum32() % uint32(n))
}

// orderingKey is what orders a message among others: the message up to
// its first space, all of it when it has none. Dropwire's announcements
// start with the drop they are about.
func orderingKey(msg []byte) []byte {
	for i, b := range msg {
		if b == ' ' {
			return msg[:i]
		}
	}
	return msg
}

// PartitionOf returns the shard channel a message on channel (logical
// name) goes to on a cluster of the store's partitions.
func (r *Redis) PartitionOf(channel string, msg []byte) string {
	return PartitionChannel(r.prefix+channel, Partition(msg, r.partitions))
}

// Partitions returns how many shard channels carry a channel on a cluster.
func (r *Redis) Partitions() int { return r.partitions }

// sendAnnounced unwraps the reply of a script run on a cluster,
// {result, {channel, msg, …}}, sends each announcement to its partition
// and returns the result. An announcement that cannot be sent is counted
// (Unsent), not returned as an error: the script's effect is done.
func (r *Redis) sendAnnounced(ctx context.Context, name string, v any) (any, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return nil, fmt.Errorf("%w: %s: unexpected cluster script reply %T", ErrScript, name, v)
	}
	ann, _ := pair[1].([]any)
	for i := 0; i+1 < len(ann); i += 2 {
		channel, _ := ann[i].(string)
		msg, _ := ann[i+1].(string)
		shard := PartitionChannel(channel, Partition([]byte(msg), r.partitions))
		if err := r.cluster.SPublish(ctx, shard, msg).Err(); err != nil {
			r.unsent.Add(1)
		}
	}
	return pair[0], nil
}

// Unsent returns how many announcements of scripts run on a cluster could
// not be sent (the script's change was made; subscribers catch up when
// they next re-read).
func (r *Redis) Unsent() uint64 { return r.unsent.Load() }

// delBySlot deletes full keys slot by slot: a cluster refuses a DEL of
// keys in several slots.
func (r *Redis) delBySlot(ctx context.Context, full []string) error {
	bySlot := make(map[int][]string)
	for _, k := range full {
		s := KeySlot(k)
		bySlot[s] = append(bySlot[s], k)
	}
	if len(bySlot) == 1 {
		return redisErr(ctx, r.c.Del(ctx, full...).Err())
	}
	pipe := r.c.Pipeline()
	for _, keys := range bySlot {
		pipe.Del(ctx, keys...)
	}
	cmds, err := pipe.Exec(ctx)
	for _, c := range cmds {
		if c.Err() != nil {
			return redisErr(ctx, c.Err())
		}
	}
	return redisErr(ctx, err)
}

// masters returns a client of each master of the cluster, or of the one
// master serving key's slot when key is not empty.
func (r *Redis) masters(ctx context.Context, key string) ([]*redis.Client, error) {
	if key != "" {
		c, err := r.cluster.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return []*redis.Client{c}, nil
	}
	var (
		mu   sync.Mutex
		out  []*redis.Client
		seen = make(map[string]bool)
	)
	err := r.cluster.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if addr := c.Options().Addr; !seen[addr] {
			seen[addr] = true
			out = append(out, c)
		}
		return nil
	})
	// Walked in a fixed order, so two walks meet the masters alike.
	slices.SortFunc(out, func(a, b *redis.Client) int { return strings.Compare(a.Options().Addr, b.Options().Addr) })
	return out, err
}

// scanCluster walks the keys under prefix on every master, or on the one
// master of prefix's slot when prefix holds a whole hash tag (a drop's
// keys: DropKey(drop)).
func (r *Redis) scanCluster(ctx context.Context, prefix string, fn func(keys []string) error) error {
	full := r.prefix + prefix
	one := ""
	if i := strings.IndexByte(full, '{'); i >= 0 && strings.IndexByte(full[i+1:], '}') > 0 {
		one = full
	}
	clients, err := r.masters(ctx, one)
	if err != nil {
		return redisErr(ctx, err)
	}
	for _, c := range clients {
		if err := r.scanNode(ctx, c, full, fn); err != nil {
			return err
		}
	}
	return nil
}

// appendOnlyCluster reports whether every node of the cluster, replicas
// included (a replica becomes the master on a failover), logs every write.
func (r *Redis) appendOnlyCluster(ctx context.Context) (bool, error) {
	var (
		mu  sync.Mutex
		off bool
	)
	err := r.cluster.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
		v, err := c.ConfigGet(ctx, "appendonly").Result()
		if err != nil {
			return err
		}
		ao, ok := v["appendonly"]
		if !ok {
			return fmt.Errorf("%w: CONFIG GET appendonly answered nothing", ErrNotFound)
		}
		mu.Lock()
		off = off || ao != "yes"
		mu.Unlock()
		return nil
	})
	if err != nil {
		return false, redisErr(ctx, err)
	}
	return !off, nil
}
