package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dropwire/dropwire/internal/store"
)

// A Script is written twice, as Lua for Redis and as Go for the memory
// store, with the same semantics; Run picks the body its store runs. Here
// a drop hands out its last units of stock, one per viewer.
func ExampleScript() {
	claim := store.NewScript("claim", `
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
if stock <= 0 then return redis.error_reply('sold_out') end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return redis.error_reply('already_claimed') end
return redis.call('DECRBY', KEYS[1], 1)
`, func(tx store.Tx, keys, args []string) (any, error) {
		v, _ := tx.Get(keys[0])
		stock, _ := strconv.ParseInt(v, 10, 64)
		if stock <= 0 {
			return nil, &store.ScriptError{Code: "sold_out"}
		}
		if tx.SAdd(keys[1], args[0]) == 0 {
			return nil, &store.ScriptError{Code: "already_claimed"}
		}
		return tx.IncrBy(keys[0], -1), nil
	})

	// The memory store runs the Go body; a Redis store would run the Lua.
	s, err := store.NewMemory(store.MemoryConfig{Prefix: "example:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	ctx := context.Background()
	keys := []string{store.DropKey("d1", "stock"), store.DropKey("d1", "claims")}
	_ = s.Set(ctx, keys[0], "2", 0)
	for _, viewer := range []string{"ana", "ana", "ben", "cho"} {
		left, err := s.Run(ctx, claim, keys, viewer)
		var se *store.ScriptError
		switch {
		case errors.As(err, &se):
			fmt.Printf("%s: %s\n", viewer, se.Code)
		case err != nil:
			fmt.Printf("%s: %v\n", viewer, err)
		default:
			fmt.Printf("%s: claimed, %d left\n", viewer, left)
		}
	}
	// Output:
	// ana: claimed, 1 left
	// ana: already_claimed
	// ben: claimed, 0 left
	// cho: sold_out
}
