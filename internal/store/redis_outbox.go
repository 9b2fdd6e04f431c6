package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript is XAUTOCLAIM plus the delivery count of every claimed entry
// (XAUTOCLAIM does not report it), in one atomic step. It loops because
// one XAUTOCLAIM call scans a bounded part of the pending list.
var claimScript = redis.NewScript(`
local out = {}
local want = tonumber(ARGV[4])
local start = '0-0'
repeat
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], start, 'COUNT', want - #out)
  start = r[1]
  for _, m in ipairs(r[2]) do
    if m then -- Redis 6.2 reports entries deleted meanwhile as nil
      local p = redis.call('XPENDING', KEYS[1], ARGV[1], m[1], m[1], 1)
      local n = 0
      if p[1] then n = p[1][4] end
      out[#out + 1] = {m[1], m[2], n}
    end
  end
until start == '0-0' or #out >= want
return out
`)

// pendingScript is the XPENDING summary plus the largest idle time, read
// from at most ARGV[2] pending entries (the lowest ids, which are usually
// the longest waiting).
var pendingScript = redis.NewScript(`
local s = redis.call('XPENDING', KEYS[1], ARGV[1])
local count = s[1]
local oldest = 0
local seen = 0
local limit = tonumber(ARGV[2])
local start = '-'
while seen < count and seen < limit do
  local page = redis.call('XPENDING', KEYS[1], ARGV[1], start, '+', 1000)
  if #page == 0 then break end
  for _, p in ipairs(page) do
    if p[3] > oldest then oldest = p[3] end
  end
  seen = seen + #page
  start = '(' .. page[#page][1]
end
return {count, oldest}
`)

// pendingScanLimit bounds the work of one OutboxPending on a huge backlog.
const pendingScanLimit = 10000

func noGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// OutboxAdd implements Store.
func (r *Redis) OutboxAdd(ctx context.Context, stream string, fields map[string]string) (string, error) {
	if len(fields) == 0 {
		return "", fmt.Errorf("%w: outbox entry without fields", ErrInvalid)
	}
	values := make([]string, 0, 2*len(fields))
	for f, v := range fields {
		values = append(values, f, v)
	}
	id, err := r.c.XAdd(ctx, &redis.XAddArgs{Stream: r.prefix + stream, Values: values}).Result()
	return id, redisErr(ctx, err)
}

// OutboxRead implements Store with XREADGROUP ">", creating the group at
// "0" with MKSTREAM the first time Redis reports it missing.
func (r *Redis) OutboxRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]Entry, error) {
	key := r.prefix + stream
	args := &redis.XReadGroupArgs{
		Group:    group,
		Consumer: consumer,
		Streams:  []string{key, ">"},
		Block:    -1, // go-redis sends BLOCK for any value >= 0, and 0 waits forever
	}
	if count > 0 {
		args.Count = int64(count)
	}
	if block > 0 {
		args.Block = max(block.Round(time.Millisecond), time.Millisecond)
	}
	res, err := r.c.XReadGroup(ctx, args).Result()
	if noGroup(err) {
		err = r.c.XGroupCreateMkStream(ctx, key, group, "0").Err()
		if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
			return nil, redisErr(ctx, err)
		}
		res, err = r.c.XReadGroup(ctx, args).Result()
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil // nothing arrived while blocking
	}
	if err != nil {
		return nil, redisErr(ctx, err)
	}
	var out []Entry
	for _, s := range res {
		for _, m := range s.Messages {
			out = append(out, Entry{ID: m.ID, Fields: stringFields(m.Values), Deliveries: 1})
		}
	}
	return out, nil
}

func stringFields(values map[string]any) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		if s, ok := v.(string); ok {
			out[k] = s
		} else {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// OutboxAck implements Store.
func (r *Redis) OutboxAck(ctx context.Context, stream, group string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	// Validated here so both stores refuse a malformed id alike, whether
	// or not the group exists.
	for _, id := range ids {
		if _, err := parseStreamID(id); err != nil {
			return err
		}
	}
	err := r.c.XAck(ctx, r.prefix+stream, group, ids...).Err()
	if noGroup(err) {
		return nil
	}
	return redisErr(ctx, err)
}

// OutboxClaim implements Store with XAUTOCLAIM.
func (r *Redis) OutboxClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]Entry, error) {
	if count <= 0 {
		count = defaultClaimCount
	}
	v, err := claimScript.Run(ctx, r.c, []string{r.prefix + stream}, group, consumer, max(minIdle.Milliseconds(), 0), count).Result()
	if noGroup(err) || errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, redisErr(ctx, err)
	}
	rows, _ := v.([]any)
	out := make([]Entry, 0, len(rows))
	for _, row := range rows {
		e, ok := claimedEntry(row)
		if !ok {
			return nil, fmt.Errorf("store: redis: unexpected XAUTOCLAIM reply %v", row)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// claimedEntry parses one {id, {field, value, ...}, deliveries} row.
func claimedEntry(row any) (Entry, bool) {
	r, ok := row.([]any)
	if !ok || len(r) != 3 {
		return Entry{}, false
	}
	id, ok1 := r[0].(string)
	flat, ok2 := r[1].([]any)
	n, ok3 := r[2].(int64)
	if !ok1 || !ok2 || !ok3 || len(flat)%2 != 0 {
		return Entry{}, false
	}
	fields := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[k] = v
	}
	return Entry{ID: id, Fields: fields, Deliveries: n}, true
}

// OutboxPending implements Store.
func (r *Redis) OutboxPending(ctx context.Context, stream, group string) (Pending, error) {
	v, err := pendingScript.Run(ctx, r.c, []string{r.prefix + stream}, group, pendingScanLimit).Result()
	if noGroup(err) {
		return Pending{}, nil
	}
	if err != nil {
		return Pending{}, redisErr(ctx, err)
	}
	pair, _ := v.([]any)
	if len(pair) != 2 {
		return Pending{}, fmt.Errorf("store: redis: unexpected XPENDING reply %v", v)
	}
	count, _ := pair[0].(int64)
	idle, _ := pair[1].(int64)
	return Pending{Count: count, OldestIdle: time.Duration(idle) * time.Millisecond}, nil
}

// OutboxLen implements Store.
func (r *Redis) OutboxLen(ctx context.Context, stream string) (int64, error) {
	n, err := r.c.XLen(ctx, r.prefix+stream).Result()
	return n, redisErr(ctx, err)
}
