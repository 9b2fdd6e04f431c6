package store_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// KeySlot computes what the cluster computes, hash tags included.
func TestKeySlotMatchesCluster(t *testing.T) {
	raw := storetest.ClusterClient(t)
	keys := []string{"", "a", "dw:{d:spring}:state", "dw:{d:spring}:claim:x", "{d:spring}", "dw:drop-state:{p:7}",
		"dw:{}:x", "dw:{}{d:a}", "dw:{d:a", "dw:}{d:a}", "dw:{{d:a}}", "dw:rate:claims:rate:ip:10.0.0.1", "ümlaut{é}"}
	for i := range 200 {
		keys = append(keys, "k"+strconv.Itoa(i), store.DropKey("d"+strconv.Itoa(i), "state"))
	}
	for _, k := range keys {
		want, err := raw.ClusterKeySlot(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := store.KeySlot(k); int64(got) != want {
			t.Errorf("KeySlot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}

// The partitions of a channel spread over the masters, and a message goes
// to the partition of its ordering key.
func TestPartitionsSpread(t *testing.T) {
	raw := storetest.ClusterClient(t)
	st := storetest.Cluster(t)
	masters := map[string]bool{}
	for i := range st.Partitions() {
		_, m := storetest.SlotOwner(t, raw, store.PartitionChannel(st.Prefix()+"drop-state", i))
		masters[m] = true
	}
	if len(masters) < 2 {
		t.Fatalf("%d partitions all on one master", st.Partitions())
	}
	if a, b := st.PartitionOf("drop-state", []byte("spring 1 open")), st.PartitionOf("drop-state", []byte("spring 2 9")); a != b {
		t.Fatalf("two announcements of one drop on %s and %s", a, b)
	}
}

// A subscription follows its partitions when the cluster moves one to
// another master: the node drops its subscribers (SUNSUBSCRIBE), the
// subscription ends, Follow subscribes again where the slot is now and
// its consumer is told; later messages arrive.
func TestClusterSubscriptionFollowsSlotMove(t *testing.T) {
	pc := storetest.StartPrivateCluster(t, 3)
	open := func() *store.Redis {
		s, err := store.NewRedis(store.RedisConfig{Cluster: pc.Addrs(), Prefix: "mv:", PubSubPartitions: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sub, pub := open(), open()
	ctx, cancel := context.WithCancel(context.Background())
	var subscribed atomic.Int32
	got := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Follow(ctx, sub, "news", func(err error, retry time.Duration) {
			t.Logf("subscribe failed, again in %s: %v", retry, err)
		}, func(s store.Subscription) {
			subscribed.Add(1)
			for {
				select {
				case <-ctx.Done():
					return
				case m, ok := <-s.C():
					if !ok {
						return
					}
					got <- string(m.Payload)
				}
			}
		})
	}()
	defer func() { cancel(); <-done }()
	eventually(t, 10*time.Second, "subscribed", func() bool { return subscribed.Load() == 1 })
	expect := func(msg string) {
		t.Helper()
		if err := pub.Publish(ctx, "news", []byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != msg {
				t.Fatalf("got %q, want %q", m, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not received", msg)
		}
	}
	expect("d 1")

	slot := store.KeySlot(pub.PartitionOf("news", []byte("d")))
	from := pc.Owner(slot)
	to := pc.Nodes[0]
	if to == from {
		to = pc.Nodes[1]
	}
	pc.MoveSlot(slot, to)
	if pc.Owner(slot) != to {
		t.Fatalf("slot %d did not move", slot)
	}
	// Once at least: while the slot migrates, a subscription made anew may
	// land on the old owner and be dropped again when it lets the slot go.
	eventually(t, 30*time.Second, "subscribed again after the move", func() bool { return subscribed.Load() >= 2 })
	expect("d 2")
	expect(fmt.Sprintf("d %d", 3))
}
