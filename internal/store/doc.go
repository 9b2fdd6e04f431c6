// Package store is Dropwire's one storage abstraction: the primitives the
// domain packages build on (set-if-absent with TTL, hashes and counters,
// atomic multi-key scripts, pub/sub, rate limiting and an outbox with
// consumer-group semantics), with two implementations that pass one contract
// test suite: Redis (production) and in-process memory (the embedded default,
// volatile).
//
// Keys handed to a Store are logical: the Store adds the configured prefix.
// Every key of one drop is built with [DropKey] so that it carries the
// `{d:<drop>}` hash tag and a drop's scripts run on one Redis Cluster slot.
//
// [Redis] runs on one Redis or on a Redis Cluster (RedisConfig.Cluster, or a
// redis+cluster:// URL). On a cluster every script keeps to one slot (a
// cluster refuses anything else: [ErrCrossSlot]), a deletion or a scan
// that spans slots is split by slot or by master, and pub/sub is sharded:
// each channel is carried by a fixed number of partition channels, each
// with a hash tag of its own, a message goes to the partition of its
// ordering key and a subscription listens to all of them. Scripts
// announce with announce(channel, msg), sent after the script on a
// cluster (see [Script]).
//
// Concurrency: every Store method is safe for concurrent use. A [Script] runs
// atomically: on Redis as one Lua script, in memory under the store's lock,
// so no other operation observes a half-applied script.
package store
