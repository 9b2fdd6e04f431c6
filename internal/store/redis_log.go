package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// redisLogEvery is how often one kind of go-redis message is logged while
// it repeats: a Redis that is down makes every request log a dial failure.
const redisLogEvery = 10 * time.Second

// redisLogFormats bounds how many kinds of message the limiter tracks.
const redisLogFormats = 64

// SetRedisLogger sends go-redis's own messages (dial failures, pub/sub
// reconnects) to log as structured warn lines with component "go-redis",
// instead of its plain lines on stderr. A message that repeats is logged
// once every 10 s, with the number of repeats left out in "suppressed".
// go-redis has one logger per process: call it once, from the command.
func SetRedisLogger(log zerolog.Logger) {
	redis.SetLogger(newRedisLogger(log, redisLogEvery))
}

// redisLogger is go-redis's Logging, rate-limited per format string (the
// kind of message, whatever its arguments).
type redisLogger struct {
	log   zerolog.Logger
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	kinds map[string]*redisLogKind
}

type redisLogKind struct {
	last       time.Time
	suppressed int
}

func newRedisLogger(log zerolog.Logger, every time.Duration) *redisLogger {
	return &redisLogger{log: log.With().Str("component", "go-redis").Logger(), every: every,
		now: time.Now, kinds: make(map[string]*redisLogKind)}
}

// Printf implements go-redis's internal Logging interface.
func (l *redisLogger) Printf(_ context.Context, format string, v ...any) {
	now := l.now()
	l.mu.Lock()
	k := l.kinds[format]
	if k == nil {
		if len(l.kinds) >= redisLogFormats {
			clear(l.kinds)
		}
		k = &redisLogKind{}
		l.kinds[format] = k
	} else if now.Sub(k.last) < l.every {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	l.mu.Unlock()

	ev := l.log.Warn()
	if suppressed > 0 {
		ev = ev.Int("suppressed", suppressed)
	}
	ev.Msg(fmt.Sprintf(format, v...))
}
