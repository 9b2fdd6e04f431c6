package store

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures a Memory store.
type MemoryConfig struct {
	// Prefix is prepended to every key and channel, as on Redis.
	Prefix string
	// Now is the clock for expiry, stream ids and rate limits; nil means
	// time.Now. Blocking reads still wait in real time.
	Now func() time.Time
	// JanitorInterval is how often expired keys are swept (default 1s).
	// Expired keys are invisible at once either way; the sweep frees them.
	JanitorInterval time.Duration
	// SubscriptionBuffer is how many messages a subscriber may lag behind
	// before further messages to it are dropped (default 256).
	SubscriptionBuffer int
}

const (
	defaultJanitorInterval    = time.Second
	defaultSubscriptionBuffer = 256
	// janitorBatch bounds how many keys one sweep step expires while
	// holding the lock, so a mass expiry does not stall every caller.
	janitorBatch = 1000
)

// Memory is the in-process Store: volatile, single-instance, with Redis's
// semantics. One mutex guards all data; scripts run under it, so they are
// atomic exactly as Lua scripts are on Redis.
//
// Slow subscribers do not block publishers: each Subscription has a bounded
// buffer and a message that does not fit is dropped and counted (see
// Dropped), as Redis disconnects a pub/sub client whose output buffer
// overflows rather than stalling.
type Memory struct {
	prefix  string
	now     func() time.Time
	bufSize int

	mu       sync.Mutex
	data     map[string]*entry
	expiries expiryHeap
	wake     map[string]chan struct{} // stream key → closed when it grows
	closed   atomic.Bool              // written under mu, read anywhere

	subMu   sync.Mutex
	subs    map[string]map[*memorySubscription]struct{} // full channel name
	dropped atomic.Uint64

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store and starts its janitor; Close stops it.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.JanitorInterval < 0 || cfg.SubscriptionBuffer < 0 {
		return nil, fmt.Errorf("%w: negative memory store setting", ErrInvalid)
	}
	if cfg.JanitorInterval == 0 {
		cfg.JanitorInterval = defaultJanitorInterval
	}
	if cfg.SubscriptionBuffer == 0 {
		cfg.SubscriptionBuffer = defaultSubscriptionBuffer
	}
	m := &Memory{
		prefix:  cfg.Prefix,
		now:     cfg.Now,
		bufSize: cfg.SubscriptionBuffer,
		data:    make(map[string]*entry),
		wake:    make(map[string]chan struct{}),
		subs:    make(map[string]map[*memorySubscription]struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go m.janitor(cfg.JanitorInterval)
	return m, nil
}

// Prefix returns the prefix the store adds to keys and channels.
func (m *Memory) Prefix() string { return m.prefix }

// Dropped returns how many pub/sub messages were dropped because a
// subscriber's buffer was full.
func (m *Memory) Dropped() uint64 { return m.dropped.Load() }

// Close stops the janitor, ends every subscription and wakes blocked
// readers. Later calls return ErrClosed; a second Close returns nil.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed.Store(true)
		for k, ch := range m.wake {
			close(ch)
			delete(m.wake, k)
		}
		m.mu.Unlock()

		close(m.stop)
		<-m.done

		m.subMu.Lock()
		for _, set := range m.subs {
			for s := range set {
				s.closeLocked()
			}
		}
		m.subs = make(map[string]map[*memorySubscription]struct{})
		m.subMu.Unlock()
	})
	return nil
}

func (m *Memory) janitor(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			for m.sweep() {
			}
		}
	}
}

// sweep expires up to janitorBatch keys and reports whether more are due.
func (m *Memory) sweep() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	for range janitorBatch {
		if len(m.expiries) == 0 || m.expiries[0].at > now {
			return false
		}
		x := heap.Pop(&m.expiries).(expiry)
		// The heap may hold stale deadlines of keys since deleted,
		// re-set or re-expired; only the key's current deadline counts.
		if e := m.data[x.key]; e != nil && e.expireAt == x.at {
			m.remove(x.key)
		}
	}
	return true
}

// lock takes the data lock for one operation; the caller unlocks.
func (m *Memory) lock(ctx context.Context) (*memTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	now := m.now()
	return &memTx{m: m, now: now, nowNs: now.UnixNano()}, nil
}

// remove deletes key; the caller holds mu.
func (m *Memory) remove(key string) {
	delete(m.data, key)
}

// Ping reports whether the store is open.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	return tx.setNX(m.prefix+key, value, ttl), nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	tx, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	tx.set(m.prefix+key, value, ttl)
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (string, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	v, ok, err := tx.get(m.prefix + key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

// Del implements Store.
func (m *Memory) Del(ctx context.Context, keys ...string) error {
	tx, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, k := range keys {
		tx.del(m.prefix + k)
	}
	return nil
}

// TTL implements Store.
func (m *Memory) TTL(ctx context.Context, key string) (time.Duration, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	d := tx.ttl(m.prefix + key)
	if d == ttlMissing {
		return 0, ErrNotFound
	}
	return d, nil
}

// IncrBy implements Store.
func (m *Memory) IncrBy(ctx context.Context, key string, n int64) (int64, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return tx.incrBy(m.prefix+key, n)
}

// HSet implements Store.
func (m *Memory) HSet(ctx context.Context, key string, fields map[string]string) error {
	if len(fields) == 0 {
		// Redis refuses an HSET without fields; both stores treat it as
		// nothing to do rather than an error callers must special-case.
		return ctx.Err()
	}
	tx, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	pairs := make([]string, 0, 2*len(fields))
	for f, v := range fields {
		pairs = append(pairs, f, v)
	}
	_, err = tx.hset(m.prefix+key, pairs)
	return err
}

// HGet implements Store.
func (m *Memory) HGet(ctx context.Context, key, field string) (string, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	v, ok, err := tx.hget(m.prefix+key, field)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

// HGetAll implements Store.
func (m *Memory) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return tx.hgetall(m.prefix + key)
}

// HIncrBy implements Store.
func (m *Memory) HIncrBy(ctx context.Context, key, field string, n int64) (int64, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return tx.hincrBy(m.prefix+key, field, n)
}

// Run executes s.Go under the store's lock with prefixed keys. Messages the
// script publishes are sent when it has returned. A script that fails
// half-way keeps the writes it made, as on Redis.
func (m *Memory) Run(ctx context.Context, s *Script, keys []string, args ...any) (any, error) {
	if s == nil || s.Go == nil {
		return nil, fmt.Errorf("%w: script without a Go body", ErrInvalid)
	}
	argv, err := scriptArgs(args)
	if err != nil {
		return nil, err
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = m.prefix + k
	}
	tx, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	res, err := tx.run(s, full, argv)
	// Sent before the lock is released, so subscribers see the messages
	// of scripts in the order the scripts ran, as on Redis. Publishing
	// never blocks (full buffers drop), so this is cheap.
	for _, p := range tx.pubs {
		m.publish(p.Channel, p.Payload)
	}
	return res, err
}

// Allow implements Store with the same GCRA script as Redis (allowScript),
// so both stores decide alike.
func (m *Memory) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	return allow(ctx, m, key, l)
}

func (l Limit) validate() error {
	if l.Rate <= 0 || l.Period <= 0 {
		return fmt.Errorf("%w: limit %d per %s", ErrInvalid, l.Rate, l.Period)
	}
	return nil
}

// expiry is one deadline in the janitor's heap.
type expiry struct {
	at  int64 // unix nanoseconds
	key string
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// track records key's deadline for the janitor; the caller holds mu.
func (m *Memory) track(key string, at int64) {
	// Stale deadlines pile up when keys are re-expired often; rebuild the
	// heap from live keys once they dominate it.
	if len(m.expiries) > 2*len(m.data)+1024 {
		h := m.expiries[:0]
		for k, e := range m.data {
			if e.expireAt != 0 {
				h = append(h, expiry{at: e.expireAt, key: k})
			}
		}
		clear(m.expiries[len(h):cap(m.expiries)])
		m.expiries = h
		heap.Init(&m.expiries)
	}
	heap.Push(&m.expiries, expiry{at: at, key: key})
}
