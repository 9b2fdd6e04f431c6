package store

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// syncBuffer is a bytes.Buffer safe for go-redis's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if line != "" && json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// go-redis's message about a Redis it cannot reach arrives as one JSON
// line, and its repeats are counted rather than printed.
func TestRedisLoggerStructuresGoRedisMessages(t *testing.T) {
	var buf syncBuffer
	SetRedisLogger(zerolog.New(&buf))
	t.Cleanup(func() { SetRedisLogger(zerolog.Nop()) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	for range 5 {
		if err := c.Ping(context.Background()).Err(); err == nil {
			t.Fatal("ping of a closed port succeeded")
		}
	}
	var dial []map[string]any
	for _, l := range buf.lines() {
		if msg, _ := l["message"].(string); strings.Contains(msg, "failed to dial") {
			dial = append(dial, l)
		}
	}
	if len(dial) != 1 {
		t.Fatalf("%d dial-failure lines, want 1 (the rest suppressed): %v", len(dial), buf.lines())
	}
	if dial[0]["component"] != "go-redis" || dial[0]["level"] != "warn" {
		t.Errorf("line %v: want component go-redis at level warn", dial[0])
	}
}

// A repeated message is logged again once the interval has passed, with
// how many repeats were left out.
func TestRedisLoggerRateLimitsPerKind(t *testing.T) {
	var buf syncBuffer
	l := newRedisLogger(zerolog.New(&buf), 10*time.Second)
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	for range 4 {
		l.Printf(context.Background(), "dial %s failed", "a")
	}
	l.Printf(context.Background(), "pubsub: reconnecting to %s", "b")
	now = now.Add(11 * time.Second)
	l.Printf(context.Background(), "dial %s failed", "c")

	got := buf.lines()
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3: %v", len(got), got)
	}
	if got[0]["message"] != "dial a failed" || got[1]["message"] != "pubsub: reconnecting to b" || got[2]["message"] != "dial c failed" {
		t.Errorf("messages %v", got)
	}
	if got[2]["suppressed"] != float64(3) {
		t.Errorf("suppressed = %v, want 3", got[2]["suppressed"])
	}
	if _, ok := got[0]["suppressed"]; ok {
		t.Errorf("first line carries suppressed: %v", got[0])
	}
}
