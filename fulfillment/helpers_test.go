package fulfillment

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

func newSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// checkStandardSignature is an independent Standard Webhooks verifier
// (not sdkhooks): HMAC-SHA256 over "id.timestamp.body" with the base64
// secret after "whsec_", any "v1,<base64>" entry matching.
func checkStandardSignature(secret string, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id=%q ts=%q sig=%q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %v", ts, err)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s off by %s", ts, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature matches")
}

// signStandard signs a callback the way a node would, independently of
// sdkhooks.
func signStandard(secret, id string, ts time.Time, body []byte) http.Header {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	t := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + t + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", t)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	h.Set("Content-Type", "application/json")
	return h
}

// delivery is one request a test node received.
type delivery struct {
	ID      string
	Payload Payload
	At      time.Time
}

// testNode is a fulfillment node on loopback: it checks every request's
// signature independently, records it, and answers what respond says.
type testNode struct {
	t       testing.TB
	secret  string
	srv     *httptest.Server
	mu      sync.Mutex
	got     []delivery
	bad     []string
	respond func(r *http.Request, n int) (status int, header http.Header)
	hits    int
}

func newTestNode(t testing.TB) *testNode {
	t.Helper()
	n := &testNode{t: t, secret: newSecret(t)}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *testNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	n.hits++
	hit := n.hits
	respond := n.respond
	n.mu.Unlock()
	if err := checkStandardSignature(n.secret, r.Header, body); err != nil {
		n.mu.Lock()
		n.bad = append(n.bad, err.Error())
		n.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status, hdr := http.StatusOK, http.Header(nil)
	if respond != nil {
		status, hdr = respond(r, hit)
	}
	if status >= 200 && status < 300 {
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			n.mu.Lock()
			n.bad = append(n.bad, "body: "+err.Error())
			n.mu.Unlock()
		}
		n.mu.Lock()
		n.got = append(n.got, delivery{ID: r.Header.Get("webhook-id"), Payload: p, At: time.Now()})
		n.mu.Unlock()
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

func (n *testNode) setRespond(f func(r *http.Request, hit int) (int, http.Header)) {
	n.mu.Lock()
	n.respond = f
	n.mu.Unlock()
}

// deliveries returns what the node accepted.
func (n *testNode) deliveries() []delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]delivery(nil), n.got...)
}

func (n *testNode) badSignatures() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.bad...)
}

func (n *testNode) hitCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hits
}

// fixture is a drop and its nodes in one store.
type fixture struct {
	t      testing.TB
	st     store.Store
	drops  *verifier.Catalog
	nodes  []config.Node
	drop   string
	claims atomic.Int64
}

func testNodeConfig(id, url, secret string) config.Node {
	return config.Node{ID: id, URL: url, Secret: secret, PickupSLA: config.Duration(time.Hour),
		Timeout: config.Duration(2 * time.Second), RetryBase: config.Duration(20 * time.Millisecond),
		RetryMax: config.Duration(200 * time.Millisecond), RetryHorizon: config.Duration(time.Hour),
		BreakerFailures: 3, BreakerCooldown: config.Duration(150 * time.Millisecond)}
}

func newFixture(t testing.TB, st store.Store, comp config.Compensation, nodes ...config.Node) *fixture {
	t.Helper()
	d := config.Drop{ID: "drop-1", Creator: "ava", Compensation: comp}
	for _, n := range nodes {
		d.Stock = append(d.Stock, config.StockLine{Node: n.ID, SKU: "sku", Qty: 1 << 20})
	}
	d.ApplyDefaults()
	return &fixture{t: t, st: st, drops: verifier.NewCatalog([]config.Drop{d}), nodes: nodes, drop: d.ID}
}

// codesFile writes n codes "CODE-0001"... and returns the path.
func codesFile(t testing.TB, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# compensation codes\n")
	for i := range n {
		fmt.Fprintf(&b, "CODE-%04d\n\n", i+1)
	}
	p := filepath.Join(t.TempDir(), "codes.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// backlogged puts the fixture's drop in the backlog, as a claim would:
// the loops and gauges go over the drops of the backlog only.
func (f *fixture) backlogged() {
	f.t.Helper()
	if err := verifier.NewBacklog(f.st, nil).Touch(context.Background(), f.drop); err != nil {
		f.t.Fatal(err)
	}
}

// claim writes a claim and its outbox entry the way verifier.Claims does.
func (f *fixture) claim(node string) string {
	f.t.Helper()
	return f.claimAnnounced(node, f.st.Prefix()+verifier.StateChannel)
}

// claimAnnounced makes a claim announced on channel (another channel than
// the state channel: an announcement lost).
func (f *fixture) claimAnnounced(node, channel string) string {
	f.t.Helper()
	n := f.claims.Add(1)
	var b [10]byte
	_, _ = rand.Read(b[:])
	id := f.drop + "." + strings.ToLower(base32NoPad(b[:]))
	now := time.Now()
	code := fmt.Sprintf("P%07d", n)
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	f.backlogged()
	if _, err := f.st.Run(context.Background(), fakeClaimScript,
		[]string{claimKey(f.drop, id), historyKey(f.drop, id), pickupKey(f.drop), outboxKey(f.drop)},
		id, f.drop, node, code, strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10), ms,
		channel); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func base32NoPad(b []byte) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var out strings.Builder
	var buf, bits uint
	for _, c := range b {
		buf = buf<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			out.WriteByte(alphabet[(buf>>(bits-5))&31])
			bits -= 5
		}
	}
	return out.String()[:16]
}

type option func(*Config)

func (f *fixture) service(opts ...option) *Service {
	f.t.Helper()
	cfg := Config{Store: f.st, Drops: f.drops, Nodes: f.nodes, Workers: 8, Tick: 20 * time.Millisecond,
		Takeover: 5 * time.Second, SLATick: 20 * time.Millisecond, AdminToken: "admin-token-0123456789",
		Logger: zerolog.New(io.Discard)}
	if testing.Verbose() && os.Getenv("FULFILLMENT_LOG") != "" {
		cfg.Logger = zerolog.New(zerolog.NewConsoleWriter()).Level(zerolog.DebugLevel)
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func run(t testing.TB, s *Service) {
	t.Helper()
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

func (f *fixture) claimHash(id string) map[string]string {
	f.t.Helper()
	h, err := f.st.HGetAll(context.Background(), claimKey(f.drop, id))
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func (f *fixture) history(id string) []string {
	f.t.Helper()
	raw, err := f.st.Run(context.Background(), lrangeScript, []string{historyKey(f.drop, id)})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, v := range raw.([]any) {
		s, _ := v.(string)
		st, _, _ := strings.Cut(s, "\t")
		out = append(out, st)
	}
	return out
}

// fakeClaimScript writes what verifier's claim script writes for a claim
// (claim hash, history, pickup code, outbox entry, announcement) in one
// step. KEYS: claim, history, pickup, outbox. ARGV: id, drop, node, pickup
// code, pickup_by ms, now ms, state channel.
var fakeClaimScript = store.NewScript("test-claim", `
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'drop', ARGV[2], 'state', 'claimed', 'node', ARGV[3], 'sku', 'sku',
  'tier', 'standard', 'pickup_code', ARGV[4], 'pickup_by', ARGV[5], 'created_at', ARGV[6], 'viewer', 'v-hash')
redis.call('RPUSH', KEYS[2], 'claimed\t' .. ARGV[6])
redis.call('HSET', KEYS[3], ARGV[3] .. ':' .. ARGV[4], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'type', 'claim.created', 'claim', ARGV[1], 'event', ARGV[1] .. '.created',
  'node', ARGV[3], 'drop', ARGV[2])
announce(ARGV[7], ARGV[2] .. ' 0')
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	tx.HSet(keys[0], "id", argv[0], "drop", argv[1], "state", "claimed", "node", argv[2], "sku", "sku",
		"tier", "standard", "pickup_code", argv[3], "pickup_by", argv[4], "created_at", argv[5], "viewer", "v-hash")
	tx.RPush(keys[1], "claimed\t"+argv[5])
	tx.HSet(keys[2], argv[2]+":"+argv[3], argv[0])
	tx.XAdd(keys[3], map[string]string{"type": TypeClaimCreated, "claim": argv[0], "event": argv[0] + ".created",
		"node": argv[2], "drop": argv[1]})
	tx.Publish(argv[6], []byte(argv[1]+" 0"))
	return int64(1), nil
})

var lrangeScript = store.NewScript("test-lrange", `return redis.call('LRANGE', KEYS[1], 0, -1)`,
	func(tx store.Tx, keys, _ []string) (any, error) {
		out := []any{}
		for _, s := range tx.LRange(keys[0], 0, -1) {
			out = append(out, s)
		}
		return out, nil
	})

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
