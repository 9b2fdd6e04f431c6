package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Pub/sub partitions of a Redis Cluster (pubsub_partitions).
const (
	DefaultPubSubPartitions = 16
	MaxPubSubPartitions     = 1024
)

// Waiting for Redis replicas (redis_wait_replicas, redis_wait_timeout).
// The timeout is at most half the Redis read timeout (500 ms unless the
// URL sets read_timeout), within which WAIT's reply is read.
const (
	DefaultRedisWaitTimeout = 200 * time.Millisecond
	MaxRedisWaitReplicas    = 16
)

// Schemes of redis_url.
const (
	redisScheme        = "redis"
	redisTLSScheme     = "rediss"
	unixScheme         = "unix"
	clusterScheme      = "redis+cluster"
	clusterTLSScheme   = "rediss+cluster"
	redisSchemesListed = "redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://"
)

// UsesRedis reports whether the configuration names a Redis (redis_url)
// or a Redis Cluster (redis_cluster); else the in-memory store serves.
func (c *Config) UsesRedis() bool { return c.RedisURL != "" || len(c.RedisCluster) > 0 }

// RedisIsCluster reports whether the Redis is a Redis Cluster: by
// redis_cluster, or a redis+cluster:// (rediss+cluster://) URL.
func (c *Config) RedisIsCluster() bool {
	if len(c.RedisCluster) > 0 {
		return true
	}
	scheme, _, _ := strings.Cut(c.RedisURL, "://")
	return scheme == clusterScheme || scheme == clusterTLSScheme
}

// redisTLSOn reports whether connections to Redis use TLS: a rediss URL,
// or redis_tls.
func (c *Config) redisTLSOn() bool {
	scheme, _, _ := strings.Cut(c.RedisURL, "://")
	return c.RedisTLS || scheme == redisTLSScheme || scheme == clusterTLSScheme
}

// SetRedisURL sets redis_url, which then replaces a redis_cluster of the
// file; for the command's --redis-url flag and DROPWIRE_REDIS_URL.
func (c *Config) SetRedisURL(u, origin string) {
	c.RedisURL = u
	c.RedisCluster = nil
	c.SetOrigin("redis_url", origin)
}

// RedisTLSConfig returns the TLS configuration of the connections to
// Redis: nil when TLS is off, or when it is on with the system's roots and
// no client certificate (the URL's rediss scheme then does it). Relative
// file paths start at the configuration file's directory.
func (c *Config) RedisTLSConfig() (*tls.Config, error) {
	if !c.redisTLSOn() || (!c.RedisTLS && c.RedisTLSCA == "" && c.RedisTLSCert == "") {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.RedisTLSCA != "" {
		pem, err := os.ReadFile(c.ResolvePath(c.RedisTLSCA))
		if err != nil {
			return nil, fmt.Errorf("redis_tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("redis_tls_ca: no PEM certificate in the file")
		}
	}
	if c.RedisTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.ResolvePath(c.RedisTLSCert), c.ResolvePath(c.RedisTLSKey))
		if err != nil {
			return nil, fmt.Errorf("redis_tls_cert, redis_tls_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// redis checks the settings of the store's Redis. The URL and the
// password may hold secrets: never echo them.
func (k *checker) redis() {
	c := k.c
	if c.RedisURL != "" {
		k.redisURL(c.RedisURL)
	}
	for i, s := range c.RedisCluster {
		if !validSeed(s) {
			k.add(fmt.Sprintf("redis_cluster[%d]", i), "must be host:port, e.g. \"10.0.0.5:6379\"")
		}
	}
	if c.RedisURL != "" && len(c.RedisCluster) > 0 {
		k.add("redis_cluster", "and redis_url both name a Redis: set one (a cluster may also be a redis+cluster:// URL)")
	}
	if c.PubSubPartitions < 1 || c.PubSubPartitions > MaxPubSubPartitions {
		k.add("pubsub_partitions", "must be between 1 and %d", MaxPubSubPartitions)
	}
	if c.RedisWaitReplicas < 0 || c.RedisWaitReplicas > MaxRedisWaitReplicas {
		k.add("redis_wait_replicas", "must be between 0 (no wait) and %d", MaxRedisWaitReplicas)
	}
	k.positive("redis_wait_timeout", c.RedisWaitTimeout)
	if c.RedisWaitReplicas > 0 && !c.UsesRedis() {
		k.add("redis_wait_replicas", "is set but no Redis is: add redis_url or redis_cluster")
	}
	if !c.UsesRedis() {
		for _, s := range []struct {
			path string
			set  bool
		}{
			{"redis_username", c.RedisUsername != ""}, {"redis_password", c.RedisPassword != ""}, {"redis_tls", c.RedisTLS},
			{"redis_tls_ca", c.RedisTLSCA != ""}, {"redis_tls_cert", c.RedisTLSCert != ""}, {"redis_tls_key", c.RedisTLSKey != ""},
		} {
			if s.set {
				k.add(s.path, "is set but no Redis is: add redis_url or redis_cluster")
			}
		}
		return
	}
	if c.RedisTLS && strings.HasPrefix(c.RedisURL, unixScheme+"://") {
		k.add("redis_tls", "does not apply to a unix:// socket")
	}
	if (c.RedisTLSCert == "") != (c.RedisTLSKey == "") {
		k.add("redis_tls_cert", "and redis_tls_key go together: the client certificate and its key")
	}
	for _, s := range []struct{ path, file string }{{"redis_tls_ca", c.RedisTLSCA}, {"redis_tls_cert", c.RedisTLSCert}} {
		if s.file != "" && !c.redisTLSOn() {
			k.add(s.path, "is set but TLS is off: use a rediss:// (rediss+cluster://) URL, or redis_tls: true")
		}
	}
	if c.redisTLSOn() && (c.RedisTLSCert == "") == (c.RedisTLSKey == "") {
		if _, err := c.RedisTLSConfig(); err != nil {
			path, msg, _ := strings.Cut(err.Error(), ": ")
			if strings.Contains(path, ",") {
				path = "redis_tls_cert"
			}
			k.add(path, "%s", msg)
		}
	}
}

// redisURL checks redis_url.
func (k *checker) redisURL(raw string) {
	scheme, rest, ok := strings.Cut(raw, "://")
	switch {
	case !ok:
		k.add("redis_url", "must be a %s URL", redisSchemesListed)
	case scheme == clusterScheme || scheme == clusterTLSScheme:
		// Several hosts, which net/url does not read: by hand.
		rest, _, _ = strings.Cut(rest, "?")
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			rest = rest[at+1:]
		}
		hosts, db, _ := strings.Cut(rest, "/")
		for _, h := range strings.Split(hosts, ",") {
			if !validSeed(h) {
				k.add("redis_url", "cluster nodes must be host:port[,host:port…], e.g. redis+cluster://10.0.0.5:6379,10.0.0.6:6379")
				return
			}
		}
		if db != "" && db != "0" {
			k.add("redis_url", "a Redis Cluster has database 0 only")
		}
	case scheme == redisScheme || scheme == redisTLSScheme || scheme == unixScheme:
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			k.add("redis_url", "is not a valid URL")
		case scheme != unixScheme && u.Host == "":
			k.add("redis_url", "has no host")
		}
	default:
		k.add("redis_url", "must be a %s URL", redisSchemesListed)
	}
}

// validSeed reports whether s is host:port with a real port.
func validSeed(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, "/ ,@") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}
