package store

import (
	"testing"
	"time"
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
			o := r.c.Options()
			if o.ReadTimeout != tc.read || o.WriteTimeout != tc.read || o.DialTimeout != tc.dial || o.MaxRetries != tc.retries || o.PoolTimeout != tc.poolWait {
				t.Fatalf("read %v write %v dial %v retries %d pool %v", o.ReadTimeout, o.WriteTimeout, o.DialTimeout, o.MaxRetries, o.PoolTimeout)
			}
		})
	}
}
