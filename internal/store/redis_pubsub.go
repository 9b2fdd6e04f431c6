package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultHealthCheck is RedisConfig.HealthCheck's default.
const defaultHealthCheck = 30 * time.Second

// redisSubscription forwards one go-redis PubSub connection to C through
// a bounded buffer; its goroutine is stopped and waited for by Close. When
// the connection breaks, C closes: messages published until a new
// subscription stands are lost, and its follower (see Follow) subscribes
// again and re-reads what may have changed.
type redisSubscription struct {
	r       *Redis
	ps      *redis.PubSub
	ch      chan Message
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// Publish implements Store.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	return redisErr(ctx, r.c.Publish(ctx, r.prefix+channel, msg).Err())
}

// Subscribe implements Store. It returns once Redis has confirmed the
// subscription, so a message published afterwards is delivered.
func (r *Redis) Subscribe(ctx context.Context, channels ...string) (Subscription, error) {
	if len(channels) == 0 {
		return nil, fmt.Errorf("%w: subscribe to no channel", ErrInvalid)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ps := r.c.Subscribe(ctx, r.keys(channels)...)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, redisErr(ctx, err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	s := &redisSubscription{
		r:      r,
		ps:     ps,
		ch:     make(chan Message, r.bufSize),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		_ = ps.Close()
		return nil, ErrClosed
	}
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	go s.loop(loopCtx)
	return s, nil
}

func (s *redisSubscription) loop(ctx context.Context) {
	defer close(s.done)
	defer close(s.ch)
	pinged := false // a ping is out and nothing has come since
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, s.r.health)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Quiet channel: a ping must bring a pong before the
				// next wait ends, or the connection is taken for dead.
				if s.ps.Ping(ctx) == nil {
					pinged = true
					continue
				}
			}
			// Connection lost (or silent). go-redis would re-dial and
			// resubscribe on the next receive, but what was published
			// meanwhile is lost: the subscriber must hear of the gap.
			return
		}
		pinged = false
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscription confirmations and pongs
		}
		select {
		case s.ch <- Message{Channel: strings.TrimPrefix(m.Channel, s.r.prefix), Payload: []byte(m.Payload)}:
		default:
			s.dropped.Add(1)
			s.r.dropped.Add(1)
		}
	}
}

func (s *redisSubscription) C() <-chan Message { return s.ch }

// Dropped returns how many messages this subscription missed because its
// buffer was full.
func (s *redisSubscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes, waits for the forwarding goroutine and closes C; it
// is idempotent.
func (s *redisSubscription) Close() error {
	s.once.Do(func() {
		s.cancel()
		_ = s.ps.Close()
		<-s.done
		s.r.mu.Lock()
		delete(s.r.subs, s)
		s.r.mu.Unlock()
	})
	return nil
}
