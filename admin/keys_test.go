package admin

import (
	"slices"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

func TestKeyRingGrace(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := &config.Config{PublicURL: "http://x", Creators: []config.Creator{{ID: "ava", OverlayKeys: []string{"k0", "k0b"}}}}
	kr := NewKeyRing(KeyRingConfig{Store: storetest.Redis(t), Config: cfg, Grace: time.Minute, Now: func() time.Time { return now }})
	keys, ok := kr.Keys("ava")
	if !ok || !slices.Equal(keys, []string{"k0", "k0b"}) {
		t.Fatalf("before rotation: %v %v", keys, ok)
	}
	if _, ok := kr.Keys("nobody"); ok {
		t.Fatal("unknown creator has keys")
	}
	r1, err := kr.Rotate(t.Context(), "ava")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	r2, err := kr.Rotate(t.Context(), "ava")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = kr.Keys("ava")
	for _, k := range []string{r2.Key, r1.Key, "k0", "k0b"} {
		if !slices.Contains(keys, k) {
			t.Fatalf("within grace, %q missing from %v", k, keys)
		}
	}
	now = now.Add(45 * time.Second) // the config keys' grace is over, r1's is not
	keys, _ = kr.Keys("ava")
	if !slices.Equal(keys, []string{r2.Key, r1.Key}) {
		t.Fatalf("after the first grace: %v", keys)
	}
	now = now.Add(time.Minute)
	if keys, _ = kr.Keys("ava"); !slices.Equal(keys, []string{r2.Key}) {
		t.Fatalf("after every grace: %v", keys)
	}
	if cur, _ := kr.Current(t.Context(), "ava"); cur != r2.Key {
		t.Fatalf("current %q, want %q", cur, r2.Key)
	}
}
