package store

import (
	"crypto/sha1"
	"encoding/hex"
	"runtime"
	"slices"
	"sync"
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
//
// Every key a script touches is in KEYS and all of them share one Redis
// Cluster hash slot (one drop's keys do: see DropKey): a cluster refuses a
// script whose keys span slots.
//
// A script announces a change with announce(channel, msg) in Lua and
// tx.Publish(channel, msg) in Go, channel being a full name (Prefix() +
// the logical channel) passed in ARGV, never in KEYS: a channel is not a
// key of the script's slot. The message goes out only when the script has
// run: on one Redis by PUBLISH inside the script, so subscribers hear it
// in the order the scripts ran; on a cluster by SPUBLISH to the channel's
// partition (see Publish) as soon as the script has returned, so it is
// lost if the replica dies in between (subscribers repair that as they
// repair a broken subscription). A script that returns an error reply
// announces nothing on a cluster: announce only on success.
type Script struct {
	Name string
	Lua  string
	Go   func(tx Tx, keys []string, args []string) (any, error)

	single, cluster scriptBody // set by NewScript
	file            string     // where NewScript was called
	replicated      bool       // see Replicated
}

// Replicated marks s as a script whose outcome is acknowledged to someone
// outside (a claim's 201, a webhook's 202), and returns s. With
// RedisConfig.WaitReplicas, Run answers for such a script only once that
// many replicas of its master hold its writes (Redis's WAIT); otherwise
// it fails with ErrNotReplicated. Call it where the script is declared.
func (s *Script) Replicated() *Script {
	s.replicated = true
	return s
}

// IsReplicated reports whether s was marked Replicated.
func (s *Script) IsReplicated() bool { return s.replicated }

// scriptBody is the Lua a store sends and its SHA-1, as EVALSHA wants it.
type scriptBody struct{ lua, sha string }

func newBody(lua string) scriptBody {
	sum := sha1.Sum([]byte(lua))
	return scriptBody{lua: lua, sha: hex.EncodeToString(sum[:])}
}

// announceSingle defines announce for one Redis: PUBLISH, atomic with the
// script.
const announceSingle = "local function announce(channel, msg) redis.call('PUBLISH', channel, msg) end\n"

// clusterWrap runs a script body on a cluster: announce collects the
// announcements, and the script returns {result, {channel, msg, …}} for
// the store to SPUBLISH. An error reply stays the script's reply.
const (
	clusterHead = `local announced = {}
local function announce(channel, msg)
  announced[#announced + 1] = channel
  announced[#announced + 1] = msg
end
local result = (function()
`
	clusterTail = `
end)()
if type(result) == 'table' and result.err then return result end
if result == nil then result = false end
return {result, announced}
`
)

var (
	registryMu sync.Mutex
	registry   []*Script
)

// NewScript returns a Script; both bodies are required. Every Script made
// by NewScript is listed by Scripts.
func NewScript(name, lua string, fn func(tx Tx, keys []string, args []string) (any, error)) *Script {
	s := &Script{Name: name, Lua: lua, Go: fn}
	s.single, s.cluster = s.bodies()
	_, s.file, _, _ = runtime.Caller(1)
	registryMu.Lock()
	registry = append(registry, s)
	registryMu.Unlock()
	return s
}

// Scripts returns every Script made by NewScript so far: the package-level
// scripts of every package linked in, so a test can check them all.
func Scripts() []*Script {
	registryMu.Lock()
	defer registryMu.Unlock()
	return slices.Clone(registry)
}

// File returns the source file that made s with NewScript ("" for a
// Script built otherwise): a test can tell its package's scripts.
func (s *Script) File() string { return s.file }

func (s *Script) bodies() (single, cluster scriptBody) {
	return newBody(announceSingle + s.Lua), newBody(clusterHead + s.Lua + clusterTail)
}

// body returns what a store sends for s: for one Redis or for a cluster.
func (s *Script) body(onCluster bool) scriptBody {
	single, cluster := s.single, s.cluster
	if single.sha == "" { // a Script built without NewScript
		single, cluster = s.bodies()
	}
	if onCluster {
		return cluster
	}
	return single
}

// Hash returns the SHA-1 of the Lua a single Redis runs, as EVALSHA wants
// it.
func (s *Script) Hash() string { return s.body(false).sha }

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
	// Publish queues a message that is sent when the script has finished,
	// as Lua's announce(channel, msg). Like keys, channel is a full
	// (prefixed) name: pass Prefix() + channel to Run in args.
	Publish(channel string, msg []byte)
}
