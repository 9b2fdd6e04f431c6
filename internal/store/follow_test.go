package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Follow delivers messages, resubscribes when the subscription breaks,
// retries a store that does not answer, and returns when ctx ends.
func TestFollow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan string, 10)
		var subscriptions atomic.Int32
		done := make(chan struct{})
		go func() {
			defer close(done)
			store.Follow(ctx, st, "follow", nil, func(sub store.Subscription) {
				subscriptions.Add(1)
				for {
					select {
					case <-ctx.Done():
						return
					case m, ok := <-sub.C():
						if !ok {
							return
						}
						got <- string(m.Payload)
						if string(m.Payload) == "break" {
							return // as if the connection broke
						}
					}
				}
			})
		}()
		publishUntil := func(msg string) {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for {
				if err := st.Publish(ctx, "follow", []byte(msg)); err != nil {
					t.Fatal(err)
				}
				select {
				case m := <-got:
					if m == msg {
						return
					}
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("%q never arrived", msg)
				}
			}
		}
		publishUntil("one")
		publishUntil("break")
		publishUntil("two")
		if n := subscriptions.Load(); n != 2 {
			t.Fatalf("subscribed %d times, want 2", n)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Follow did not return after ctx ended")
		}
	})

	down, err := store.NewRedis(store.RedisConfig{URL: "redis://127.0.0.1:1/0", Prefix: "follow:", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var failures atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Follow(ctx, down, "x", func(err error, _ time.Duration) {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("onError(%v)", err)
			}
			if failures.Add(1) == 2 {
				cancel()
			}
		}, func(store.Subscription) { t.Error("subscribed to a store that is down") })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not give up when ctx ended")
	}
}
