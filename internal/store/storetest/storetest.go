// Package storetest gives tests a store.Store of each kind: an in-memory
// one, and a Redis one (on one Redis, or on the test Redis Cluster) under a
// key prefix of its own that is deleted when the test ends, so tests of
// any package can run in parallel against one Redis. It never flushes a
// database.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dropwire/dropwire/internal/store"
)

// DefaultURL is the Redis tests use when REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns REDIS_URL, or DefaultURL.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Prefix returns a key prefix unique to this run of t:
// "test:<name>:<random>:".
func Prefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("storetest: random prefix: %v", err)
	}
	// Braces would turn part of the prefix into a hash tag; glob
	// characters would leak into the cleanup's SCAN MATCH.
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '/':
			return r
		}
		return '_'
	}, t.Name())
	return "test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Client returns a raw client to the test Redis, closed when t ends. It
// fails t, saying how to start Redis, when Redis does not answer.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("storetest: REDIS_URL %q: %v", URL(), err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("storetest: Redis at %s does not answer: %v\n"+
			"start one with: redis-server --daemonize yes --port 6379 --save \"\"\n"+
			"or run ./scripts/test, or point REDIS_URL at a Redis", URL(), err)
	}
	return c
}

// Redis returns a Redis store under a fresh prefix. Its keys are deleted
// and it is closed when t ends.
func Redis(t testing.TB) *store.Redis {
	t.Helper()
	return RedisWithPrefix(t, Prefix(t))
}

// RedisWithPrefix returns a Redis store under prefix, e.g. a second
// replica sharing the keys of a store from Redis. Keys under prefix are
// deleted and the store is closed when t ends.
func RedisWithPrefix(t testing.TB, prefix string) *store.Redis {
	t.Helper()
	raw := Client(t)
	s, err := store.NewRedis(store.RedisConfig{URL: URL(), Prefix: prefix})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		// redis_rate keeps its state under "rate:" + prefix.
		for _, p := range []string{prefix, "rate:" + prefix} {
			if err := deletePrefix(raw, p); err != nil {
				t.Errorf("storetest: clean up %q: %v", p, err)
			}
		}
	})
	return s
}

// Memory returns a Memory store closed when t ends.
func Memory(t testing.TB) *store.Memory {
	t.Helper()
	s, err := store.NewMemory(store.MemoryConfig{Prefix: Prefix(t)})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Each runs fn as the subtests "memory", "redis" and "cluster", each with
// a fresh store; "cluster" skips, saying why, when there is no test
// cluster (see ClusterEnv).
func Each(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { fn(t, Memory(t)) })
	t.Run("redis", func(t *testing.T) { fn(t, Redis(t)) })
	t.Run("cluster", func(t *testing.T) { fn(t, Cluster(t)) })
}

func deletePrefix(c *redis.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Unlink(ctx, batch...).Err()
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
