package store

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// gcraEpoch is redis_rate's epoch (2017-01-01 UTC): seconds since then fit
// a float64 with microsecond precision.
const gcraEpoch = 1483228800

// allow is redis_rate's allowN with a cost of 1, step for step: the theoretical
// arrival time (tat) of the next event is kept at key, in seconds since
// gcraEpoch, and expires when the limiter is back to full burst.
func (tx *memTx) allow(key string, l Limit) (Decision, error) {
	now := float64(tx.now.Unix()-gcraEpoch) + float64(tx.now.Nanosecond()/1000)/1e6
	emission := l.Period.Seconds() / float64(l.Rate)
	burstOffset := emission * float64(l.Burst)

	tat := now
	v, ok, err := tx.get(key)
	if err != nil {
		return Decision{}, err
	}
	if ok {
		if tat, err = strconv.ParseFloat(v, 64); err != nil {
			return Decision{}, fmt.Errorf("%w: rate limiter state %q", ErrInvalid, v)
		}
	}
	tat = math.Max(tat, now)

	newTat := tat + emission
	diff := now - (newTat - burstOffset)
	remaining := diff / emission
	if remaining < 0 {
		return Decision{RetryAfter: seconds(-diff)}, nil
	}
	if reset := newTat - now; reset > 0 {
		tx.set(key, strconv.FormatFloat(newTat, 'g', 17, 64), time.Duration(math.Ceil(reset))*time.Second)
	}
	return Decision{Allowed: true, Remaining: int(remaining)}, nil
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
