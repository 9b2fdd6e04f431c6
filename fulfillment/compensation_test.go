package fulfillment

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// The pool takes a code once, ever: an upload repeated adds nothing, and a
// code handed out is not taken back by a later upload that holds it.
func TestAddCodesNeverTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, config.Compensation{Kind: "code"}, testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t)))
		s := f.service()
		ctx := context.Background()
		add := func(codes ...string) (int, int64) {
			t.Helper()
			added, left, err := s.AddCodes(ctx, f.drop, codes)
			if err != nil {
				t.Fatal(err)
			}
			return added, left
		}
		if added, left := add("A", "B"); added != 2 || left != 2 {
			t.Fatalf("first upload: added %d, left %d", added, left)
		}
		if added, left := add("A", "B"); added != 0 || left != 2 {
			t.Fatalf("same upload again: added %d, left %d", added, left)
		}
		id := f.claim("shop")
		o, err := s.Apply(ctx, Transition{Drop: f.drop, Claim: id, To: verifier.ClaimForwardFailed})
		if err != nil || o.CompensationCode != "A" {
			t.Fatalf("compensation: %+v %v", o, err)
		}
		if added, left := add("A", "C"); added != 1 || left != 2 {
			t.Fatalf("upload with a code handed out: added %d, left %d", added, left)
		}
		if added, left := add(); added != 0 || left != 2 {
			t.Fatalf("empty upload: added %d, left %d", added, left)
		}
	})
}

// A codes_file is loaded once, ever; uploading its codes afterwards adds
// nothing. A pool filled before the pool remembered its codes (a store
// written by an older version) is not doubled by an upload either.
func TestLoadPoolOnceThenUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, config.Compensation{Kind: "code"}, testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t)))
		s := f.service()
		ctx := context.Background()
		file := codesFile(t, 3)
		if n, err := s.LoadPool(ctx, f.drop, file); err != nil || n != 3 {
			t.Fatalf("load: %d %v", n, err)
		}
		if n, err := s.LoadPool(ctx, f.drop, file); err != nil || n != 0 {
			t.Fatalf("load again: %d %v", n, err)
		}
		if added, left, err := s.AddCodes(ctx, f.drop, []string{"CODE-0001", "CODE-0003"}); err != nil || added != 0 || left != 3 {
			t.Fatalf("upload of the file's codes: %d %d %v", added, left, err)
		}

		legacy := "legacy-drop"
		if _, err := st.Run(ctx, rpushScript, []string{poolKey(legacy)}, "OLD-1", "OLD-2"); err != nil {
			t.Fatal(err)
		}
		if added, left, err := s.AddCodes(ctx, legacy, []string{"OLD-1", "OLD-2", "NEW-1"}); err != nil || added != 1 || left != 3 {
			t.Fatalf("upload to a legacy pool: %d %d %v", added, left, err)
		}
	})
}

// A file that cannot be read or holds no codes loads nothing and is
// tried again (no loaded mark).
func TestLoadPoolBadFile(t *testing.T) {
	st := storetest.Memory(t)
	f := newFixture(t, st, config.Compensation{Kind: "code"}, testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t)))
	s := f.service()
	ctx := context.Background()
	if _, err := s.LoadPool(ctx, f.drop, t.TempDir()+"/missing.txt"); err == nil {
		t.Fatal("missing file loaded")
	}
	if n, err := s.LoadPool(ctx, f.drop, codesFile(t, 2)); err != nil || n != 2 {
		t.Fatalf("load after the failure: %d %v", n, err)
	}
}

// The pool gauges: codes left and the low flag (< 10 % of the stock), for
// the drops with compensation kind code only.
func TestPoolMetrics(t *testing.T) {
	st := storetest.Redis(t)
	nc := testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t))
	f := newFixture(t, st, config.Compensation{Kind: "code"}, nc)
	other := config.Drop{ID: "no-comp", Creator: "ava", Stock: []config.StockLine{{Node: "shop", SKU: "s", Qty: 5}}}
	other.ApplyDefaults()
	f.drops.Put(other)
	reg := prometheus.NewRegistry()
	s := f.service(func(c *Config) { c.Registerer = reg })
	// The fixture's stock is 1<<20: 10 % of it is 104858 codes.
	want := `# HELP dropwire_compensation_pool_codes Compensation codes left in the pool of a drop with compensation kind code.
# TYPE dropwire_compensation_pool_codes gauge
dropwire_compensation_pool_codes{drop="drop-1"} 2
# HELP dropwire_compensation_pool_low 1 while a drop's compensation pool holds fewer codes than 10% of its stock (alert on it).
# TYPE dropwire_compensation_pool_low gauge
dropwire_compensation_pool_low{drop="drop-1"} 1
`
	if _, _, err := s.AddCodes(context.Background(), f.drop, []string{"A", "B"}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"dropwire_compensation_pool_codes", "dropwire_compensation_pool_low"); err != nil {
		t.Fatal(err)
	}
	d, _ := f.drops.Drop(context.Background(), f.drop)
	for _, tc := range []struct {
		left int64
		low  bool
	}{{0, true}, {104857, true}, {104858, false}} {
		if got := PoolLow(d, tc.left); got != tc.low {
			t.Errorf("PoolLow(%d of %d) = %v", tc.left, 1<<20, got)
		}
	}
}

var rpushScript = store.NewScript("test-rpush", `return redis.call('RPUSH', KEYS[1], unpack(ARGV))`,
	func(tx store.Tx, keys, argv []string) (any, error) { return tx.RPush(keys[0], argv...), nil })

// An upload larger than one store script's batch is added in batches, and
// each code still once.
func TestAddCodesInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, config.Compensation{Kind: "code"}, testNodeConfig("shop", "http://127.0.0.1:9/", newSecret(t)))
		s := f.service()
		codes := make([]string, 2*codesBatch+500)
		for i := range codes {
			codes[i] = fmt.Sprintf("BATCH-%05d", i)
		}
		ctx := context.Background()
		if added, left, err := s.AddCodes(ctx, f.drop, codes[:codesBatch+10]); err != nil || added != codesBatch+10 || left != codesBatch+10 {
			t.Fatalf("first part: %d %d %v", added, left, err)
		}
		if added, left, err := s.AddCodes(ctx, f.drop, codes); err != nil || added != len(codes)-codesBatch-10 || left != int64(len(codes)) {
			t.Fatalf("whole list: %d %d %v", added, left, err)
		}
	})
}
