package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// scanAll collects what ScanPrefix passes, without repeats.
func scanAll(t *testing.T, s store.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := s.ScanPrefix(t.Context(), prefix, func(keys []string) error {
		out = append(out, keys...)
		return nil
	}); err != nil {
		t.Fatalf("ScanPrefix(%q): %v", prefix, err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestScanPrefixContract(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, k := range []string{"{d:a}:state", "{d:a}:claim:1", "{d:a}:claim:1:history", "{d:ab}:state", "{d:b}:state",
			"we*rd[1]:k", "weXrd1:k"} {
			if err := s.Set(ctx, k, "1", 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.HSet(ctx, "{d:a}:stock", map[string]string{"n:s": "3"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "{d:a}:gone", "1", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if got, want := scanAll(t, s, "{d:a}"), []string{"{d:a}:claim:1", "{d:a}:claim:1:history", "{d:a}:state", "{d:a}:stock"}; !slices.Equal(got, want) {
			t.Errorf("{d:a}: %q, want %q (no other drop, no expired key)", got, want)
		}
		// Glob characters in the prefix are literal.
		if got := scanAll(t, s, "we*rd[1]"); !slices.Equal(got, []string{"we*rd[1]:k"}) {
			t.Errorf("glob characters: %q", got)
		}
		if got := scanAll(t, s, "{d:none}"); len(got) != 0 {
			t.Errorf("no such prefix: %q", got)
		}
	})
}

func TestScanPrefixManyKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		const n = 2500 // more than one SCAN step
		want := make([]string, 0, n)
		for i := range n {
			k := fmt.Sprintf("{d:big}:claim:%05d", i)
			want = append(want, k)
			if err := s.Set(ctx, k, "1", 0); err != nil {
				t.Fatal(err)
			}
		}
		if got := scanAll(t, s, "{d:big}"); !slices.Equal(got, want) {
			t.Fatalf("got %d keys, want %d", len(got), n)
		}
		// fn's error stops the walk and comes back as it is.
		stop := errors.New("stop")
		calls := 0
		err := s.ScanPrefix(ctx, "{d:big}", func([]string) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("fn error: %v after %d calls", err, calls)
		}
		// Deleting what was passed, while scanning, is how callers use it.
		if err := s.ScanPrefix(ctx, "{d:big}", func(keys []string) error { return s.Del(ctx, keys...) }); err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, s, "{d:big}"); len(got) != 0 {
			t.Fatalf("%d keys left after deleting while scanning", len(got))
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.ScanPrefix(cctx, "{d:big}", func([]string) error { return nil }); err == nil {
			t.Fatal("a cancelled context scanned")
		}
	})
}
