package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// fixedCodes resolves "open-<drop>" to drop, "expired-<drop>" to
// ErrCodeExpired and anything else to ErrUnknownCode: the overlay's codes
// are tested in overlay/, and end to end through the app.
type fixedCodes struct{}

func (fixedCodes) Resolve(_ context.Context, code string, now time.Time) (string, time.Time, error) {
	if d, ok := strings.CutPrefix(code, "open-"); ok {
		return d, now, nil
	}
	if d, ok := strings.CutPrefix(code, "expired-"); ok {
		return d, now, ErrCodeExpired
	}
	return "", time.Time{}, ErrUnknownCode
}

var claimNodes = map[string]*config.Node{
	"north": {ID: "north", Name: "North locker", Region: "eu-north", PickupSLA: config.Duration(4 * time.Hour)},
	"south": {ID: "south", Name: "South shop", Region: "eu-south", PickupSLA: config.Duration(2 * time.Hour)},
	"west":  {ID: "west", Name: "West pop-up", Region: "eu-west", PickupSLA: config.Duration(time.Hour)},
}

func claimDrop(id string, qty ...int) config.Drop {
	d := testDrop(id, 1)
	d.PerViewer = 1
	d.Identity = config.IdentityDevice
	for i, n := range []string{"north", "south", "west"} {
		if i < len(qty) {
			d.Stock = append(d.Stock, config.StockLine{Node: n, SKU: "pack", Tier: "standard", Qty: qty[i]})
		}
	}
	return d
}

type claimEnv struct {
	st     store.Store
	v      *Verifier
	claims *Claims
	rc     *Receipts
}

func newClaimEnv(t testing.TB, st store.Store, now func() time.Time, drops ...config.Drop) *claimEnv {
	t.Helper()
	cat := NewCatalog(drops)
	v, err := New(Config{Store: st, Drops: cat, Logger: zerolog.Nop(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := NewReceipts(ReceiptsConfig{Store: st, TTL: 24 * time.Hour, Rotate: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClaims(ClaimsConfig{Store: st, Drops: cat, Codes: fixedCodes{}, Receipts: rc, Logger: zerolog.Nop(), Now: now,
		Nodes: func(id string) (*config.Node, bool) { n, ok := claimNodes[id]; return n, ok }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &claimEnv{st: st, v: v, claims: c, rc: rc}
}

func (e *claimEnv) open(t testing.TB, drop string) {
	t.Helper()
	if _, err := e.v.Ingest(context.Background(), srcA, trigger(srcA, "open-"+drop, drop, "m-"+drop, time.Time{})); err != nil {
		t.Fatal(err)
	}
}

// stockLeft returns the stock hash of drop.
func (e *claimEnv) stockLeft(t testing.TB, drop string) map[string]int64 {
	t.Helper()
	h, err := e.st.HGetAll(context.Background(), store.DropKey(drop, "stock"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for k, v := range h {
		out[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return out
}

// verifyReceipt checks a receipt against a JWKS document without jwx: the
// JWK is parsed by hand and the signature checked with crypto/ecdsa.
func verifyReceipt(t testing.TB, jwks []byte, token string, now time.Time) map[string]any {
	t.Helper()
	claims, err := checkReceipt(jwks, token, now)
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	return claims
}

func checkReceipt(jwks []byte, token string, now time.Time) (map[string]any, error) {
	var set struct {
		Keys []struct{ Kty, Crv, Kid, Alg, X, Y string }
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	dec := base64.RawURLEncoding.DecodeString
	hb, err := dec(parts[0])
	if err != nil {
		return nil, err
	}
	var hdr struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, err
	}
	if hdr.Alg != "ES256" || hdr.Kid == "" {
		return nil, fmt.Errorf("header %s", hb)
	}
	var pub *ecdsa.PublicKey
	for _, k := range set.Keys {
		if k.Kid != hdr.Kid {
			continue
		}
		if k.Kty != "EC" || k.Crv != "P-256" {
			return nil, fmt.Errorf("key %s is %s/%s", k.Kid, k.Kty, k.Crv)
		}
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad key coordinates")
		}
		// The uncompressed point: 0x04 || x || y (SEC 1).
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.Kid, err)
		}
		pub = p
	}
	if pub == nil {
		return nil, fmt.Errorf("kid %q is not published", hdr.Kid)
	}
	sig, err := dec(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, errors.New("signature is not 64 bytes r||s")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, errors.New("signature does not verify")
	}
	pb, err := dec(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(pb, &claims); err != nil {
		return nil, err
	}
	if exp, _ := claims["exp"].(float64); !now.Before(time.Unix(int64(exp), 0)) {
		return nil, errors.New("expired")
	}
	return claims, nil
}

// 20,000 claim attempts from 5,000 viewers against 1,000 units over three
// nodes, on both stores and several rounds: half the viewers retry one
// attempt with its idempotency key, the others tap again with fresh keys,
// and 500 share a device with another viewer. Exactly 1,000 claims, none
// twice for a viewer, no stock below zero, an outbox entry per claim and a
// receipt that verifies for every one.
func TestClaimConcurrency(t *testing.T) {
	rounds := 2
	if testing.Short() {
		rounds = 1
	}
	storetest.Each(t, func(t *testing.T, st store.Store) {
		for round := range rounds {
			drop := fmt.Sprintf("burst-%d", round)
			e := newClaimEnv(t, st, nil, claimDrop(drop, 400, 350, 250))
			e.open(t, drop)
			runBurst(t, e, drop, 5000, 4, 1000)
		}
	})
}

func runBurst(t *testing.T, e *claimEnv, drop string, viewers, perViewer, stock int) {
	t.Helper()
	type attempt struct {
		viewer string
		key    string
	}
	var jobs []attempt
	for i := range viewers {
		device := i
		if i >= viewers-viewers/10 { // the last tenth share a device
			device = i - viewers/2
		}
		vk := fmt.Sprintf("viewer-%d", device)
		for a := range perViewer {
			key := fmt.Sprintf("k-%d-%d", i, a)
			if i%2 == 0 {
				key = fmt.Sprintf("k-%d", i) // a retry of one attempt
			}
			jobs = append(jobs, attempt{vk, key})
		}
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })

	var (
		mu       sync.Mutex
		created  = map[string]string{} // viewer → claim id
		receipts = map[string]string{}
		counts   = map[string]int{}
		next     atomic.Int64
		wg       sync.WaitGroup
		minLeft  atomic.Int64
	)
	minLeft.Store(int64(stock))
	ctx := context.Background()
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				res, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-" + drop, Viewer: j.viewer, IdempotencyKey: j.key})
				mu.Lock()
				counts[ClaimResultOf(err, res.Created)]++
				switch {
				case err == nil && res.Created:
					if prev, ok := created[j.viewer]; ok {
						t.Errorf("viewer %s got a second claim %s (first %s)", j.viewer, res.Claim.ID, prev)
					}
					created[j.viewer] = res.Claim.ID
					receipts[res.Claim.ID] = res.Receipt
				case err == nil:
					if created[j.viewer] != "" && created[j.viewer] != res.Claim.ID {
						t.Errorf("retry of %s answered %s, not its claim %s", j.viewer, res.Claim.ID, created[j.viewer])
					}
				case errors.Is(err, ErrAlreadyClaimed), errors.Is(err, ErrSoldOut):
				default:
					t.Errorf("claim: %v", err)
				}
				mu.Unlock()
				if i%500 == 0 {
					for _, v := range e.stockLeft(t, drop) {
						if v < minLeft.Load() {
							minLeft.Store(v)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("results: %v", counts)

	if len(created) != stock || counts["created"] != stock {
		t.Fatalf("%d claims created (%d viewers), want exactly %d", counts["created"], len(created), stock)
	}
	var left int64
	for f, v := range e.stockLeft(t, drop) {
		if v < 0 {
			t.Errorf("stock %s = %d", f, v)
		}
		left += v
	}
	if left != 0 || minLeft.Load() < 0 {
		t.Fatalf("stock left %d (min seen %d), want 0 and never negative", left, minLeft.Load())
	}

	// One outbox entry per claim, and nothing else.
	stream := store.DropKey(drop, "outbox")
	n, err := e.st.OutboxLen(ctx, stream)
	if err != nil || n != int64(stock) {
		t.Fatalf("outbox has %d entries (%v), want %d", n, err, stock)
	}
	seen := map[string]bool{}
	for {
		entries, err := e.st.OutboxRead(ctx, stream, "test", "c1", 500, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		for _, en := range entries {
			f := en.Fields
			if f["type"] != "claim.created" || f["event"] != f["claim"]+".created" || f["node"] == "" || seen[f["claim"]] {
				t.Fatalf("outbox entry %v", f)
			}
			seen[f["claim"]] = true
		}
	}
	jwks, err := e.rc.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string]int{}
	for id, rc := range receipts {
		if !seen[id] {
			t.Fatalf("claim %s has no outbox entry", id)
		}
		c := verifyReceipt(t, jwks, rc, time.Now())
		if c["cid"] != id || c["drop"] != drop || len(c["pickup_code"].(string)) != PickupCodeLen {
			t.Fatalf("receipt claims %v", c)
		}
		byNode[c["node"].(string)]++
	}
	if byNode["north"] != 400 || byNode["south"] != 350 || byNode["west"] != 250 {
		t.Fatalf("claims by node %v", byNode)
	}
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// Claims keep a drop flagged sold out for a few seconds, cleared by the
// drop's next announcement. When that announcement is lost because the
// subscription broke (Redis restarted for this replica while stock was
// added through another), the flag is cleared as soon as the replica has
// subscribed again. The clock is frozen, so the flag never ages out here.
func TestClaimsForgetSoldOutAfterSubscriptionBreak(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	direct := storetest.Redis(t)
	proxy := storetest.NewProxy(t)
	e := newClaimEnv(t, proxy.Redis(t, direct.Prefix()), clock, claimDrop("brk", 1))
	ctx := context.Background()
	e.open(t, "brk")
	claim := func(viewer string) error {
		_, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-brk", Viewer: viewer})
		return err
	}
	if err := claim("v1"); err != nil {
		t.Fatal(err)
	}
	if err := claim("v2"); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("second claim: %v, want sold out", err)
	}

	proxy.Hold()
	proxy.Sever()
	// Another replica adds a unit and announces it; this replica does not
	// hear it.
	key := store.DropKey("brk", "stock")
	fields, err := direct.HGetAll(ctx, key)
	if err != nil || len(fields) != 1 {
		t.Fatalf("stock %v, %v", fields, err)
	}
	for f := range fields {
		if _, err := direct.HIncrBy(ctx, key, f, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := direct.Publish(ctx, StateChannel, []byte("brk 99")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	proxy.Release()

	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		err := claim(fmt.Sprintf("late-%d", i))
		if err == nil {
			return
		}
		if !errors.Is(err, ErrSoldOut) && !errors.Is(err, store.ErrUnavailable) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unit added during the break is still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// InitStock writes a drop's configured quantities once: every replica
// calls it at every start, and it never gives back stock claims took.
func TestInitStockNeverResets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		d := claimDrop("restock", 2, 1)
		e := newClaimEnv(t, st, nil, d)
		ctx := context.Background()
		if err := e.claims.InitStock(ctx, &d); err != nil {
			t.Fatal(err)
		}
		if got := e.stockLeft(t, "restock"); got["north:pack"] != 2 || got["south:pack"] != 1 {
			t.Fatalf("stock after init: %v", got)
		}
		e.open(t, "restock")
		if _, err := e.claims.Claim(ctx, ClaimRequest{Code: "open-restock", Viewer: "v1", Node: "north"}); err != nil {
			t.Fatal(err)
		}
		if err := e.claims.InitStock(ctx, &d); err != nil { // another replica starts
			t.Fatal(err)
		}
		if got := e.stockLeft(t, "restock"); got["north:pack"] != 1 || got["south:pack"] != 1 {
			t.Fatalf("stock after a claim and a second init: %v, want north 1, south 1", got)
		}
	})
}
