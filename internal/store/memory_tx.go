package store

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// kind is the type of the value a key holds, as Redis's TYPE reports it.
type kind uint8

const (
	kindString kind = iota + 1
	kindHash
	kindSet
	kindZSet
	kindList
	kindStream
)

// entry is one key's value; only the field of its kind is set.
type entry struct {
	kind     kind
	expireAt int64 // unix nanoseconds; 0: no expiry
	str      string
	hash     map[string]string
	set      map[string]struct{}
	zset     map[string]float64
	list     []string
	stream   *stream
}

// TTL conventions of Redis's TTL command, as Tx.TTL returns them.
const (
	ttlMissing  time.Duration = -2
	ttlNoExpiry time.Duration = -1
)

// memTx is one operation or script on the Memory store's data; it is only
// valid while the caller holds the store's lock. The lower-case methods
// return errors; the Tx methods record the first one and turn every later
// call into a no-op, which leaves the data as Redis leaves it when a
// redis.call fails and aborts the script.
type memTx struct {
	m     *Memory
	now   time.Time
	nowNs int64
	err   error
	pubs  []Message // full channel names, sent once the script has returned
}

var _ Tx = (*memTx)(nil)

// run calls the script's Go body and turns what it returns into a Run
// result: a panic or a failed command becomes an ErrScript error, as a Lua
// runtime error does on Redis.
func (tx *memTx) run(s *Script, keys, argv []string) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: %s: panic: %v", ErrScript, s.Name, r)
		}
		// A Tx kept past the script must not touch data without the lock.
		tx.err = ErrClosed
	}()
	out, serr := s.Go(tx, keys, argv)
	if tx.err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, s.Name, tx.err)
	}
	if serr != nil {
		if se, ok := serr.(*ScriptError); ok {
			return nil, se
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, s.Name, serr)
	}
	return scriptResult(out)
}

// ok reports whether the script may go on, recording err if it may not.
func (tx *memTx) ok(err error) bool {
	if tx.err != nil {
		return false
	}
	tx.err = err
	return err == nil
}

func wrongType(key string) error {
	return fmt.Errorf("%w: key %q", ErrWrongType, key)
}

// lookup returns key's live entry, expiring it lazily.
func (tx *memTx) lookup(key string) *entry {
	e := tx.m.data[key]
	if e != nil && e.expireAt != 0 && e.expireAt <= tx.nowNs {
		tx.m.remove(key)
		return nil
	}
	return e
}

// typed returns key's entry if it holds k, nil if missing.
func (tx *memTx) typed(key string, k kind) (*entry, error) {
	e := tx.lookup(key)
	if e != nil && e.kind != k {
		return nil, wrongType(key)
	}
	return e, nil
}

// create returns key's entry of kind k, making an empty one if missing.
func (tx *memTx) create(key string, k kind) (*entry, error) {
	e, err := tx.typed(key, k)
	if err != nil || e != nil {
		return e, err
	}
	e = &entry{kind: k}
	switch k {
	case kindHash:
		e.hash = make(map[string]string)
	case kindSet:
		e.set = make(map[string]struct{})
	case kindZSet:
		e.zset = make(map[string]float64)
	case kindStream:
		e.stream = &stream{groups: make(map[string]*consumerGroup)}
	}
	tx.m.data[key] = e
	return e, nil
}

func (tx *memTx) expireIn(key string, e *entry, ttl time.Duration) {
	e.expireAt = tx.nowNs + int64(ttl)
	tx.m.track(key, e.expireAt)
}

// dropEmpty deletes a collection that became empty, as Redis does.
func (tx *memTx) dropEmpty(key string, e *entry) {
	if len(e.hash)+len(e.set)+len(e.zset)+len(e.list) == 0 {
		tx.m.remove(key)
	}
}

// Strings and keys.

func (tx *memTx) get(key string) (string, bool, error) {
	e, err := tx.typed(key, kindString)
	if err != nil || e == nil {
		return "", false, err
	}
	return e.str, true, nil
}

func (tx *memTx) set(key, value string, ttl time.Duration) {
	e := &entry{kind: kindString, str: value}
	tx.m.data[key] = e
	if ttl > 0 {
		tx.expireIn(key, e, ttl)
	}
}

func (tx *memTx) setNX(key, value string, ttl time.Duration) bool {
	if tx.lookup(key) != nil {
		return false
	}
	tx.set(key, value, ttl)
	return true
}

func (tx *memTx) del(key string) bool {
	if tx.lookup(key) == nil {
		return false
	}
	tx.m.remove(key)
	return true
}

func (tx *memTx) ttl(key string) time.Duration {
	e := tx.lookup(key)
	switch {
	case e == nil:
		return ttlMissing
	case e.expireAt == 0:
		return ttlNoExpiry
	}
	// Millisecond precision, as PTTL reports it.
	return time.Duration(e.expireAt - tx.nowNs).Truncate(time.Millisecond)
}

func (tx *memTx) incrBy(key string, n int64) (int64, error) {
	e, err := tx.typed(key, kindString)
	if err != nil {
		return 0, err
	}
	var cur int64
	if e != nil {
		if cur, err = parseRedisInt(e.str); err != nil {
			return 0, err
		}
	}
	sum, err := addInt(cur, n)
	if err != nil {
		return 0, err
	}
	if e == nil {
		e = &entry{kind: kindString}
		tx.m.data[key] = e
	}
	// INCRBY keeps the key's expiry.
	e.str = strconv.FormatInt(sum, 10)
	return sum, nil
}

// parseRedisInt accepts what Redis's string2ll accepts: an optional minus
// and digits without leading zeros, no plus, no spaces.
func parseRedisInt(s string) (int64, error) {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if d == "" || len(d) > 19 || (d[0] == '0' && (len(d) > 1 || len(s) > 1)) {
		return 0, fmt.Errorf("%w: %q", ErrNotInteger, s)
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, fmt.Errorf("%w: %q", ErrNotInteger, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrNotInteger, s)
	}
	return n, nil
}

func addInt(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("%w: %d%+d overflows", ErrNotInteger, a, b)
	}
	return a + b, nil
}

// Hashes.

func (tx *memTx) hset(key string, pairs []string) (int, error) {
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		return 0, fmt.Errorf("%w: HSET wants field/value pairs", ErrInvalid)
	}
	e, err := tx.create(key, kindHash)
	if err != nil {
		return 0, err
	}
	added := 0
	for i := 0; i < len(pairs); i += 2 {
		if _, ok := e.hash[pairs[i]]; !ok {
			added++
		}
		e.hash[pairs[i]] = pairs[i+1]
	}
	return added, nil
}

func (tx *memTx) hget(key, field string) (string, bool, error) {
	e, err := tx.typed(key, kindHash)
	if err != nil || e == nil {
		return "", false, err
	}
	v, ok := e.hash[field]
	return v, ok, nil
}

func (tx *memTx) hgetall(key string) (map[string]string, error) {
	e, err := tx.typed(key, kindHash)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(e.hashOrNil()))
	for f, v := range e.hashOrNil() {
		out[f] = v
	}
	return out, nil
}

func (e *entry) hashOrNil() map[string]string {
	if e == nil {
		return nil
	}
	return e.hash
}

func (tx *memTx) hincrBy(key, field string, n int64) (int64, error) {
	e, err := tx.typed(key, kindHash)
	if err != nil {
		return 0, err
	}
	var cur int64
	if e != nil {
		if v, ok := e.hash[field]; ok {
			if cur, err = parseRedisInt(v); err != nil {
				return 0, err
			}
		}
	}
	sum, err := addInt(cur, n)
	if err != nil {
		return 0, err
	}
	if e, err = tx.create(key, kindHash); err != nil {
		return 0, err
	}
	e.hash[field] = strconv.FormatInt(sum, 10)
	return sum, nil
}

// Tx: strings and keys.

func (tx *memTx) Now() time.Time { return tx.now }

func (tx *memTx) Get(key string) (string, bool) {
	if tx.err != nil {
		return "", false
	}
	v, ok, err := tx.get(key)
	tx.ok(err)
	return v, ok
}

func (tx *memTx) Set(key, value string, ttl time.Duration) {
	if tx.err == nil {
		tx.set(key, value, ttl)
	}
}

func (tx *memTx) SetNX(key, value string, ttl time.Duration) bool {
	return tx.err == nil && tx.setNX(key, value, ttl)
}

func (tx *memTx) Del(keys ...string) int {
	n := 0
	for _, k := range keys {
		if tx.err == nil && tx.del(k) {
			n++
		}
	}
	return n
}

func (tx *memTx) Exists(key string) bool { return tx.err == nil && tx.lookup(key) != nil }

// Expire sets key's time to live; ttl <= 0 deletes the key, as EXPIRE does.
func (tx *memTx) Expire(key string, ttl time.Duration) bool {
	if tx.err != nil {
		return false
	}
	e := tx.lookup(key)
	if e == nil {
		return false
	}
	if ttl <= 0 {
		tx.m.remove(key)
		return true
	}
	tx.expireIn(key, e, ttl)
	return true
}

func (tx *memTx) TTL(key string) time.Duration {
	if tx.err != nil {
		return ttlMissing
	}
	return tx.ttl(key)
}

func (tx *memTx) IncrBy(key string, n int64) int64 {
	if tx.err != nil {
		return 0
	}
	v, err := tx.incrBy(key, n)
	tx.ok(err)
	return v
}

// Tx: hashes.

func (tx *memTx) HGet(key, field string) (string, bool) {
	if tx.err != nil {
		return "", false
	}
	v, ok, err := tx.hget(key, field)
	tx.ok(err)
	return v, ok
}

func (tx *memTx) HSet(key string, fieldValues ...string) {
	if tx.err == nil {
		_, err := tx.hset(key, fieldValues)
		tx.ok(err)
	}
}

func (tx *memTx) HDel(key string, fields ...string) int {
	if tx.err != nil {
		return 0
	}
	e, err := tx.typed(key, kindHash)
	if !tx.ok(err) || e == nil {
		return 0
	}
	n := deleteAll(e.hash, fields)
	tx.dropEmpty(key, e)
	return n
}

func (tx *memTx) HGetAll(key string) map[string]string {
	if tx.err != nil {
		return map[string]string{}
	}
	h, err := tx.hgetall(key)
	if !tx.ok(err) {
		return map[string]string{}
	}
	return h
}

func (tx *memTx) HIncrBy(key, field string, n int64) int64 {
	if tx.err != nil {
		return 0
	}
	v, err := tx.hincrBy(key, field, n)
	tx.ok(err)
	return v
}

func (tx *memTx) HLen(key string) int64 {
	e := tx.read(key, kindHash)
	return int64(len(e.hashOrNil()))
}

// read returns key's entry of kind k for a read-only Tx method: nil when
// missing, after a failure, or (recording it) on a wrong type.
func (tx *memTx) read(key string, k kind) *entry {
	if tx.err != nil {
		return nil
	}
	e, err := tx.typed(key, k)
	tx.ok(err)
	return e
}

// Tx: sets.

func (tx *memTx) SAdd(key string, members ...string) int {
	if tx.err != nil || len(members) == 0 {
		return 0
	}
	e, err := tx.create(key, kindSet)
	if !tx.ok(err) {
		return 0
	}
	n := 0
	for _, mb := range members {
		if _, ok := e.set[mb]; !ok {
			e.set[mb] = struct{}{}
			n++
		}
	}
	return n
}

func (tx *memTx) SRem(key string, members ...string) int {
	e := tx.read(key, kindSet)
	if e == nil {
		return 0
	}
	n := deleteAll(e.set, members)
	tx.dropEmpty(key, e)
	return n
}

func (tx *memTx) SIsMember(key, member string) bool {
	e := tx.read(key, kindSet)
	if e == nil {
		return false
	}
	_, ok := e.set[member]
	return ok
}

func (tx *memTx) SCard(key string) int64 {
	if e := tx.read(key, kindSet); e != nil {
		return int64(len(e.set))
	}
	return 0
}

// SMembers returns the members sorted; Redis's order is unspecified, and
// a fixed one keeps scripts deterministic.
func (tx *memTx) SMembers(key string) []string {
	e := tx.read(key, kindSet)
	if e == nil {
		return []string{}
	}
	out := make([]string, 0, len(e.set))
	for mb := range e.set {
		out = append(out, mb)
	}
	sort.Strings(out)
	return out
}

// Tx: sorted sets.

func (tx *memTx) ZAdd(key string, score float64, member string) bool {
	if tx.err != nil {
		return false
	}
	if math.IsNaN(score) {
		tx.ok(fmt.Errorf("%w: ZADD score is not a number", ErrInvalid))
		return false
	}
	e, err := tx.create(key, kindZSet)
	if !tx.ok(err) {
		return false
	}
	_, exists := e.zset[member]
	e.zset[member] = score
	return !exists
}

func (tx *memTx) ZRem(key string, members ...string) int {
	e := tx.read(key, kindZSet)
	if e == nil {
		return 0
	}
	n := deleteAll(e.zset, members)
	tx.dropEmpty(key, e)
	return n
}

func (tx *memTx) ZScore(key, member string) (float64, bool) {
	e := tx.read(key, kindZSet)
	if e == nil {
		return 0, false
	}
	s, ok := e.zset[member]
	return s, ok
}

// ZRangeByScore returns members with min <= score <= max ordered by score,
// then member, as Redis orders them; limit <= 0 means all.
func (tx *memTx) ZRangeByScore(key string, lo, hi float64, limit int) []string {
	e := tx.read(key, kindZSet)
	if e == nil {
		return []string{}
	}
	type scored struct {
		member string
		score  float64
	}
	var hits []scored
	for mb, s := range e.zset {
		if s >= lo && s <= hi {
			hits = append(hits, scored{mb, s})
		}
	}
	slices.SortFunc(hits, func(a, b scored) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		case a.member < b.member:
			return -1
		case a.member > b.member:
			return 1
		}
		return 0
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.member
	}
	return out
}

func (tx *memTx) ZCard(key string) int64 {
	if e := tx.read(key, kindZSet); e != nil {
		return int64(len(e.zset))
	}
	return 0
}

// Tx: lists.

func (tx *memTx) RPush(key string, values ...string) int64 {
	if tx.err != nil || len(values) == 0 {
		return 0
	}
	e, err := tx.create(key, kindList)
	if !tx.ok(err) {
		return 0
	}
	e.list = append(e.list, values...)
	return int64(len(e.list))
}

func (tx *memTx) LPop(key string) (string, bool) {
	e := tx.read(key, kindList)
	if e == nil || len(e.list) == 0 {
		return "", false
	}
	v := e.list[0]
	e.list[0] = ""
	e.list = e.list[1:]
	tx.dropEmpty(key, e)
	return v, true
}

// LRange returns the elements from start to stop inclusive; negative
// indexes count from the end, as in Redis.
func (tx *memTx) LRange(key string, start, stop int64) []string {
	e := tx.read(key, kindList)
	if e == nil {
		return []string{}
	}
	n := int64(len(e.list))
	if start < 0 {
		start = max(n+start, 0)
	}
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1)
	if start > stop || start >= n {
		return []string{}
	}
	return slices.Clone(e.list[start : stop+1])
}

func (tx *memTx) LLen(key string) int64 {
	if e := tx.read(key, kindList); e != nil {
		return int64(len(e.list))
	}
	return 0
}

// Tx: streams and pub/sub.

func (tx *memTx) XAdd(stream string, fields map[string]string) string {
	if tx.err != nil {
		return ""
	}
	id, err := tx.xadd(stream, fields)
	if !tx.ok(err) {
		return ""
	}
	return id
}

// Publish queues msg for channel, a full (prefixed) name like the keys a
// script gets; it is sent once the script has returned.
func (tx *memTx) Publish(channel string, msg []byte) {
	if tx.err == nil {
		tx.pubs = append(tx.pubs, Message{Channel: channel, Payload: slices.Clone(msg)})
	}
}

// deleteAll removes names from m and returns how many were there, as HDEL,
// SREM and ZREM count.
func deleteAll[V any](m map[string]V, names []string) int {
	n := 0
	for _, name := range names {
		if _, ok := m[name]; ok {
			delete(m, name)
			n++
		}
	}
	return n
}
