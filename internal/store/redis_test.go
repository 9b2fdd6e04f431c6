package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

func TestRedisUnavailable(t *testing.T) {
	// Port 1 is never Redis: the dial is refused at once.
	s, err := store.NewRedis(store.RedisConfig{
		URL: "redis://127.0.0.1:1/0", DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ctx := context.Background()
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping: %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get: %v, want ErrUnavailable", err)
	}
	if _, err := s.Subscribe(ctx, "c"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Subscribe: %v, want ErrUnavailable", err)
	}
}

func TestNewRedisInvalid(t *testing.T) {
	for _, url := range []string{"", "http://x", "redis://127.0.0.1:6379/notadb"} {
		if _, err := store.NewRedis(store.RedisConfig{URL: url}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("NewRedis(%q): %v, want ErrInvalid", url, err)
		}
	}
}

// TestRedisScriptFallback checks the EVAL fallback when Redis does not
// have the script cached (first use, a restart, a failover). The Lua body
// is unique to this run, so it cannot be cached yet, and no test has to
// flush the script cache other tests share.
func TestRedisScriptFallback(t *testing.T) {
	s := storetest.Redis(t)
	raw := storetest.Client(t)
	ctx := context.Background()
	sc := store.NewScript("fallback", "-- "+s.Prefix()+"\nreturn ARGV[1]",
		func(_ store.Tx, _, args []string) (any, error) { return args[0], nil })
	if ok, err := raw.ScriptExists(ctx, sc.Hash()).Result(); err != nil || ok[0] {
		t.Fatalf("script cached before first use: %v, %v", ok, err)
	}
	for _, arg := range []string{"one", "two"} {
		if v, err := s.Run(ctx, sc, nil, arg); err != nil || v != arg {
			t.Fatalf("run = %v, %v; want %s", v, err, arg)
		}
	}
	if ok, err := raw.ScriptExists(ctx, sc.Hash()).Result(); err != nil || !ok[0] {
		t.Fatalf("script not cached after EVAL: %v, %v", ok, err)
	}
}

func TestRedisDomainErrorCodes(t *testing.T) {
	s := storetest.Redis(t)
	ctx := context.Background()
	for _, lua := range []string{`return redis.error_reply('sold_out')`, `return {err = 'sold_out'}`} {
		sc := store.NewScript("code", lua, nil)
		_, err := s.Run(ctx, sc, nil)
		var se *store.ScriptError
		if !errors.As(err, &se) || se.Code != "sold_out" {
			t.Errorf("%s: %v, want ScriptError sold_out", lua, err)
		}
	}
	sc := store.NewScript("runtime", `return error('boom')`, nil)
	_, err := s.Run(ctx, sc, nil)
	var se *store.ScriptError
	if !errors.Is(err, store.ErrScript) || errors.As(err, &se) {
		t.Errorf("Lua runtime error: %v, want ErrScript and no ScriptError", err)
	}
}

// Concurrent script runs share pipelines and each gets its own answer; a
// store closed under load answers ErrClosed instead of hanging.
func TestRedisPipelinedRuns(t *testing.T) {
	r := storetest.Redis(t)
	echo := store.NewScript("echo-incr", `redis.call('INCR', KEYS[1]); return ARGV[1]`,
		func(tx store.Tx, keys, args []string) (any, error) { tx.IncrBy(keys[0], 1); return args[0], nil })
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("%d-%d", g, i)
				got, err := r.Run(ctx, echo, []string{"n"}, want)
				if err != nil || got != want {
					t.Errorf("Run = %v, %v; want %s", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := r.IncrBy(ctx, "n", 0); err != nil || n != 64*50 {
		t.Fatalf("scripts ran %d times, want %d (%v)", n, 64*50, err)
	}

	other := storetest.RedisWithPrefix(t, r.Prefix())
	done := make(chan error, 32)
	for range 32 {
		go func() {
			var err error
			for err == nil {
				_, err = other.Run(ctx, echo, []string{"m"}, "x")
			}
			done <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	_ = other.Close()
	for range 32 {
		select {
		case err := <-done:
			if !errors.Is(err, store.ErrClosed) {
				t.Errorf("Run on a closed store: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run hangs after Close")
		}
	}
}

// A subscription whose connection breaks ends (its channel closes), so
// that Follow subscribes again and the follower re-reads what it missed:
// a message published in the gap is lost, and only a resync finds out.
func TestRedisSubscriptionEndsWhenConnectionBreaks(t *testing.T) {
	pub := storetest.Redis(t) // straight to Redis
	proxy := storetest.NewProxy(t)
	st := proxy.Redis(t, pub.Prefix())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var subscriptions atomic.Int32
	got := make(chan string, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Follow(ctx, st, "news", nil, func(sub store.Subscription) {
			subscriptions.Add(1)
			got <- "(subscribed)"
			for {
				select {
				case <-ctx.Done():
					return
				case m, ok := <-sub.C():
					if !ok {
						got <- "(ended)"
						return
					}
					got <- string(m.Payload)
				}
			}
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	expect("(subscribed)")
	if err := pub.Publish(ctx, "news", []byte("one")); err != nil {
		t.Fatal(err)
	}
	expect("one")
	proxy.Sever()
	expect("(ended)")
	expect("(subscribed)")
	if err := pub.Publish(ctx, "news", []byte("two")); err != nil {
		t.Fatal(err)
	}
	expect("two")
	if n := subscriptions.Load(); n != 2 {
		t.Fatalf("subscribed %d times, want 2", n)
	}
	cancel()
	<-done
}

// A subscription whose connection goes silent (no close, no error: the
// peer vanished) ends after an unanswered ping; one whose channel is only
// quiet is kept, its pings answered.
func TestRedisSubscriptionEndsWhenConnectionGoesSilent(t *testing.T) {
	pub := storetest.Redis(t)
	proxy := storetest.NewProxy(t)
	st, err := store.NewRedis(store.RedisConfig{URL: proxy.URL(), Prefix: pub.Prefix(), HealthCheck: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	sub, err := st.Subscribe(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	time.Sleep(2 * time.Second) // four quiet periods, each pinged
	if err := pub.Publish(ctx, "news", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	select {
	case m, ok := <-sub.C():
		if !ok || string(m.Payload) != "still here" {
			t.Fatalf("a quiet subscription: %q, open %v", m.Payload, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a quiet subscription missed a message")
	}

	proxy.Freeze()
	select {
	case _, ok := <-sub.C():
		if ok {
			t.Fatal("a message through a frozen connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription outlived its silent connection")
	}
}
