package admin

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// syncBuffer is a log sink tests read while the admin writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestAdmin(t *testing.T) (*Admin, *store.Redis, *syncBuffer) {
	t.Helper()
	st := storetest.Redis(t)
	cfg := &config.Config{PublicURL: "http://drops.test", AdminToken: "admin-token",
		Creators: []config.Creator{{ID: "ava", OverlayKeys: []string{"k"}}},
		Nodes:    []config.Node{{ID: "n1", URL: "http://127.0.0.1:1/", Secret: config.NewWebhookSecret()}}}
	cfg.ApplyDefaults()
	cat := verifier.NewCatalog(nil)
	v, err := verifier.New(verifier.Config{Store: st, Drops: cat, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := New(Config{Store: st, Config: cfg, Drops: cat, Verifier: v,
		Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(t.Context()) })
	return a, st, logs
}

func keysOf(t *testing.T, st store.Store, drop string) []string {
	t.Helper()
	var out []string
	if err := st.ScanPrefix(t.Context(), store.DropKey(drop), func(keys []string) error {
		out = append(out, keys...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func waitLog(t *testing.T, logs *syncBuffer, line string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), line); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", line, logs.String())
		}
	}
}

// A key of a deleted drop written late (by a replica that had not heard of
// the deletion) is swept by the second pass; a drop created again with the
// same id keeps its keys.
func TestDeleteSweepsLateKeys(t *testing.T) {
	a, st, logs := newTestAdmin(t)
	ctx := t.Context()
	spec := DropSpec{ID: "s1", Creator: "ava", Sandbox: true, Stock: []StockSpec{{Node: "n1", SKU: "x", Qty: 2}}}
	d, err := a.CreateDrop(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.HSet(ctx, store.DropKey("s1", "claim", "c1"), map[string]string{"state": "claimed"}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteDrop(ctx, d); err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(t, st, "s1"); !slices.Equal(keys, []string{store.DropKey("s1", "state")}) {
		t.Fatalf("after the deletion: %v", keys)
	}
	if _, err := st.OutboxAdd(ctx, store.DropKey("s1", "outbox"), map[string]string{"late": "1"}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, `"drop":"s1","keys":1,"message":"admin: deleted drop swept again"`)
	if keys := keysOf(t, st, "s1"); !slices.Equal(keys, []string{store.DropKey("s1", "state")}) {
		t.Fatalf("after the second sweep: %v", keys)
	}

	// Deleted, then created again at once: the second sweep leaves it be.
	spec.ID, spec.Sandbox = "r1", false
	if d, err = a.CreateDrop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteDrop(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err = a.CreateDrop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, `"drop":"r1","message":"admin: deleted drop created again`)
	if keys := keysOf(t, st, "r1"); !slices.Equal(keys, []string{store.DropKey("r1", "stock")}) {
		t.Fatalf("the drop created again: %v (the tombstone must go, the stock stay)", keys)
	}
}
