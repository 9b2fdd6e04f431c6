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
// Concurrency: every Store method is safe for concurrent use. A [Script] runs
// atomically: on Redis as one Lua script, in memory under the store's lock,
// so no other operation observes a half-applied script.
package store
