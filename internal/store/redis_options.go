package store

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Schemes of a Redis Cluster URL.
const (
	ClusterScheme    = "redis+cluster"
	ClusterTLSScheme = "rediss+cluster"
)

// IsClusterURL reports whether u is a redis+cluster:// or
// rediss+cluster:// URL.
func IsClusterURL(u string) bool {
	scheme, _, ok := strings.Cut(u, "://")
	return ok && (strings.EqualFold(scheme, ClusterScheme) || strings.EqualFold(scheme, ClusterTLSScheme))
}

// ParseClusterURL reads redis+cluster://[user:password@]host:port[,host:port…][/0][?options]
// (rediss+cluster:// with TLS) into go-redis's cluster options: the seed
// nodes, the credentials and the options redis.ParseClusterURL takes
// (dial_timeout, read_timeout, …). Its errors never repeat the password.
func ParseClusterURL(raw string) (*redis.ClusterOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !IsClusterURL(raw) {
		return nil, fmt.Errorf("%w: a cluster URL starts with %s:// or %s://", ErrInvalid, ClusterScheme, ClusterTLSScheme)
	}
	rest, query, _ := strings.Cut(rest, "?")
	if strings.Contains(rest, "#") {
		return nil, fmt.Errorf("%w: cluster URL has a fragment", ErrInvalid)
	}
	userinfo := ""
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo, rest = rest[:at], rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if path != "" && path != "0" {
		return nil, fmt.Errorf("%w: a Redis Cluster has database 0 only, not %q", ErrInvalid, path)
	}
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		addr, err := seedAddr(h)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	// Rebuilt as the URL go-redis reads: one host, the others as addr=.
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("%w: cluster URL options: %w", ErrInvalid, err)
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	u := "redis://"
	if userinfo != "" {
		u += userinfo + "@"
	}
	u += addrs[0]
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	opt, err := redis.ParseClusterURL(u)
	if err != nil {
		return nil, fmt.Errorf("%w: cluster URL: %s", ErrInvalid, redactErr(err, userinfo))
	}
	if strings.EqualFold(scheme, ClusterTLSScheme) {
		// No ServerName: each node is checked against its own host.
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opt, nil
}

// seedAddr checks one host:port of a seed list.
func seedAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil || host == "" {
		return "", fmt.Errorf("%w: seed node %q is not host:port", ErrInvalid, s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: seed node %q has no valid port", ErrInvalid, s)
	}
	return net.JoinHostPort(host, port), nil
}

// redactErr is err's text without the URL's user information.
func redactErr(err error, userinfo string) string {
	msg := err.Error()
	if userinfo != "" {
		msg = strings.ReplaceAll(msg, userinfo, "xxxxx")
	}
	return msg
}

// singleOptions builds the options of one Redis from cfg.
func singleOptions(cfg RedisConfig) (*redis.Options, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("%w: redis URL is empty", ErrInvalid)
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: redis URL: %w", ErrInvalid, err)
	}
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	if cfg.MinIdleConns > 0 {
		opt.MinIdleConns = cfg.MinIdleConns
	}
	if cfg.MaxRetries != 0 {
		opt.MaxRetries = cfg.MaxRetries
	}
	if cfg.DialRetries > 0 {
		opt.DialerRetries = cfg.DialRetries
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = DefaultRedisMaxRetries
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = DefaultRedisDialRetries
	}
	t := timeouts{&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MinRetryBackoff, &opt.MaxRetryBackoff}
	t.apply(cfg)
	applyAuth(cfg, &opt.Username, &opt.Password, &opt.TLSConfig)
	// The caller's context bounds every call, blocking reads included.
	opt.ContextTimeoutEnabled = true
	// RESP2: Dropwire uses no push notifications, and RESP3's check for
	// them costs work on every reply.
	opt.Protocol = 2
	return opt, nil
}

// clusterOptions builds the options of a Redis Cluster from cfg: the
// URL's seeds, or cfg.Cluster.
func clusterOptions(cfg RedisConfig) (*redis.ClusterOptions, error) {
	var opt *redis.ClusterOptions
	switch {
	case len(cfg.Cluster) > 0 && cfg.URL != "":
		return nil, fmt.Errorf("%w: a cluster's seed list and a redis URL: set one", ErrInvalid)
	case len(cfg.Cluster) > 0:
		opt = &redis.ClusterOptions{}
		for _, s := range cfg.Cluster {
			addr, err := seedAddr(s)
			if err != nil {
				return nil, err
			}
			opt.Addrs = append(opt.Addrs, addr)
		}
	default:
		var err error
		if opt, err = ParseClusterURL(cfg.URL); err != nil {
			return nil, err
		}
	}
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	if cfg.MinIdleConns > 0 {
		opt.MinIdleConns = cfg.MinIdleConns
	}
	if cfg.DialRetries > 0 {
		opt.DialerRetries = cfg.DialRetries
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = DefaultRedisDialRetries
	}
	// On a cluster a command is retried by redirecting it (MOVED, ASK, a
	// node that went away): the redirects are its retries.
	if cfg.MaxRetries != 0 {
		opt.MaxRedirects = cfg.MaxRetries
	}
	// Every command goes to the master of its slot, even with read_only
	// in the URL: a replica may not yet hold a claim the master
	// acknowledged, and the claim path reads what it just wrote. After a
	// failover the client learns the new master from the MOVED replies
	// and the errors of the dead one (it reloads the slot map), and the
	// replicated scripts reload it too (see runReplicated).
	opt.ReadOnly, opt.RouteByLatency, opt.RouteRandomly = false, false, false
	t := timeouts{&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MinRetryBackoff, &opt.MaxRetryBackoff}
	t.apply(cfg)
	applyAuth(cfg, &opt.Username, &opt.Password, &opt.TLSConfig)
	opt.ContextTimeoutEnabled = true
	opt.Protocol = 2
	return opt, nil
}

// applyAuth sets the credentials and TLS of cfg over the URL's.
func applyAuth(cfg RedisConfig, user, pass *string, tc **tls.Config) {
	if cfg.Username != "" {
		*user = cfg.Username
	}
	if cfg.Password != "" {
		*pass = cfg.Password
	}
	if cfg.TLS != nil {
		*tc = cfg.TLS.Clone()
	}
}

// timeouts points at the timeouts of go-redis's options, single or
// cluster alike.
type timeouts struct {
	dial, read, write, pool, minBackoff, maxBackoff *time.Duration
}

// apply sets what cfg sets, then fills what neither cfg nor the URL set
// with the DefaultRedis… values: see their comment.
func (t timeouts) apply(cfg RedisConfig) {
	over := func(d *time.Duration, v time.Duration) {
		if v > 0 {
			*d = v
		}
	}
	over(t.dial, cfg.DialTimeout)
	over(t.read, cfg.ReadTimeout)
	over(t.write, cfg.WriteTimeout)
	over(t.pool, cfg.PoolTimeout)
	fill := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	fill(t.dial, DefaultRedisDialTimeout)
	fill(t.read, DefaultRedisReadTimeout)
	fill(t.write, *t.read) // as go-redis: writes follow reads
	fill(t.pool, DefaultRedisPoolTimeout)
	fill(t.minBackoff, 8*time.Millisecond)
	fill(t.maxBackoff, 64*time.Millisecond)
}
