package overlay_test

import (
	"context"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
)

// On a Redis Cluster a drop's announcements go over one of the partitions
// of the state channel, and the partitions live on different masters:
// drops opened through replica A reach the overlay on replica B whichever
// master carries them, the later opening on top.
func TestTwoReplicasAcrossMasters(t *testing.T) {
	storetest.NeedCluster(t)
	raw := storetest.ClusterClient(t)
	prefix := storetest.Prefix(t)
	stA, stB := storetest.ClusterWithPrefix(t, prefix), storetest.ClusterWithPrefix(t, prefix)
	cfg := testConfig(t, "https://drops.example.com", 12)

	// Two drops whose partitions are served by different masters, as
	// the cluster itself says.
	type placed struct{ drop, channel, master string }
	var picked []placed
	for _, d := range cfg.Drops {
		ch := stA.PartitionOf(verifier.StateChannel, []byte(d.ID))
		slot, master := storetest.SlotOwner(t, raw, ch)
		if len(picked) == 0 || (len(picked) == 1 && master != picked[0].master) {
			picked = append(picked, placed{d.ID, ch, master})
			t.Logf("drop %s: partition %s, slot %d, master %s", d.ID, ch, slot, master)
		}
	}
	if len(picked) != 2 {
		t.Fatalf("the partitions of %d drops are all on master %s: the cluster has one master?", len(cfg.Drops), picked[0].master)
	}

	// What B's hub hears, heard by the test too: the openings come over
	// pub/sub, not from the hub's periodic resync.
	sub, err := stB.Subscribe(context.Background(), verifier.StateChannel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	a := startReplica(t, cfg, stA, "127.0.0.1:0")
	b := startReplica(t, testConfig(t, "https://drops.example.com", 12), stB, "127.0.0.1:0")
	ws := dialOverlay(t, b)
	if s := readState(t, ws, func(overlay.State) bool { return true }); s.Status != overlay.StatusIdle {
		t.Fatalf("first state %+v", s)
	}
	for i, p := range picked {
		if i > 0 {
			time.Sleep(5 * time.Millisecond) // a later opened_at: on top
		}
		trigger(t, a, p.drop, "evt-"+p.drop)
		select {
		case m := <-sub.C():
			if an := verifier.ParseAnnouncement(string(m.Payload)); an.Drop != p.drop || an.Kind != verifier.AnnouncedOpen {
				t.Fatalf("announcement %q on %s, want the opening of %s", m.Payload, m.Channel, p.drop)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the opening of %s was not announced over %s", p.drop, p.channel)
		}
		s := readState(t, ws, func(s overlay.State) bool { return s.Status == overlay.StatusOpen && s.Drop.ID == p.drop })
		if s.QR == nil || *s.Stock != (overlay.Stock{Left: 500, Total: 500}) {
			t.Fatalf("replica B shows %s without its QR or stock: %+v", p.drop, s)
		}
	}
	// The first frame of each is recorded in the store the replicas share
	// (in the background, after the frame went out).
	for _, p := range picked {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := stB.Get(context.Background(), overlay.FrameKey(p.drop, "m-evt-"+p.drop))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("first frame of %s not recorded: %v", p.drop, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
