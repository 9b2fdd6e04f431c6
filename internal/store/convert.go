package store

import (
	"encoding"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"
)

// scriptArgs converts script args to strings the way go-redis writes them on
// the wire, so a Go body sees exactly what the Lua body sees as ARGV. Both
// stores convert up front: an arg one store rejects is rejected by both.
func scriptArgs(args []any) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		s, err := argString(a)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func argString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case int:
		return strconv.FormatInt(int64(v), 10), nil
	case int8:
		return strconv.FormatInt(int64(v), 10), nil
	case int16:
		return strconv.FormatInt(int64(v), 10), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 64), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case time.Duration:
		return strconv.FormatInt(v.Nanoseconds(), 10), nil
	case net.IP:
		return string(v), nil
	case encoding.BinaryMarshaler:
		b, err := v.MarshalBinary()
		if err != nil {
			return "", fmt.Errorf("%w: script arg %T: %w", ErrInvalid, v, err)
		}
		return string(b), nil
	default:
		return "", fmt.Errorf("%w: script arg of type %T", ErrInvalid, v)
	}
}

// maxResultDepth bounds the nesting of a script result; Redis itself refuses
// deeply nested Lua tables, and a cyclic []any must not recurse forever.
const maxResultDepth = 32

// scriptResult converts what a script returned to the types script.go
// documents (nil, int64, string, []any of those), applying Redis's Lua
// conversion rules: numbers are truncated to integers, true is 1, false is
// nil.
func scriptResult(v any) (any, error) { return convertResult(v, 0) }

func convertResult(v any, depth int) (any, error) {
	if depth > maxResultDepth {
		return nil, fmt.Errorf("%w: result nested too deeply", ErrScript)
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return v, nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case int:
		return int64(v), nil
	case int8:
		return int64(v), nil
	case int16:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case uint:
		return clampUint(uint64(v)), nil
	case uint8:
		return int64(v), nil
	case uint16:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case uint64:
		return clampUint(v), nil
	case float32:
		return floatInt(float64(v)), nil
	case float64:
		return floatInt(v), nil
	case bool:
		if v {
			return int64(1), nil
		}
		return nil, nil
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out, nil
	case []int64:
		out := make([]any, len(v))
		for i, n := range v {
			out[i] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := convertResult(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: result of type %T", ErrScript, v)
	}
}

func clampUint(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// floatInt truncates toward zero as Redis does when it turns a Lua number
// into an integer reply; NaN and out-of-range values saturate instead of
// being undefined as in C.
func floatInt(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}
