package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of a Redis store, unless the URL's query (read_timeout=2s, …)
// or RedisConfig sets them. They are sized so that a call whose Redis died
// or vanished from the network fails within about a second, as
// ErrUnavailable (a request's 503 store_unavailable), instead of the several seconds go-redis's defaults
// take (a 5 s read timeout, tried on up to four frozen connections in
// turn): one read or dial of half a second, one retry on another
// connection (which rides out a connection Redis closed, as on a restart),
// and no dial retries. Half a second is hundreds of times a healthy
// round trip, pipelines of scripts included. Blocking reads (the outbox's
// XREADGROUP BLOCK) and subscriptions wait by their own timeouts, not
// these.
const (
	DefaultRedisDialTimeout = 500 * time.Millisecond
	DefaultRedisReadTimeout = 500 * time.Millisecond // writes too, unless set
	DefaultRedisPoolTimeout = time.Second
	DefaultRedisMaxRetries  = 1
	DefaultRedisDialRetries = 1
	// DefaultRedisWaitTimeout is how long a Replicated script waits for
	// its replicas (RedisConfig.WaitTimeout): a replica in sync answers
	// within a round trip; one that needs longer is failing.
	DefaultRedisWaitTimeout = 200 * time.Millisecond
)

// RedisConfig configures a Redis store: one Redis, or a Redis Cluster.
// Zero settings keep what the URL says, else the DefaultRedis… values,
// else go-redis's defaults.
type RedisConfig struct {
	// URL is a redis://, rediss:// or unix:// URL of one Redis, as
	// redis.ParseURL reads it; or a redis+cluster:// (rediss+cluster://
	// with TLS) URL of a Redis Cluster listing seed nodes,
	// redis+cluster://[user:password@]host:port[,host:port…][?options],
	// options as redis.ParseClusterURL reads them.
	URL string
	// Cluster lists seed nodes (host:port) of a Redis Cluster, for a
	// cluster without a URL. The store learns the other nodes from them.
	Cluster []string
	// Prefix is prepended to every key and channel.
	Prefix string

	// Username and Password authenticate every connection (AUTH; a
	// password alone is the default user's). Set, they replace the URL's.
	Username string
	Password string
	// TLS, when set, is the TLS configuration of every connection, with
	// any URL (rediss:// alone turns TLS on with the system's roots). Its
	// ServerName may be empty: each node is then checked against the
	// host it is dialled at.
	TLS *tls.Config

	// PubSubPartitions is how many shard channels carry each channel on a
	// cluster (default 16); see Publish. Every replica must use the same
	// number. Ignored on one Redis.
	PubSubPartitions int

	PoolSize     int
	MinIdleConns int
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolTimeout is how long a command waits for a free connection.
	PoolTimeout time.Duration
	// MaxRetries is how often a failed command is retried (on a cluster:
	// redirected, or retried on another node); -1 disables retries
	// (go-redis's convention), 0 keeps the default.
	MaxRetries int
	// DialRetries is how many dials one connection attempt makes (0: the
	// go-redis default).
	DialRetries int

	// SubscriptionBuffer is how many messages a subscriber may lag behind
	// before further messages to it are dropped (default 256).
	SubscriptionBuffer int
	// HealthCheck is how long a subscription waits for a message before
	// it pings Redis, and then for the pong before it takes the
	// connection for dead and ends (default 30 s).
	HealthCheck time.Duration

	// OnRun, when set, is told of each script run before it goes out:
	// the script and its full keys (prefix included). For tests and
	// tracing; it must be quick and safe for concurrent use.
	OnRun func(s *Script, keys []string)

	// WaitReplicas, when above zero, is how many replicas must hold the
	// writes of a Replicated script before Run returns its reply: after
	// the script, on the same connection to the master that ran it, the
	// store sends WAIT WaitReplicas WaitTimeout. A master with fewer
	// replicas in sync answers every such script with ErrNotReplicated.
	WaitReplicas int
	// WaitTimeout bounds that WAIT (default DefaultRedisWaitTimeout). It
	// must be under half the read timeout: the WAIT's reply is read
	// within it.
	WaitTimeout time.Duration

	// Pipelines is how many pipelines of concurrent script runs may be in
	// flight at once (default 1); -1 sends every script on its own. One is
	// the fastest under load: the scripts that arrive while a pipeline is
	// out all go in the next one, so a round trip carries more of them, and
	// Redis runs scripts one at a time anyway.
	Pipelines int
}

// DefaultPubSubPartitions is RedisConfig.PubSubPartitions' default.
const DefaultPubSubPartitions = 16

// MaxPubSubPartitions bounds RedisConfig.PubSubPartitions: every
// subscription holds each partition of its channels.
const MaxPubSubPartitions = 1024

// Redis is the production Store, on one Redis or a Redis Cluster. Keys
// and channels carry the configured prefix. Rate limiter state lives at
// prefix + "rate:" + key.
//
// Slow subscribers do not block the connection reading from Redis: each
// Subscription has a bounded buffer, and a message that does not fit is
// dropped and counted (see Dropped).
type Redis struct {
	c          redis.UniversalClient
	cluster    *redis.ClusterClient // nil on one Redis
	single     *redis.Client        // nil on a cluster
	partitions int                  // shard channels per channel on a cluster
	batch      *batcher             // nil: scripts are sent one by one
	prefix     string
	bufSize    int
	health     time.Duration // see RedisConfig.HealthCheck
	dropped    atomic.Uint64
	unsent     atomic.Uint64 // announcements of scripts that could not be sent
	onRun      func(s *Script, keys []string)
	waitN      int           // RedisConfig.WaitReplicas
	waitFor    time.Duration // RedisConfig.WaitTimeout

	mu     sync.Mutex
	closed bool
	subs   map[*redisSubscription]struct{}
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store. It does not connect: call Ping to check
// that Redis answers.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.PoolSize < 0 || cfg.MinIdleConns < 0 || cfg.SubscriptionBuffer < 0 || cfg.DialRetries < 0 || cfg.MaxRetries < -1 ||
		cfg.DialTimeout < 0 || cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 || cfg.PoolTimeout < 0 || cfg.HealthCheck < 0 ||
		cfg.PubSubPartitions < 0 || cfg.WaitReplicas < 0 || cfg.WaitTimeout < 0 {
		return nil, fmt.Errorf("%w: negative redis setting", ErrInvalid)
	}
	if cfg.PubSubPartitions > MaxPubSubPartitions {
		return nil, fmt.Errorf("%w: %d pub/sub partitions, at most %d", ErrInvalid, cfg.PubSubPartitions, MaxPubSubPartitions)
	}
	if cfg.SubscriptionBuffer == 0 {
		cfg.SubscriptionBuffer = defaultSubscriptionBuffer
	}
	if cfg.HealthCheck == 0 {
		cfg.HealthCheck = defaultHealthCheck
	}
	if cfg.PubSubPartitions == 0 {
		cfg.PubSubPartitions = DefaultPubSubPartitions
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = DefaultRedisWaitTimeout
	}
	r := &Redis{
		waitN:      cfg.WaitReplicas,
		waitFor:    cfg.WaitTimeout,
		prefix:     cfg.Prefix,
		partitions: cfg.PubSubPartitions,
		bufSize:    cfg.SubscriptionBuffer,
		health:     cfg.HealthCheck,
		onRun:      cfg.OnRun,
		subs:       make(map[*redisSubscription]struct{}),
	}
	if len(cfg.Cluster) > 0 || IsClusterURL(cfg.URL) {
		opt, err := clusterOptions(cfg)
		if err != nil {
			return nil, err
		}
		if err := r.checkWait(opt.ReadTimeout); err != nil {
			return nil, err
		}
		r.cluster = redis.NewClusterClient(opt)
		r.c = r.cluster
	} else {
		opt, err := singleOptions(cfg)
		if err != nil {
			return nil, err
		}
		if err := r.checkWait(opt.ReadTimeout); err != nil {
			return nil, err
		}
		r.single = redis.NewClient(opt)
		r.c = r.single
	}
	switch {
	case cfg.Pipelines == 0:
		r.batch = newBatcher(r.c, 1)
	case cfg.Pipelines > 0:
		r.batch = newBatcher(r.c, cfg.Pipelines)
	}
	if r.batch != nil && r.waitN > 0 {
		r.batch.replicated = r.runReplicated
	}
	return r, nil
}

// Cluster reports whether the store runs on a Redis Cluster.
func (r *Redis) Cluster() bool { return r.cluster != nil }

// Prefix returns the prefix the store adds to keys and channels.
func (r *Redis) Prefix() string { return r.prefix }

// Dropped returns how many pub/sub messages were dropped because a
// subscriber's buffer was full.
func (r *Redis) Dropped() uint64 { return r.dropped.Load() }

// Close ends every subscription and closes the client. A second Close
// returns nil.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	subs := make([]*redisSubscription, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	r.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
	if r.batch != nil {
		r.batch.close()
	}
	return r.c.Close()
}

// redisErr maps a go-redis error to the store's errors: redis.Nil to
// ErrNotFound, transport failures to ErrUnavailable, a closed client to
// ErrClosed, and the reply errors callers handle to their sentinels.
func redisErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	// A deadline or cancellation of the caller is theirs, not an outage,
	// even when go-redis reports it as an i/o timeout.
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// go-redis puts the context's deadline on the socket, and the socket
	// can time out a moment before the context reports it.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
	}
	if errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		switch {
		case strings.HasPrefix(msg, "WRONGTYPE"):
			return fmt.Errorf("%w: %s", ErrWrongType, msg)
		case strings.Contains(msg, "not an integer"), strings.Contains(msg, "would overflow"):
			return fmt.Errorf("%w: %s", ErrNotInteger, msg)
		case strings.Contains(msg, "Invalid stream ID"):
			return fmt.Errorf("%w: %s", ErrInvalid, msg)
		case strings.HasPrefix(msg, "CROSSSLOT"):
			return fmt.Errorf("%w: %s", ErrCrossSlot, msg)
		case unavailableReply(msg):
			return fmt.Errorf("%w: %s", ErrUnavailable, msg)
		}
		return fmt.Errorf("store: redis: %w", err)
	}
	if transportErr(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("store: redis: %w", err)
}

// unavailableReply reports replies of a server that cannot serve now but
// may later: loading, busy with a script, failing over, out of clients.
func unavailableReply(msg string) bool {
	// MOVED and ASK reach the caller only when a cluster kept redirecting
	// past the redirects allowed: its slots are moving or failing over.
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "MOVED ", "ASK ",
		"ERR max number of clients"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func transportErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// redisTTL turns a Store ttl into what go-redis wants: 0 for none (go-redis
// reads -1 as KEEPTTL) and at least 1ms, the smallest Redis accepts.
func redisTTL(ttl time.Duration) time.Duration {
	switch {
	case ttl <= 0:
		return 0
	case ttl < time.Millisecond:
		return time.Millisecond
	}
	return ttl
}

// Ping implements Store. On a cluster every master must answer: a
// master that does not leaves its slots unserved.
func (r *Redis) Ping(ctx context.Context) error {
	if r.cluster != nil {
		return redisErr(ctx, r.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		}))
	}
	return redisErr(ctx, r.c.Ping(ctx).Err())
}

// SetNX implements Store.
func (r *Redis) SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, r.prefix+key, value, redisTTL(ttl)).Result()
	return ok, redisErr(ctx, err)
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	return redisErr(ctx, r.c.Set(ctx, r.prefix+key, value, redisTTL(ttl)).Err())
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) (string, error) {
	v, err := r.c.Get(ctx, r.prefix+key).Result()
	return v, redisErr(ctx, err)
}

// Del implements Store. On a cluster, keys of several slots are deleted
// slot by slot, in one pipeline.
func (r *Redis) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if r.cluster != nil {
		return r.delBySlot(ctx, r.keys(keys))
	}
	return redisErr(ctx, r.c.Del(ctx, r.keys(keys)...).Err())
}

func (r *Redis) keys(keys []string) []string {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	return full
}

// TTL implements Store.
func (r *Redis) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.c.PTTL(ctx, r.prefix+key).Result()
	if err != nil {
		return 0, redisErr(ctx, err)
	}
	if d == ttlMissing {
		return 0, ErrNotFound
	}
	return d, nil
}

// IncrBy implements Store.
func (r *Redis) IncrBy(ctx context.Context, key string, n int64) (int64, error) {
	v, err := r.c.IncrBy(ctx, r.prefix+key, n).Result()
	return v, redisErr(ctx, err)
}

// HSet implements Store. No fields is nothing to do (HSET would refuse it).
func (r *Redis) HSet(ctx context.Context, key string, fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	pairs := make([]any, 0, 2*len(fields))
	for f, v := range fields {
		pairs = append(pairs, f, v)
	}
	return redisErr(ctx, r.c.HSet(ctx, r.prefix+key, pairs...).Err())
}

// HGet implements Store.
func (r *Redis) HGet(ctx context.Context, key, field string) (string, error) {
	v, err := r.c.HGet(ctx, r.prefix+key, field).Result()
	return v, redisErr(ctx, err)
}

// HGetAll implements Store.
func (r *Redis) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	v, err := r.c.HGetAll(ctx, r.prefix+key).Result()
	if err != nil {
		return nil, redisErr(ctx, err)
	}
	return v, nil
}

// HIncrBy implements Store.
func (r *Redis) HIncrBy(ctx context.Context, key, field string, n int64) (int64, error) {
	v, err := r.c.HIncrBy(ctx, r.prefix+key, field, n).Result()
	return v, redisErr(ctx, err)
}

// Run implements Store with EVALSHA, falling back to EVAL when Redis does
// not have the script cached yet. On a cluster it then sends what the
// script announced (see Script).
func (r *Redis) Run(ctx context.Context, s *Script, keys []string, args ...any) (any, error) {
	if s == nil || s.Lua == "" {
		return nil, fmt.Errorf("%w: script without a Lua body", ErrInvalid)
	}
	wire, err := wireArgs(args)
	if err != nil {
		return nil, err
	}
	full := r.keys(keys)
	if r.onRun != nil {
		r.onRun(s, full)
	}
	body := s.body(r.cluster != nil)
	var v any
	replicated := s.replicated && r.waitN > 0
	switch {
	case r.batch != nil:
		v, err = r.batch.run(ctx, body.sha, body.lua, full, wire, replicated)
	case replicated:
		c := &batchCall{ctx: ctx, sha: body.sha, lua: body.lua, keys: full, args: wire, replicated: true}
		r.runReplicated(ctx, []*batchCall{c})
		v, err = c.val, c.err
	default:
		v, err = r.c.EvalSha(ctx, body.sha, full, wire...).Result()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			v, err = r.c.Eval(ctx, body.lua, full, wire...).Result()
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil // the script returned nil or false
	}
	if err != nil {
		return nil, scriptErr(ctx, s.Name, err)
	}
	if r.cluster != nil {
		if v, err = r.sendAnnounced(ctx, s.Name, v); err != nil {
			return nil, err
		}
	}
	return scriptResult(v)
}

// wireArgs returns args as the client sends them: strings and integers go
// out as they are (the client formats integers into its buffer), anything
// else is converted the way the memory store converts it, so both stores
// see the same ARGV. args is not modified.
func wireArgs(args []any) ([]any, error) {
	var wire []any
	for i, a := range args {
		switch a.(type) {
		case string, int, int64:
			if wire != nil {
				wire[i] = a
			}
			continue
		}
		s, err := argString(a)
		if err != nil {
			return nil, err
		}
		if wire == nil {
			wire = make([]any, len(args))
			copy(wire, args[:i])
		}
		wire[i] = s
	}
	if wire == nil {
		return args, nil
	}
	return wire, nil
}

// scriptErr tells a script's error reply (a domain outcome, *ScriptError)
// from a script that failed: Redis tags runtime errors, including a failed
// redis.call, with the script's location.
func scriptErr(ctx context.Context, name string, err error) error {
	var rerr redis.Error
	if !errors.As(err, &rerr) || ctx.Err() != nil {
		return redisErr(ctx, err)
	}
	msg := rerr.Error()
	if strings.Contains(msg, "@user_script") || strings.Contains(msg, "Error running script") {
		return fmt.Errorf("%w: %s: %w", ErrScript, name, redisErr(ctx, err))
	}
	if unavailableReply(msg) || strings.HasPrefix(msg, "CROSSSLOT") {
		return redisErr(ctx, err)
	}
	// Redis 7 puts "ERR " before a code given to redis.error_reply.
	return &ScriptError{Code: strings.TrimPrefix(msg, "ERR ")}
}

// Allow implements Store with allowScript (GCRA) on the pipelines.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	return allow(ctx, r, key, l)
}
