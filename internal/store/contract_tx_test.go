package store_test

import (
	"context"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// commandsScript runs most Tx commands once and returns what each gave,
// so the contract checks the Go Tx against the Redis commands it mirrors.
var commandsScript = store.NewScript("commands", `
local k = KEYS
local out = {}
local function add(v) out[#out + 1] = v end
redis.call('SET', k[1], 'v')
add(redis.call('GET', k[1]))
add(redis.call('EXISTS', k[1]))
add(redis.call('TTL', k[1]))
add(redis.call('TTL', k[2]))
add(redis.call('EXPIRE', k[1], 100))
add(redis.call('TTL', k[1]))
if redis.call('SET', k[1], 'w', 'NX') then add(1) else add(0) end
add(redis.call('DEL', k[1], k[2]))
add(redis.call('INCRBY', k[1], 5))
redis.call('HSET', k[3], 'a', '1', 'b', '2')
add(redis.call('HDEL', k[3], 'a', 'zz'))
add(redis.call('HLEN', k[3]))
add(redis.call('HINCRBY', k[3], 'b', 3))
add(redis.call('HGET', k[3], 'b'))
add(redis.call('SADD', k[4], 'x', 'y', 'x'))
add(redis.call('SREM', k[4], 'y', 'q'))
add(redis.call('SISMEMBER', k[4], 'x'))
add(redis.call('SCARD', k[4]))
redis.call('SADD', k[4], 'a')
local members = redis.call('SMEMBERS', k[4])
table.sort(members)
add(members)
add(redis.call('ZADD', k[5], 2, 'b'))
add(redis.call('ZADD', k[5], 1, 'a'))
add(redis.call('ZADD', k[5], 3, 'a'))
add(redis.call('ZADD', k[5], 2, 'c'))
add(redis.call('ZRANGEBYSCORE', k[5], 2, 3))
add(redis.call('ZRANGEBYSCORE', k[5], '-inf', '+inf', 'LIMIT', 0, 2))
add(redis.call('ZSCORE', k[5], 'a'))
add(redis.call('ZREM', k[5], 'a', 'zz'))
add(redis.call('ZCARD', k[5]))
add(redis.call('RPUSH', k[6], 'a', 'b', 'c'))
add(redis.call('LPOP', k[6]))
add(redis.call('LRANGE', k[6], 0, -1))
add(redis.call('LRANGE', k[6], -1, 5))
add(redis.call('LLEN', k[6]))
redis.call('LPOP', k[6])
redis.call('LPOP', k[6])
add(redis.call('EXISTS', k[6]))
add(redis.call('LPOP', k[6]))
redis.call('XADD', k[7], '*', 'f', 'v')
add(redis.call('XLEN', k[7]))
add(redis.call('EXPIRE', k[8], 10))
redis.call('SET', k[8], 'x')
add(redis.call('EXPIRE', k[8], 0))
add(redis.call('EXISTS', k[8]))
return out
`, func(tx store.Tx, k, _ []string) (any, error) {
	var out []any
	add := func(v any) { out = append(out, v) }
	b := func(ok bool) int64 {
		if ok {
			return 1
		}
		return 0
	}
	str := func(s string, ok bool) any {
		if !ok {
			return false
		}
		return s
	}
	secs := func(d time.Duration) int64 {
		if d < 0 {
			return int64(d) // -1 and -2 pass through, as TTL reports them
		}
		return int64(d / time.Second)
	}
	tx.Set(k[0], "v", 0)
	add(str(tx.Get(k[0])))
	add(b(tx.Exists(k[0])))
	add(secs(tx.TTL(k[0])))
	add(secs(tx.TTL(k[1])))
	add(b(tx.Expire(k[0], 100*time.Second)))
	add(secs(tx.TTL(k[0])))
	add(b(tx.SetNX(k[0], "w", 0)))
	add(tx.Del(k[0], k[1]))
	add(tx.IncrBy(k[0], 5))
	tx.HSet(k[2], "a", "1", "b", "2")
	add(tx.HDel(k[2], "a", "zz"))
	add(tx.HLen(k[2]))
	add(tx.HIncrBy(k[2], "b", 3))
	add(str(tx.HGet(k[2], "b")))
	add(tx.SAdd(k[3], "x", "y", "x"))
	add(tx.SRem(k[3], "y", "q"))
	add(b(tx.SIsMember(k[3], "x")))
	add(tx.SCard(k[3]))
	tx.SAdd(k[3], "a")
	add(tx.SMembers(k[3]))
	add(b(tx.ZAdd(k[4], 2, "b")))
	add(b(tx.ZAdd(k[4], 1, "a")))
	add(b(tx.ZAdd(k[4], 3, "a")))
	add(b(tx.ZAdd(k[4], 2, "c")))
	add(tx.ZRangeByScore(k[4], 2, 3, 0))
	add(tx.ZRangeByScore(k[4], math.Inf(-1), math.Inf(1), 2))
	score, _ := tx.ZScore(k[4], "a")
	add(strconv.FormatFloat(score, 'f', -1, 64))
	add(tx.ZRem(k[4], "a", "zz"))
	add(tx.ZCard(k[4]))
	add(tx.RPush(k[5], "a", "b", "c"))
	add(str(tx.LPop(k[5])))
	add(tx.LRange(k[5], 0, -1))
	add(tx.LRange(k[5], -1, 5))
	add(tx.LLen(k[5]))
	tx.LPop(k[5])
	tx.LPop(k[5])
	add(b(tx.Exists(k[5])))
	add(str(tx.LPop(k[5])))
	tx.XAdd(k[6], map[string]string{"f": "v"})
	add(int64(1)) // XLEN: Tx has none; the entry was added once
	add(b(tx.Expire(k[7], 10*time.Second)))
	tx.Set(k[7], "x", 0)
	add(b(tx.Expire(k[7], 0)))
	add(b(tx.Exists(k[7])))
	return out, nil
})

func TestTxCommands(t *testing.T) {
	want := []any{
		"v", int64(1), int64(-1), int64(-2), int64(1), int64(100), int64(0), int64(1), int64(5),
		int64(1), int64(1), int64(5), "5",
		int64(2), int64(1), int64(1), int64(1), []any{"a", "x"},
		int64(1), int64(1), int64(0), int64(1), []any{"b", "c", "a"}, []any{"b", "c"}, "3", int64(1), int64(2),
		int64(3), "a", []any{"b", "c"}, []any{"c"}, int64(2), int64(0), nil,
		int64(1), int64(0), int64(1), int64(0),
	}
	eachStore(t, func(t *testing.T, s store.Store) {
		keys := make([]string, 8)
		for i := range keys {
			keys[i] = store.DropKey("tx", strconv.Itoa(i))
		}
		got, err := s.Run(context.Background(), commandsScript, keys)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := got.([]any)
			for i := range max(len(g), len(want)) {
				var gi, wi any
				if i < len(g) {
					gi = g[i]
				}
				if i < len(want) {
					wi = want[i]
				}
				if !reflect.DeepEqual(gi, wi) {
					t.Errorf("result %d = %#v, want %#v", i, gi, wi)
				}
			}
		}
	})
}
