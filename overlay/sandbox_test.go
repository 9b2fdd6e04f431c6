package overlay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// A sandbox (test) drop that opens while a real drop is open never takes
// the real drop's place on stream: the overlay keeps the real QR.
func TestHubSandboxNeverHidesRealDrop(t *testing.T) {
	leakCheck(t)
	sandbox := testDrop("real-test-1")
	sandbox.Sandbox = true
	e := newEnv(t, storetest.Redis(t), nil, testDrop("real"), sandbox)
	c := e.dial(t)
	c.next()
	e.trigger(t, "real", "e1")
	open := c.until(func(s State) bool { return s.Status == StatusOpen })
	if open.Drop.ID != "real" || open.QR == nil {
		t.Fatalf("real drop: %+v", open)
	}
	time.Sleep(5 * time.Millisecond) // opened_at has millisecond resolution
	e.trigger(t, "real-test-1", "e2")
	// A change of the real drop after the test opened: its frame comes
	// after whatever the opening caused, and no frame shows the test.
	ctx := context.Background()
	if err := e.st.HSet(ctx, store.DropKey("real", "stock"), map[string]string{"n1:s": "3", "n2:s": "4"}); err != nil {
		t.Fatal(err)
	}
	_ = e.st.Publish(ctx, verifier.StateChannel, []byte("real 2"))
	s := c.until(func(s State) bool {
		if s.Drop != nil && s.Drop.ID != "real" {
			t.Fatalf("the sandbox drop replaced the real one on stream: %+v", s)
		}
		return s.Stock != nil && s.Stock.Left == 7
	})
	if s.Status != StatusOpen || s.QR == nil {
		t.Fatalf("no QR shown: %+v", s)
	}
	url := qrText(t, s.QR)
	_, code, _ := strings.Cut(url, "/c/")
	if drop, _, err := e.codes.Resolve(ctx, code, time.Now()); err != nil || drop != "real" {
		t.Fatalf("the QR shown (%s) is not the real drop's: %q %v", url, drop, err)
	}
	// Once the real drop closes (and its closing card has been shown), the
	// test may show.
	e.close(t, "real", "e3")
	c.until(func(s State) bool { return s.Drop != nil && s.Drop.ID == "real-test-1" && s.Status == StatusOpen })
}

// A drop deleted while on screen leaves it: the overlay goes back to what
// else there is to show (here nothing).
func TestHubForgetsDeletedDrop(t *testing.T) {
	leakCheck(t)
	sandbox := testDrop("t1")
	sandbox.Sandbox = true
	e := newEnv(t, storetest.Redis(t), nil, sandbox)
	c := e.dial(t)
	c.next()
	e.trigger(t, "t1", "e1")
	c.until(func(s State) bool { return s.Status == StatusOpen })
	e.cat.Delete("t1")
	_ = e.st.Publish(context.Background(), verifier.StateChannel, []byte("t1 9"))
	if s := c.until(func(s State) bool { return s.Status != StatusOpen }); s.Status != StatusIdle || s.Drop != nil {
		t.Fatalf("after deletion: %+v", s)
	}
}
