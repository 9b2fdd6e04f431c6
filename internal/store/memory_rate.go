package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// allowScript is one GCRA decision (redis_rate's allowN with a cost of 1,
// step for step), as a store script so that on Redis it rides the same
// pipelines as the claims: a claim rush makes two decisions per attempt.
// The theoretical arrival time (tat) of the next event is kept at the key,
// in seconds since 2017-01-01 UTC (a float64 with microsecond precision),
// and expires when the limiter is back to full burst.
//
// KEYS: 1 limiter state. ARGV: 1 burst, 2 rate, 3 period in seconds.
// Returns {allowed 1|0, remaining, retry after in seconds (a string)}.
var allowScript = NewScript("allow", `
redis.replicate_commands()
local burst, rate, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local emission = period / rate
local t = redis.call('TIME')
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local newtat = tat + emission
local diff = now - (newtat - emission * burst)
local remaining = diff / emission
if remaining < 0 then return {0, 0, tostring(-diff)} end
local reset = newtat - now
if reset > 0 then redis.call('SET', KEYS[1], string.format('%.17g', newtat), 'EX', math.ceil(reset)) end
return {1, math.floor(remaining), '0'}
`, func(tx Tx, keys, argv []string) (any, error) {
	burst, _ := strconv.ParseFloat(argv[0], 64)
	rate, _ := strconv.ParseFloat(argv[1], 64)
	period, _ := strconv.ParseFloat(argv[2], 64)
	emission := period / rate
	n := tx.Now()
	now := float64(n.Unix()-gcraEpoch) + float64(n.Nanosecond()/1000)/1e6
	tat := now
	if v, ok := tx.Get(keys[0]); ok {
		var err error
		if tat, err = strconv.ParseFloat(v, 64); err != nil {
			return nil, fmt.Errorf("%w: rate limiter state %q", ErrInvalid, v)
		}
	}
	tat = math.Max(tat, now)
	newTat := tat + emission
	diff := now - (newTat - emission*burst)
	remaining := diff / emission
	if remaining < 0 {
		return []any{int64(0), int64(0), strconv.FormatFloat(-diff, 'g', -1, 64)}, nil
	}
	if reset := newTat - now; reset > 0 {
		tx.Set(keys[0], strconv.FormatFloat(newTat, 'g', 17, 64), time.Duration(math.Ceil(reset))*time.Second)
	}
	return []any{int64(1), int64(remaining), "0"}, nil
})

// gcraEpoch is redis_rate's epoch (2017-01-01 UTC).
const gcraEpoch = 1483228800

// rateKeyPrefix starts the key of a limiter's state.
const rateKeyPrefix = "rate:"

// allow runs allowScript on st for key and reads its answer.
func allow(ctx context.Context, st Store, key string, l Limit) (Decision, error) {
	if err := l.validate(); err != nil {
		return Decision{}, err
	}
	raw, err := st.Run(ctx, allowScript, []string{rateKeyPrefix + key}, l.Burst, l.Rate, l.Period.Seconds())
	if err != nil {
		return Decision{}, err
	}
	a, _ := raw.([]any)
	if len(a) != 3 {
		return Decision{}, fmt.Errorf("store: unexpected rate limiter reply %v", raw)
	}
	ok, _ := a[0].(int64)
	rem, _ := a[1].(int64)
	if ok == 1 {
		return Decision{Allowed: true, Remaining: int(rem)}, nil
	}
	s, _ := a[2].(string)
	retry, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Decision{}, fmt.Errorf("store: unexpected rate limiter reply %v", raw)
	}
	return Decision{RetryAfter: time.Duration(retry * float64(time.Second))}, nil
}
