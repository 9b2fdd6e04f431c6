package store

import (
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// Script is an atomic multi-key update written twice: as Lua for Redis and as
// Go for the memory store. Both bodies must have the same semantics; the
// domain packages test that by running their scripts against both stores.
//
// Keys reach the script already prefixed (KEYS in Lua, keys in Go). Args reach
// it as strings, converted the way Redis converts them. A script result is
// nil, an int64, a string, or a []any of those; Lua's false becomes nil. A
// script signals a domain outcome with an error reply
// (`return redis.error_reply("sold_out")` / `&ScriptError{Code: "sold_out"}`),
// which Run returns as a *ScriptError.
type Script struct {
	Name string
	Lua  string
	Go   func(tx Tx, keys []string, args []string) (any, error)

	sha string
}

// NewScript returns a Script; both bodies are required.
func NewScript(name, lua string, fn func(tx Tx, keys []string, args []string) (any, error)) *Script {
	sum := sha1.Sum([]byte(lua))
	return &Script{Name: name, Lua: lua, Go: fn, sha: hex.EncodeToString(sum[:])}
}

// Hash returns the SHA-1 of the Lua body, as EVALSHA wants it.
func (s *Script) Hash() string { return s.sha }

// ScriptError is a domain outcome reported by a script, e.g. "sold_out".
type ScriptError struct{ Code string }

func (e *ScriptError) Error() string { return "store: script: " + e.Code }

// Is makes a ScriptError match ErrScript, as errors.go documents: callers
// that only care whether a script did its work need not know the codes.
func (e *ScriptError) Is(target error) bool { return target == ErrScript }

// Tx is what a memory script sees: the store's data under its lock. Keys are
// full (prefixed) keys. Methods mirror the Redis commands of the same name;
// missing keys read as zero values, as in Redis.
type Tx interface {
	Now() time.Time

	Get(key string) (string, bool)
	Set(key, value string, ttl time.Duration) // ttl <= 0: no expiry
	SetNX(key, value string, ttl time.Duration) bool
	Del(keys ...string) int
	Exists(key string) bool
	Expire(key string, ttl time.Duration) bool
	TTL(key string) time.Duration // -2: missing, -1: no expiry, as Redis
	IncrBy(key string, n int64) int64

	HGet(key, field string) (string, bool)
	HSet(key string, fieldValues ...string)
	HDel(key string, fields ...string) int
	HGetAll(key string) map[string]string
	HIncrBy(key, field string, n int64) int64
	HLen(key string) int64

	SAdd(key string, members ...string) int
	SRem(key string, members ...string) int
	SIsMember(key, member string) bool
	SCard(key string) int64
	SMembers(key string) []string

	ZAdd(key string, score float64, member string) bool
	ZRem(key string, members ...string) int
	ZScore(key, member string) (float64, bool)
	ZRangeByScore(key string, min, max float64, limit int) []string
	ZCard(key string) int64

	RPush(key string, values ...string) int64
	LPop(key string) (string, bool)
	LRange(key string, start, stop int64) []string
	LLen(key string) int64

	// XAdd appends to a stream, as OutboxAdd does, and returns the id.
	XAdd(stream string, fields map[string]string) string
	// Publish queues a message that is sent when the script has finished.
	// Like keys, channel is a full (prefixed) name: pass the channel to Run
	// among the keys, so that Lua's PUBLISH gets the prefixed name too.
	Publish(channel string, msg []byte)
}
