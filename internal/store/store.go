package store

import (
	"context"
	"strings"
	"time"
)

// Store is the storage every Dropwire replica shares. Implementations:
// [Redis] and [Memory]. Keys are logical; the implementation adds its prefix.
type Store interface {
	// Ping reports whether the backing store answers.
	Ping(ctx context.Context) error
	// Prefix is prepended to every key and channel name. Scripts receive
	// prefixed keys, and need it for the channels they publish on.
	Prefix() string

	// SetNX sets key to value with ttl if key does not exist and reports
	// whether it did. ttl <= 0 means no expiry.
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	// Set sets key to value with ttl (<= 0: no expiry).
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (string, error)
	// Del removes keys; missing keys are ignored.
	Del(ctx context.Context, keys ...string) error
	// TTL returns the remaining time to live of key: ErrNotFound when the key
	// does not exist, and a negative duration when it has no expiry.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// IncrBy adds n to the integer at key (missing: 0) and returns the result.
	IncrBy(ctx context.Context, key string, n int64) (int64, error)

	// HSet sets the given field/value pairs of the hash at key.
	HSet(ctx context.Context, key string, fields map[string]string) error
	// HGet returns one field of the hash at key, or ErrNotFound.
	HGet(ctx context.Context, key, field string) (string, error)
	// HGetAll returns the whole hash at key (empty when missing).
	HGetAll(ctx context.Context, key string) (map[string]string, error)
	// HIncrBy adds n to an integer field of the hash at key and returns it.
	HIncrBy(ctx context.Context, key, field string, n int64) (int64, error)

	// ScanPrefix passes fn the keys that start with prefix (logical keys,
	// without the store's prefix), a batch at a time, and stops at fn's
	// first error. It walks the keyspace in small steps (SCAN), never
	// blocking the store: a key that exists throughout is passed at least
	// once, a key added or removed meanwhile may or may not be.
	ScanPrefix(ctx context.Context, prefix string, fn func(keys []string) error) error

	// Run executes script atomically over keys with args.
	Run(ctx context.Context, s *Script, keys []string, args ...any) (any, error)

	// Publish sends msg to every subscriber of channel on every replica.
	// Messages with the same ordering key (msg up to its first space)
	// arrive in the order they were published; on a Redis Cluster,
	// messages of other keys may overtake them (see Redis.Publish).
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe listens on channels until the Subscription is closed.
	Subscribe(ctx context.Context, channels ...string) (Subscription, error)

	// Allow takes one token from the GCRA limiter at key and reports the
	// decision.
	Allow(ctx context.Context, key string, l Limit) (Decision, error)

	// OutboxAdd appends an entry to stream and returns its id.
	OutboxAdd(ctx context.Context, stream string, fields map[string]string) (string, error)
	// OutboxRead delivers up to count new entries of stream to consumer of
	// group (creating the group when missing), waiting up to block for one
	// to arrive (block <= 0: do not wait). Delivered entries stay pending
	// until acknowledged.
	OutboxRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]Entry, error)
	// OutboxAck acknowledges entries so they are never delivered again.
	OutboxAck(ctx context.Context, stream, group string, ids ...string) error
	// OutboxClaim transfers to consumer up to count pending entries that
	// have been idle for at least minIdle, incrementing their delivery count.
	OutboxClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]Entry, error)
	// OutboxPending summarises the entries delivered but not acknowledged.
	OutboxPending(ctx context.Context, stream, group string) (Pending, error)
	// OutboxLen returns the number of entries in stream.
	OutboxLen(ctx context.Context, stream string) (int64, error)

	// Close releases the store's connections and stops its goroutines.
	Close() error
}

// Subscription is a live pub/sub subscription.
type Subscription interface {
	// C delivers messages until the subscription is closed or its
	// connection to the store breaks (on a Redis Cluster: any of its
	// connections, or a partition moving to another node); it is then
	// closed too. Messages
	// published while no subscription stands are lost: Follow subscribes
	// again, and its consumer re-reads what may have changed.
	C() <-chan Message
	// Close ends the subscription and waits for its goroutines.
	Close() error
}

// Message is one pub/sub message.
type Message struct {
	Channel string
	Payload []byte
}

// Entry is one outbox entry as delivered to a consumer.
type Entry struct {
	ID         string
	Fields     map[string]string
	Deliveries int64 // times delivered, this delivery included
}

// Pending summarises a consumer group's unacknowledged entries.
type Pending struct {
	Count      int64
	OldestIdle time.Duration // idle time of the longest-waiting entry
}

// Limit is a GCRA rate: Rate events per Period with bursts up to Burst.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// PerSecond returns a Limit of rate events a second with the same burst.
func PerSecond(rate int) Limit { return Limit{Rate: rate, Burst: rate, Period: time.Second} }

// Decision is the answer of a rate limiter.
type Decision struct {
	Allowed    bool
	Remaining  int
	RetryAfter time.Duration // when not allowed: wait this long before retrying
}

// DropKey returns the logical key of part of a drop. Every key of one drop
// carries the `{d:<drop>}` hash tag, so a drop's scripts touch one slot.
func DropKey(drop string, parts ...string) string {
	n := len("{d:}") + len(drop)
	for _, p := range parts {
		n += 1 + len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("{d:")
	b.WriteString(drop)
	b.WriteByte('}')
	for _, p := range parts {
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}
