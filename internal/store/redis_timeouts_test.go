package store

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fail-fast timeouts apply unless the URL or the config says otherwise.
func TestRedisTimeoutDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      RedisConfig
		read     time.Duration
		dial     time.Duration
		retries  int
		poolWait time.Duration
	}{
		{"defaults", RedisConfig{URL: "redis://127.0.0.1:6379/0"}, DefaultRedisReadTimeout, DefaultRedisDialTimeout, DefaultRedisMaxRetries, DefaultRedisPoolTimeout},
		{"URL wins", RedisConfig{URL: "redis://127.0.0.1:6379/0?read_timeout=2s&dial_timeout=3s&max_retries=4&pool_timeout=5s"}, 2 * time.Second, 3 * time.Second, 4, 5 * time.Second},
		{"config wins", RedisConfig{URL: "redis://127.0.0.1:6379/0?read_timeout=2s", ReadTimeout: time.Second, PoolTimeout: 2 * time.Second, MaxRetries: -1}, time.Second, DefaultRedisDialTimeout, 0, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRedis(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			o := r.c.(*redis.Client).Options()
			if o.ReadTimeout != tc.read || o.WriteTimeout != tc.read || o.DialTimeout != tc.dial || o.MaxRetries != tc.retries || o.PoolTimeout != tc.poolWait {
				t.Fatalf("read %v write %v dial %v retries %d pool %v", o.ReadTimeout, o.WriteTimeout, o.DialTimeout, o.MaxRetries, o.PoolTimeout)
			}
		})
	}
}

// A cluster gets the same fail-fast timeouts, its seeds from the URL or
// the seed list, and credentials and TLS from the config over the URL's.
func TestRedisClusterOptions(t *testing.T) {
	caPool := &tls.Config{ServerName: ""}
	for _, tc := range []struct {
		name      string
		cfg       RedisConfig
		addrs     []string
		user, pw  string
		tls       bool
		read      time.Duration
		redirects int
	}{
		{"seed list", RedisConfig{Cluster: []string{"127.0.0.1:7101", "127.0.0.1:7102"}},
			[]string{"127.0.0.1:7101", "127.0.0.1:7102"}, "", "", false, DefaultRedisReadTimeout, 3},
		{"URL", RedisConfig{URL: "redis+cluster://dw:s3cr%2Ft@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002?read_timeout=2s"},
			[]string{"10.0.0.1:7000", "10.0.0.2:7001", "[::1]:7002"}, "dw", "s3cr/t", false, 2 * time.Second, 3},
		{"TLS URL", RedisConfig{URL: "rediss+cluster://:pw@h1:7000/0", MaxRetries: -1},
			[]string{"h1:7000"}, "", "pw", true, DefaultRedisReadTimeout, 0},
		{"config over URL", RedisConfig{URL: "redis+cluster://u:p@h1:7000", Username: "acl", Password: "other", TLS: caPool, ReadTimeout: time.Second},
			[]string{"h1:7000"}, "acl", "other", true, time.Second, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRedis(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !r.Cluster() {
				t.Fatal("not a cluster store")
			}
			o := r.cluster.Options()
			if !slices.Equal(o.Addrs, tc.addrs) || o.Username != tc.user || o.Password != tc.pw || (o.TLSConfig != nil) != tc.tls ||
				o.ReadTimeout != tc.read || o.WriteTimeout != tc.read || o.DialTimeout != DefaultRedisDialTimeout || o.MaxRedirects != tc.redirects {
				t.Fatalf("addrs %v user %q pw %q tls %v read %v write %v dial %v redirects %d",
					o.Addrs, o.Username, o.Password, o.TLSConfig != nil, o.ReadTimeout, o.WriteTimeout, o.DialTimeout, o.MaxRedirects)
			}
			if o.TLSConfig != nil && o.TLSConfig.ServerName != "" {
				t.Fatalf("TLS ServerName %q: each node must be checked against its own host", o.TLSConfig.ServerName)
			}
		})
	}
}

func TestRedisClusterOptionsInvalid(t *testing.T) {
	for _, cfg := range []RedisConfig{
		{URL: "redis+cluster://"},
		{URL: "redis+cluster://h1"},
		{URL: "redis+cluster://h1:7000,h2"},
		{URL: "redis+cluster://h1:0"},
		{URL: "redis+cluster://h1:7000/3"},
		{URL: "redis+cluster://h1:7000?bogus=1"},
		{URL: "redis+cluster://user:hunter2@h1:7000?read_timeout=xx"},
		{Cluster: []string{"h1:7000", "nohost"}},
		{Cluster: []string{"h1:7000"}, URL: "redis+cluster://h1:7000"},
		{Cluster: []string{"h1:7000"}, PubSubPartitions: MaxPubSubPartitions + 1},
	} {
		_, err := NewRedis(cfg)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NewRedis(%+v): %v, want ErrInvalid", cfg, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}
