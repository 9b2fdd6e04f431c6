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

// redisSubscription forwards go-redis PubSub connections to C through a
// bounded buffer: one connection on one Redis; on a cluster, one to each
// master serving partitions of the channels. Its goroutines are stopped
// and waited for by Close. When any connection breaks, or the cluster
// moves one of its partitions to another node, the whole subscription
// ends and C closes: messages published until a new subscription stands
// are lost, and its follower (see Follow) subscribes again and re-reads
// what may have changed.
type redisSubscription struct {
	r       *Redis
	pss     []*redis.PubSub
	logical map[string]string // on a cluster: partition → logical channel
	ch      chan Message
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the forwarding loops
	done    chan struct{}  // closed with ch, once every loop has returned
	endOnce sync.Once
	once    sync.Once
	dropped atomic.Uint64
}

// Publish implements Store. On a cluster the message goes by SPUBLISH to
// one partition of the channel: that of its ordering key, the message up
// to its first space (all of it when it has none). Messages with the same
// key keep their order; a subscriber hears every partition.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	if r.cluster != nil {
		return redisErr(ctx, r.cluster.SPublish(ctx, r.PartitionOf(channel, msg), msg).Err())
	}
	return redisErr(ctx, r.c.Publish(ctx, r.prefix+channel, msg).Err())
}

// Subscribe implements Store. It returns once Redis has confirmed the
// subscription (on a cluster, that of every partition), so a message
// published afterwards is delivered.
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
	s := &redisSubscription{r: r, ch: make(chan Message, r.bufSize), done: make(chan struct{})}
	var early []*redis.Message
	if r.cluster != nil {
		var err error
		if s.pss, s.logical, early, err = r.shardSubscribe(ctx, channels); err != nil {
			return nil, err
		}
	} else {
		ps := r.c.Subscribe(ctx, r.keys(channels)...)
		if _, err := ps.ReceiveTimeout(ctx, r.health); err != nil {
			_ = ps.Close()
			return nil, redisErr(ctx, err)
		}
		s.pss = []*redis.PubSub{ps}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		s.end()
		return nil, ErrClosed
	}
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	for _, m := range early {
		s.forward(m)
	}
	s.wg.Add(len(s.pss))
	for _, ps := range s.pss {
		go s.loop(loopCtx, ps)
	}
	go func() {
		s.wg.Wait()
		close(s.ch)
		close(s.done)
	}()
	return s, nil
}

// shardSubscribe subscribes to every partition of channels: one
// connection per master, one SSUBSCRIBE per partition (a cluster takes
// the channels of one slot per command). It returns the messages that
// arrived before the last confirmation.
func (r *Redis) shardSubscribe(ctx context.Context, channels []string) (pss []*redis.PubSub, logical map[string]string, early []*redis.Message, err error) {
	// A fresh map of the slots (ForEachMaster reloads it): a subscription
	// is mostly made again because slots moved or a master failed over.
	if err := r.cluster.ForEachMaster(ctx, func(context.Context, *redis.Client) error { return nil }); err != nil {
		return nil, nil, nil, redisErr(ctx, err)
	}
	logical = make(map[string]string, len(channels)*r.partitions)
	var order []string // masters, in the order first met
	groups := make(map[string][]string)
	for _, c := range channels {
		for i := range r.partitions {
			shard := PartitionChannel(r.prefix+c, i)
			if _, dup := logical[shard]; dup {
				continue
			}
			logical[shard] = c
			m, err := r.cluster.MasterForKey(ctx, shard)
			if err != nil {
				return nil, nil, nil, redisErr(ctx, err)
			}
			addr := m.Options().Addr
			if groups[addr] == nil {
				order = append(order, addr)
			}
			groups[addr] = append(groups[addr], shard)
		}
	}
	fail := func(err error) ([]*redis.PubSub, map[string]string, []*redis.Message, error) {
		for _, ps := range pss {
			_ = ps.Close()
		}
		// The slots may have moved: read the cluster's map afresh before
		// the next try.
		r.cluster.ReloadState(ctx)
		return nil, nil, nil, redisErr(ctx, err)
	}
	for _, addr := range order {
		group := groups[addr]
		// The connection goes to the master of the first channel's slot.
		ps := r.cluster.SSubscribe(ctx, group[0])
		pss = append(pss, ps)
		for _, shard := range group[1:] {
			if err := ps.SSubscribe(ctx, shard); err != nil {
				return fail(err)
			}
		}
		for want := len(group); want > 0; {
			msg, err := ps.ReceiveTimeout(ctx, r.health)
			if err != nil {
				return fail(err)
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "ssubscribe" {
					want--
				}
			case *redis.Message:
				early = append(early, m)
			}
		}
	}
	return pss, logical, early, nil
}

func (s *redisSubscription) loop(ctx context.Context, ps *redis.PubSub) {
	defer s.wg.Done()
	defer s.end()   // one connection lost is a gap for the whole subscription
	pinged := false // a ping is out and nothing has come since
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.r.health)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Quiet channel: a ping must bring a pong before the
				// next wait ends, or the connection is taken for dead.
				if ps.Ping(ctx) == nil {
					pinged = true
					continue
				}
			}
			// Connection lost (or silent). go-redis would re-dial and
			// resubscribe on the next receive, but what was published
			// meanwhile is lost: the subscriber must hear of the gap.
			if s.r.cluster != nil {
				s.r.cluster.ReloadState(ctx) // a failover, perhaps
			}
			return
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			s.forward(m)
		case *redis.Subscription:
			if m.Kind == "sunsubscribe" {
				// The cluster moved a partition's slot to another node
				// and dropped its subscribers: subscribe again there.
				s.r.cluster.ReloadState(ctx)
				return
			}
		}
		// Anything else: confirmations and pongs.
	}
}

// forward passes m to C, or drops it when C's buffer is full.
func (s *redisSubscription) forward(m *redis.Message) {
	channel, ok := s.logical[m.Channel]
	if !ok {
		channel = strings.TrimPrefix(m.Channel, s.r.prefix)
	}
	select {
	case s.ch <- Message{Channel: channel, Payload: []byte(m.Payload)}:
	default:
		s.dropped.Add(1)
		s.r.dropped.Add(1)
	}
}

func (s *redisSubscription) C() <-chan Message { return s.ch }

// Dropped returns how many messages this subscription missed because its
// buffer was full.
func (s *redisSubscription) Dropped() uint64 { return s.dropped.Load() }

// end stops every forwarding loop: their connections close, and C closes
// once they have returned.
func (s *redisSubscription) end() {
	s.endOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		for _, ps := range s.pss {
			_ = ps.Close()
		}
	})
}

// Close unsubscribes, waits for the forwarding goroutines and closes C;
// it is idempotent.
func (s *redisSubscription) Close() error {
	s.once.Do(func() {
		s.end()
		<-s.done
		s.r.mu.Lock()
		delete(s.r.subs, s)
		s.r.mu.Unlock()
	})
	return nil
}
