package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestMain fails the package when any test leaves a goroutine behind:
// Close must stop the memory janitor and every subscription's forwarder;
// and when a script ran on the test cluster with keys of several slots,
// or the store's own scripts never ran there.
func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.ScriptCheck(m)) }

func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T) store.Store { return storetest.Memory(t) })
}

func TestRedisContract(t *testing.T) {
	runContract(t, func(t *testing.T) store.Store { return storetest.Redis(t) })
}

// The same contract on a Redis Cluster: every key of a script in one slot,
// announcements of scripts on the partitions, scans over every master.
func TestClusterContract(t *testing.T) {
	storetest.NeedCluster(t)
	runContract(t, func(t *testing.T) store.Store { return storetest.Cluster(t) })
}

// prefixed is what both stores offer beyond Store to see their prefix.
type prefixed interface{ Prefix() string }

// peer returns a second handle on s's data, as another replica has: a
// second Redis store with the same prefix, or s itself for memory.
func peer(t *testing.T, s store.Store) store.Store {
	if r, ok := s.(*store.Redis); ok {
		if r.Cluster() {
			return storetest.ClusterWithPrefix(t, r.Prefix())
		}
		return storetest.RedisWithPrefix(t, r.Prefix())
	}
	return s
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func receive(t *testing.T, sub store.Subscription) store.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(3 * time.Second):
		t.Fatal("no message within 3s")
	}
	return store.Message{}
}

// buyScript takes one unit of stock for a buyer, once per buyer.
var buyScript = store.NewScript("buy", `
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
if stock <= 0 then return redis.error_reply('sold_out') end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return redis.error_reply('already_bought') end
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('DECRBY', KEYS[1], 1)
`, func(tx store.Tx, keys, args []string) (any, error) {
	v, _ := tx.Get(keys[0])
	stock, _ := strconv.ParseInt(v, 10, 64)
	if stock <= 0 {
		return nil, &store.ScriptError{Code: "sold_out"}
	}
	if tx.SIsMember(keys[1], args[0]) {
		return nil, &store.ScriptError{Code: "already_bought"}
	}
	tx.SAdd(keys[1], args[0])
	return tx.IncrBy(keys[0], -1), nil
})

var scardScript = store.NewScript("scard", `return redis.call('SCARD', KEYS[1])`,
	func(tx store.Tx, keys, _ []string) (any, error) { return tx.SCard(keys[0]), nil })

// shapeScript returns a value of the shape ARGV[1] names.
var shapeScript = store.NewScript("shape", `
local m = ARGV[1]
if m == 'int' then return 42 end
if m == 'str' then return 'hello' end
if m == 'arr' then return {1, 'a', {2, 'b'}} end
if m == 'nil' then return nil end
if m == 'false' then return false end
if m == 'true' then return true end
if m == 'float' then return 3.7 end
if m == 'args' then return {ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]} end
if m == 'keys' then return KEYS end
return redis.error_reply('unknown_shape')
`, func(tx store.Tx, keys, args []string) (any, error) {
	switch args[0] {
	case "int":
		return 42, nil
	case "str":
		return "hello", nil
	case "arr":
		return []any{1, "a", []any{2, "b"}}, nil
	case "nil":
		return nil, nil
	case "false":
		return false, nil
	case "true":
		return true, nil
	case "float":
		return 3.7, nil
	case "args":
		return args[1:], nil
	case "keys":
		return keys, nil
	}
	return nil, &store.ScriptError{Code: "unknown_shape"}
})

// hgetScript reads a hash field, failing on a key of another type.
var hgetScript = store.NewScript("hget", `return redis.call('HGET', KEYS[1], 'f')`,
	func(tx store.Tx, keys, _ []string) (any, error) {
		v, ok := tx.HGet(keys[0], "f")
		if !ok {
			return nil, nil
		}
		return v, nil
	})

// announceScript bumps a counter and announces ARGV[1] on ARGV[2], a
// channel's full name (prefix included).
var announceScript = store.NewScript("announce", `
local n = redis.call('INCRBY', KEYS[1], 1)
announce(ARGV[2], ARGV[1])
return n
`, func(tx store.Tx, keys, args []string) (any, error) {
	n := tx.IncrBy(keys[0], 1)
	tx.Publish(args[1], []byte(args[0]))
	return n, nil
})

func runContract(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := newStore(t).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SetNX", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i, want := range []bool{true, false} {
			ok, err := s.SetNX(ctx, "k", fmt.Sprint(i), 0)
			if err != nil || ok != want {
				t.Fatalf("SetNX #%d = %v, %v; want %v", i, ok, err, want)
			}
		}
		if v, err := s.Get(ctx, "k"); err != nil || v != "0" {
			t.Fatalf("Get = %q, %v; want the first value", v, err)
		}
		if err := s.Del(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.SetNX(ctx, "k", "again", time.Minute); err != nil || !ok {
			t.Fatalf("SetNX after Del = %v, %v", ok, err)
		}
	})

	t.Run("GetSetDel", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, err := s.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
		if err := s.Set(ctx, "k", "v1", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "k", "v2", 0); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, "k"); err != nil || v != "v2" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if err := s.Del(ctx, "k", "missing"); err != nil {
			t.Fatal(err)
		}
		if err := s.Del(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Del: %v, want ErrNotFound", err)
		}
	})

	t.Run("TTL", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, err := s.TTL(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TTL missing: %v, want ErrNotFound", err)
		}
		_ = s.Set(ctx, "forever", "v", 0)
		if d, err := s.TTL(ctx, "forever"); err != nil || d >= 0 {
			t.Fatalf("TTL without expiry = %v, %v; want negative", d, err)
		}
		_ = s.Set(ctx, "later", "v", 10*time.Second)
		if d, err := s.TTL(ctx, "later"); err != nil || d <= 0 || d > 10*time.Second {
			t.Fatalf("TTL = %v, %v; want in (0, 10s]", d, err)
		}
		// Set without ttl clears an expiry, as SET does.
		_ = s.Set(ctx, "later", "v", 0)
		if d, err := s.TTL(ctx, "later"); err != nil || d >= 0 {
			t.Fatalf("TTL after Set without ttl = %v, %v; want negative", d, err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const ttl = 250 * time.Millisecond
		setAt := time.Now()
		if ok, err := s.SetNX(ctx, "nx", "v", ttl); err != nil || !ok {
			t.Fatalf("SetNX = %v, %v", ok, err)
		}
		if err := s.Set(ctx, "set", "v", ttl); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"nx", "set"} {
			// Only a check that ran well within the ttl may insist the key
			// is still there; a loaded machine can stall for longer.
			if _, err := s.Get(ctx, k); err != nil && time.Since(setAt) < ttl/2 {
				t.Fatalf("Get %s before expiry: %v", k, err)
			}
		}
		for _, k := range []string{"nx", "set"} {
			eventually(t, 3*time.Second, k+" expires", func() bool {
				_, err := s.Get(ctx, k)
				return errors.Is(err, store.ErrNotFound)
			})
			if _, err := s.TTL(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("TTL of expired %s: %v", k, err)
			}
		}
		if time.Since(setAt) < ttl-10*time.Millisecond {
			t.Fatalf("keys gone after %s, before their ttl of %s", time.Since(setAt), ttl)
		}
		if ok, err := s.SetNX(ctx, "nx", "v", 0); err != nil || !ok {
			t.Fatalf("SetNX after expiry = %v, %v", ok, err)
		}
	})

	t.Run("IncrBy", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, step := range []struct{ n, want int64 }{{5, 5}, {3, 8}, {-10, -2}} {
			if v, err := s.IncrBy(ctx, "n", step.n); err != nil || v != step.want {
				t.Fatalf("IncrBy %d = %d, %v; want %d", step.n, v, err, step.want)
			}
		}
		if v, err := s.Get(ctx, "n"); err != nil || v != "-2" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		_ = s.Set(ctx, "word", "abc", 0)
		if _, err := s.IncrBy(ctx, "word", 1); !errors.Is(err, store.ErrNotInteger) {
			t.Fatalf("IncrBy on a word: %v, want ErrNotInteger", err)
		}
		_ = s.Set(ctx, "big", "9223372036854775807", 0)
		if _, err := s.IncrBy(ctx, "big", 1); !errors.Is(err, store.ErrNotInteger) {
			t.Fatalf("IncrBy overflow: %v, want ErrNotInteger", err)
		}
	})

	t.Run("Hash", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if h, err := s.HGetAll(ctx, "h"); err != nil || len(h) != 0 {
			t.Fatalf("HGetAll missing = %v, %v", h, err)
		}
		if _, err := s.HGet(ctx, "h", "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("HGet missing key: %v", err)
		}
		if err := s.HSet(ctx, "h", map[string]string{"a": "1", "b": "2"}); err != nil {
			t.Fatal(err)
		}
		if err := s.HSet(ctx, "h", map[string]string{"b": "3"}); err != nil {
			t.Fatal(err)
		}
		if err := s.HSet(ctx, "h", nil); err != nil {
			t.Fatalf("HSet without fields: %v", err)
		}
		if v, err := s.HGet(ctx, "h", "b"); err != nil || v != "3" {
			t.Fatalf("HGet = %q, %v", v, err)
		}
		if _, err := s.HGet(ctx, "h", "zz"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("HGet missing field: %v", err)
		}
		if v, err := s.HIncrBy(ctx, "h", "a", 41); err != nil || v != 42 {
			t.Fatalf("HIncrBy = %d, %v", v, err)
		}
		if v, err := s.HIncrBy(ctx, "h", "new", -1); err != nil || v != -1 {
			t.Fatalf("HIncrBy new field = %d, %v", v, err)
		}
		want := map[string]string{"a": "42", "b": "3", "new": "-1"}
		if h, err := s.HGetAll(ctx, "h"); err != nil || !reflect.DeepEqual(h, want) {
			t.Fatalf("HGetAll = %v, %v; want %v", h, err, want)
		}
	})

	t.Run("WrongType", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_ = s.Set(ctx, "str", "v", 0)
		_ = s.HSet(ctx, "hash", map[string]string{"f": "v"})
		checks := map[string]error{}
		_, checks["HGet"] = s.HGet(ctx, "str", "f")
		_, checks["HIncrBy"] = s.HIncrBy(ctx, "str", "f", 1)
		_, checks["Get"] = s.Get(ctx, "hash")
		_, checks["IncrBy"] = s.IncrBy(ctx, "hash", 1)
		_, checks["OutboxAdd"] = s.OutboxAdd(ctx, "str", map[string]string{"f": "v"})
		_, checks["OutboxLen"] = s.OutboxLen(ctx, "hash")
		for op, err := range checks {
			if !errors.Is(err, store.ErrWrongType) {
				t.Errorf("%s on the wrong type: %v, want ErrWrongType", op, err)
			}
		}
	})

	t.Run("Prefix", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if err := s.Set(ctx, "k", "mine", 0); err != nil {
			t.Fatal(err)
		}
		var other store.Store
		switch s := s.(type) {
		case *store.Redis:
			var raw redis.Cmdable = storetest.Client(t)
			other = storetest.Redis(t)
			if s.Cluster() {
				raw, other = storetest.ClusterClient(t), storetest.Cluster(t)
			}
			if v, err := raw.Get(ctx, s.Prefix()+"k").Result(); err != nil || v != "mine" {
				t.Fatalf("raw GET %sk = %q, %v", s.Prefix(), v, err)
			}
			if n, _ := raw.Exists(ctx, "k").Result(); n != 0 {
				t.Fatal("key stored without its prefix")
			}
		default:
			// Memory stores share nothing, even under one prefix.
			m, err := store.NewMemory(store.MemoryConfig{Prefix: s.(prefixed).Prefix()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = m.Close() })
			other = m
		}
		if _, err := other.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other store sees the key: %v", err)
		}
		_ = other.Set(ctx, "k", "theirs", 0)
		if v, _ := s.Get(ctx, "k"); v != "mine" {
			t.Fatalf("Get = %q after the other store wrote its own k", v)
		}
	})

	t.Run("ScriptSoldOut", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stock, buyers := store.DropKey("d1", "stock"), store.DropKey("d1", "buyers")
		_ = s.Set(ctx, stock, "20", 0)
		var (
			wg             sync.WaitGroup
			mu             sync.Mutex
			won, soldOut   int
			others         []error
			negativeResult bool
		)
		for i := range 50 {
			wg.Go(func() {
				res, err := s.Run(ctx, buyScript, []string{stock, buyers}, fmt.Sprintf("viewer-%d", i))
				mu.Lock()
				defer mu.Unlock()
				var se *store.ScriptError
				switch {
				case err == nil:
					won++
					if n, ok := res.(int64); !ok || n < 0 {
						negativeResult = true
					}
				case errors.As(err, &se) && se.Code == "sold_out":
					soldOut++
				default:
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if won != 20 || soldOut != 30 || len(others) > 0 || negativeResult {
			t.Fatalf("won %d, sold out %d, other errors %v, negative %v; want 20, 30, none", won, soldOut, others, negativeResult)
		}
		if v, err := s.Get(ctx, stock); err != nil || v != "0" {
			t.Fatalf("stock = %q, %v; want 0", v, err)
		}
		if n, err := s.Run(ctx, scardScript, []string{buyers}); err != nil || n != int64(20) {
			t.Fatalf("buyers = %v, %v; want 20", n, err)
		}
	})

	t.Run("ScriptErrors", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stock, buyers := store.DropKey("d2", "stock"), store.DropKey("d2", "buyers")
		_ = s.Set(ctx, stock, "5", 0)
		if _, err := s.Run(ctx, buyScript, []string{stock, buyers}, "v"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Run(ctx, buyScript, []string{stock, buyers}, "v")
		var se *store.ScriptError
		if !errors.As(err, &se) || se.Code != "already_bought" || !errors.Is(err, store.ErrScript) {
			t.Fatalf("second buy: %v, want ScriptError already_bought", err)
		}

		// A failed command is a script failure, not a domain outcome.
		_ = s.Set(ctx, "str", "v", 0)
		_, err = s.Run(ctx, hgetScript, []string{"str"})
		if !errors.Is(err, store.ErrScript) || !errors.Is(err, store.ErrWrongType) || errors.As(err, &se) {
			t.Fatalf("HGET on a string in a script: %v, want ErrScript and ErrWrongType", err)
		}

		if _, err := s.Run(ctx, nil, nil); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("nil script: %v, want ErrInvalid", err)
		}
		if _, err := s.Run(ctx, shapeScript, nil, "args", struct{}{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("struct arg: %v, want ErrInvalid", err)
		}
	})

	t.Run("ScriptResults", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		p := s.(prefixed).Prefix()
		cases := []struct {
			shape string
			args  []any
			keys  []string
			want  any
		}{
			{shape: "int", want: int64(42)},
			{shape: "str", want: "hello"},
			{shape: "arr", want: []any{int64(1), "a", []any{int64(2), "b"}}},
			{shape: "nil", want: nil},
			{shape: "false", want: nil},
			{shape: "true", want: int64(1)},
			{shape: "float", want: int64(3)},
			{shape: "args", args: []any{7, 2.5, true, []byte("x"), time.Second}, want: []any{"7", "2.5", "1", "x", "1000000000"}},
			{shape: "keys", keys: []string{store.DropKey("d", "a"), store.DropKey("d", "b")}, want: []any{p + "{d:d}:a", p + "{d:d}:b"}},
		}
		for _, c := range cases {
			got, err := s.Run(ctx, shapeScript, c.keys, append([]any{c.shape}, c.args...)...)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: got %#v, %v; want %#v", c.shape, got, err, c.want)
			}
		}
	})

	t.Run("ScriptPublish", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sub, err := s.Subscribe(ctx, "events")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		full := s.(prefixed).Prefix() + "events"
		// A drop's announcements reach the subscriber in the order its
		// scripts ran, on one Redis and on the partitions of a cluster.
		for i := range 20 {
			msg := "spring " + strconv.Itoa(i)
			if n, err := s.Run(ctx, announceScript, []string{store.DropKey("spring", "count")}, msg, full); err != nil || n != int64(i+1) {
				t.Fatalf("Run = %v, %v", n, err)
			}
		}
		for i := range 20 {
			if m := receive(t, sub); m.Channel != "events" || string(m.Payload) != "spring "+strconv.Itoa(i) {
				t.Fatalf("message %d: got %q on %q", i, m.Payload, m.Channel)
			}
		}
	})

	t.Run("PubSub", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		other := peer(t, s)
		sub, err := other.Subscribe(ctx, "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		// Messages of one ordering key (up to the first space) keep their
		// order; on a cluster other keys may go by other partitions.
		for i := range 5 {
			if err := s.Publish(ctx, "a", []byte("k "+strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.Publish(ctx, "unwatched", []byte("k x"))
		_ = s.Publish(ctx, "b", []byte("k on b"))
		for i := range 5 {
			if m := receive(t, sub); m.Channel != "a" || string(m.Payload) != "k "+strconv.Itoa(i) {
				t.Fatalf("message %d: %q on %q", i, m.Payload, m.Channel)
			}
		}
		if m := receive(t, sub); m.Channel != "b" || string(m.Payload) != "k on b" {
			t.Fatalf("got %q on %q, want on b", m.Payload, m.Channel)
		}
		// Every key reaches the subscriber, whatever its partition.
		got := map[string]bool{}
		for i := range 40 {
			if err := s.Publish(ctx, "a", []byte("drop-"+strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
		for range 40 {
			got[string(receive(t, sub).Payload)] = true
		}
		if len(got) != 40 {
			t.Fatalf("%d distinct messages of 40", len(got))
		}
		if _, err := s.Subscribe(ctx); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Subscribe to nothing: %v, want ErrInvalid", err)
		}
	})

	t.Run("SubscriptionClose", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sub, err := s.Subscribe(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_ = s.Publish(ctx, "c", []byte("late"))
		select {
		case m, ok := <-sub.C():
			if ok {
				t.Fatalf("message %q after Close", m.Payload)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("C not closed by Close")
		}
	})

	t.Run("StoreClose", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sub, err := s.Subscribe(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case _, ok := <-sub.C():
			if ok {
				t.Fatal("message after store Close")
			}
		case <-time.After(3 * time.Second):
			t.Fatal("store Close left a subscription open")
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Get after Close: %v, want ErrClosed", err)
		}
		if _, err := s.Subscribe(ctx, "c"); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("Allow", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// An emission interval of 500ms leaves a loaded machine ample
		// time between the events of the burst.
		l := store.Limit{Rate: 3, Burst: 3, Period: 1500 * time.Millisecond}
		for i := range 3 {
			d, err := s.Allow(ctx, "ip", l)
			if err != nil || !d.Allowed || d.Remaining != 2-i && d.Remaining != 1-i {
				t.Fatalf("event %d: %+v, %v; want allowed with about %d remaining", i, d, err, 2-i)
			}
		}
		d, err := s.Allow(ctx, "ip", l)
		if err != nil || d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > l.Period/3 {
			t.Fatalf("over the burst: %+v, %v; want denied, retry within 500ms", d, err)
		}
		if d, err := s.Allow(ctx, "other-ip", l); err != nil || !d.Allowed {
			t.Fatalf("other key: %+v, %v", d, err)
		}
		time.Sleep(l.Period)
		if d, err := s.Allow(ctx, "ip", l); err != nil || !d.Allowed || d.Remaining < 1 {
			t.Fatalf("after the period: %+v, %v; want allowed with burst back", d, err)
		}
		if _, err := s.Allow(ctx, "ip", store.Limit{Burst: 1, Period: time.Second}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("zero rate: %v, want ErrInvalid", err)
		}
	})

	t.Run("Outbox", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const stream, group = "outbox", "forwarders"
		var ids []string
		for i := range 3 {
			id, err := s.OutboxAdd(ctx, stream, map[string]string{"n": strconv.Itoa(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if n, err := s.OutboxLen(ctx, stream); err != nil || n != 3 {
			t.Fatalf("OutboxLen = %d, %v", n, err)
		}
		readAt := time.Now()
		got, err := s.OutboxRead(ctx, stream, group, "A", 10, 0)
		if err != nil || len(got) != 3 {
			t.Fatalf("A read %v, %v; want 3 entries", got, err)
		}
		for i, e := range got {
			if e.ID != ids[i] || e.Fields["n"] != strconv.Itoa(i) || e.Deliveries != 1 {
				t.Fatalf("entry %d = %+v, want id %s, n %d, 1 delivery", i, e, ids[i], i)
			}
		}
		if err := s.OutboxAck(ctx, stream, group, ids[0]); err != nil {
			t.Fatal(err)
		}
		if again, err := s.OutboxRead(ctx, stream, group, "A", 10, 0); err != nil || len(again) != 0 {
			t.Fatalf("second read %v, %v; want nothing new", again, err)
		}

		const minIdle = 500 * time.Millisecond
		early, err := s.OutboxClaim(ctx, stream, group, "B", minIdle, 10)
		if err != nil || (len(early) != 0 && time.Since(readAt) < minIdle) {
			t.Fatalf("claimed %v, %v before minIdle", early, err)
		}
		time.Sleep(minIdle + 50*time.Millisecond)
		claimed, err := s.OutboxClaim(ctx, stream, group, "B", minIdle, 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("B claimed %v, %v; want 2", claimed, err)
		}
		for i, e := range claimed {
			if e.ID != ids[i+1] || e.Fields["n"] != strconv.Itoa(i+1) || e.Deliveries != 2 {
				t.Fatalf("claimed %d = %+v, want id %s with 2 deliveries", i, e, ids[i+1])
			}
		}
		// Claiming reset their idle time.
		if again, err := s.OutboxClaim(ctx, stream, group, "C", minIdle, 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed again at once: %v, %v", again, err)
		}
		if p, err := s.OutboxPending(ctx, stream, group); err != nil || p.Count != 2 || p.OldestIdle >= minIdle {
			t.Fatalf("pending = %+v, %v; want 2, idle below %s", p, err, minIdle)
		}
		if err := s.OutboxAck(ctx, stream, group, ids[1], ids[2]); err != nil {
			t.Fatal(err)
		}
		if p, err := s.OutboxPending(ctx, stream, group); err != nil || p.Count != 0 {
			t.Fatalf("pending after ack = %+v, %v", p, err)
		}
		if redo, err := s.OutboxClaim(ctx, stream, group, "B", 0, 10); err != nil || len(redo) != 0 {
			t.Fatalf("acked entries claimed again: %v, %v", redo, err)
		}
		if redo, err := s.OutboxRead(ctx, stream, group, "B", 10, 0); err != nil || len(redo) != 0 {
			t.Fatalf("acked entries read again: %v, %v", redo, err)
		}
		if err := s.OutboxAck(ctx, stream, group, "not-an-id"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("ack of a malformed id: %v, want ErrInvalid", err)
		}
	})

	t.Run("OutboxBeforeGroup", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i := range 2 {
			if _, err := s.OutboxAdd(ctx, "o", map[string]string{"n": strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		// Every group starts at the beginning of the stream.
		for _, g := range []string{"g1", "g2"} {
			got, err := s.OutboxRead(ctx, "o", g, "c", 1, 0)
			if err != nil || len(got) != 1 || got[0].Fields["n"] != "0" {
				t.Fatalf("%s first read %v, %v", g, got, err)
			}
			got, err = s.OutboxRead(ctx, "o", g, "c", 0, 0)
			if err != nil || len(got) != 1 || got[0].Fields["n"] != "1" {
				t.Fatalf("%s second read %v, %v", g, got, err)
			}
		}
	})

	t.Run("OutboxMissing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if n, err := s.OutboxLen(ctx, "none"); err != nil || n != 0 {
			t.Fatalf("OutboxLen = %d, %v", n, err)
		}
		if p, err := s.OutboxPending(ctx, "none", "g"); err != nil || p != (store.Pending{}) {
			t.Fatalf("OutboxPending = %+v, %v", p, err)
		}
		if c, err := s.OutboxClaim(ctx, "none", "g", "c", 0, 10); err != nil || len(c) != 0 {
			t.Fatalf("OutboxClaim = %v, %v", c, err)
		}
		if err := s.OutboxAck(ctx, "none", "g", "1-1"); err != nil {
			t.Fatalf("OutboxAck = %v", err)
		}
		if got, err := s.OutboxRead(ctx, "none", "g", "c", 10, 0); err != nil || len(got) != 0 {
			t.Fatalf("OutboxRead = %v, %v", got, err)
		}
		if _, err := s.OutboxAdd(ctx, "none", nil); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("OutboxAdd without fields: %v, want ErrInvalid", err)
		}
	})

	t.Run("OutboxPending", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for range 2 {
			_, _ = s.OutboxAdd(ctx, "o", map[string]string{"k": "v"})
		}
		if _, err := s.OutboxRead(ctx, "o", "g", "c", 0, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		p, err := s.OutboxPending(ctx, "o", "g")
		if err != nil || p.Count != 2 || p.OldestIdle < 80*time.Millisecond || p.OldestIdle > 10*time.Second {
			t.Fatalf("pending = %+v, %v; want 2, idle about 100ms", p, err)
		}
	})

	t.Run("OutboxBlockingRead", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// Create the group first so the concurrent add is "new".
		if _, err := s.OutboxRead(ctx, "o", "g", "c", 1, 0); err != nil {
			t.Fatal(err)
		}
		type result struct {
			entries []store.Entry
			err     error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			e, err := s.OutboxRead(ctx, "o", "g", "c", 10, 5*time.Second)
			done <- result{e, err}
		}()
		time.Sleep(100 * time.Millisecond)
		if _, err := s.OutboxAdd(ctx, "o", map[string]string{"k": "late"}); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || len(r.entries) != 1 || r.entries[0].Fields["k"] != "late" {
				t.Fatalf("blocking read = %v, %v", r.entries, r.err)
			}
			if time.Since(start) > 4*time.Second {
				t.Fatal("blocking read waited for its timeout")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocking read did not return")
		}

		start = time.Now()
		got, err := s.OutboxRead(ctx, "o", "g", "c", 10, 150*time.Millisecond)
		if err != nil || len(got) != 0 || time.Since(start) < 100*time.Millisecond {
			t.Fatalf("read on an idle stream = %v, %v after %s; want nothing after ~150ms", got, err, time.Since(start))
		}

		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err = s.OutboxRead(cctx, "o", "g", "c", 10, 5*time.Second)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
			t.Fatalf("read under a 100ms context = %v after %s; want DeadlineExceeded promptly", err, time.Since(start))
		}
	})

	t.Run("OutboxConcurrentConsumers", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 100
		for i := range n {
			_, _ = s.OutboxAdd(ctx, "o", map[string]string{"n": strconv.Itoa(i)})
		}
		var (
			mu   sync.Mutex
			seen []string
			wg   sync.WaitGroup
		)
		for c := range 4 {
			wg.Go(func() {
				for {
					got, err := s.OutboxRead(ctx, "o", "g", fmt.Sprint("c", c), 7, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						seen = append(seen, e.ID)
						_ = s.OutboxAck(ctx, "o", "g", e.ID)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(seen)
		if distinct := len(slices.Compact(slices.Clone(seen))); len(seen) != n || distinct != n {
			t.Fatalf("consumers saw %d entries (%d distinct), want each of %d once", len(seen), distinct, n)
		}
	})
}

// eachStore runs fn against a fresh store of each kind.
func eachStore(t *testing.T, fn func(t *testing.T, s store.Store)) {
	storetest.Each(t, fn)
}
