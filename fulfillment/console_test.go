package fulfillment

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

const (
	shopKey  = "shop-console-key-0123456789"
	otherKey = "other-console-key-0123456789"
)

// testClock is time.Now moved by an offset the test sets.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// syncBuffer collects log lines from several goroutines.
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

// consoleRig is a running Service with two hosted nodes ("shop", which
// also has a secret for signed callbacks, and "other") and one with a URL
// ("remote"), their consoles and callbacks behind one HTTP server.
type consoleRig struct {
	t        *testing.T
	f        *fixture
	st       store.Store
	svc      *Service
	con      *Console
	srv      *httptest.Server
	receipts *verifier.Receipts
	clock    *testClock
	logs     *syncBuffer
	secret   string // shop's callback secret
}

type rigOption func(*ConsoleConfig)

func newConsoleRig(t *testing.T, opts ...rigOption) *consoleRig {
	t.Helper()
	return newConsoleRigOn(t, storetest.Redis(t), opts...)
}

func newConsoleRigOn(t *testing.T, st store.Store, opts ...rigOption) *consoleRig {
	t.Helper()
	remote := newTestNode(t)
	r := &consoleRig{t: t, st: st, clock: &testClock{}, logs: &syncBuffer{}, secret: newSecret(t)}
	shop := config.Node{ID: "shop", Name: "Corner Books", Secret: r.secret, PickupSLA: config.Duration(time.Hour),
		ConsoleKeys: []string{shopKey}}
	other := config.Node{ID: "other", Name: "Station pop-up", PickupSLA: config.Duration(time.Hour),
		ConsoleKeys: []string{otherKey}}
	r.f = newFixture(t, st, config.Compensation{Kind: config.CompensationNone}, shop, other,
		testNodeConfig("remote", remote.srv.URL, remote.secret))
	var err error
	r.receipts, err = verifier.NewReceipts(verifier.ReceiptsConfig{Store: st, TTL: 24 * time.Hour, Now: r.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(r.logs)
	r.svc = r.f.service(func(c *Config) { c.Receipts, c.Now, c.Logger = r.receipts, r.clock.now, log })
	run(t, r.svc)
	page, err := web.FS.ReadFile("console.html")
	if err != nil {
		t.Fatal(err)
	}
	cc := ConsoleConfig{Service: r.svc, PublicURL: "http://console.test", Page: page, Logger: log, Now: r.clock.now}
	for _, o := range opts {
		o(&cc)
	}
	if r.con, err = NewConsole(cc); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range r.con.Routes() {
		mux.Handle(p, h)
	}
	mux.Handle("POST /v1/fulfillment/{node}/events", r.svc.CallbackHandler())
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// claim makes a claim at node with a real pickup code, and waits until
// the forwarder took it (a hosted claim: forwarded and listed).
func (r *consoleRig) claim(node string) (id, code string) {
	r.t.Helper()
	code = verifier.NewPickupCode()
	var b [10]byte
	_, _ = rand.Read(b[:])
	id = r.f.drop + "." + base32NoPad(b[:])
	now := r.clock.now()
	r.f.backlogged()
	if _, err := r.st.Run(context.Background(), fakeClaimScript,
		[]string{claimKey(r.f.drop, id), historyKey(r.f.drop, id), pickupKey(r.f.drop), outboxKey(r.f.drop)},
		id, r.f.drop, node, code, strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10),
		strconv.FormatInt(now.UnixMilli(), 10), r.st.Prefix()+verifier.StateChannel); err != nil {
		r.t.Fatal(err)
	}
	eventually(r.t, 10*time.Second, "the claim forwarded", func() bool { return r.f.claimHash(id)["state"] == "forwarded" })
	return id, code
}

// receipt signs the receipt of a claim as the claims API does.
func (r *consoleRig) receipt(id string) string {
	r.t.Helper()
	h := r.f.claimHash(id)
	ms := func(f string) time.Time { n, _ := strconv.ParseInt(h[f], 10, 64); return time.UnixMilli(n) }
	tok, err := r.receipts.Sign(context.Background(), &verifier.Claim{ID: id, Drop: r.f.drop, Node: h["node"],
		SKU: h["sku"], Tier: h["tier"], PickupCode: h["pickup_code"], PickupBy: ms("pickup_by"), CreatedAt: ms("created_at")})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// browser is one operator's browser: its own cookies, redirects not
// followed.
type browser struct {
	r *consoleRig
	c *http.Client
}

func (r *consoleRig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{r: r, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (b *browser) do(method, path, ctype string, body []byte) reply {
	b.r.t.Helper()
	req, err := http.NewRequest(method, b.r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		b.r.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := reply{status: res.StatusCode, header: res.Header, body: raw}
	_ = json.Unmarshal(raw, &a.json)
	return a
}

func (b *browser) get(path string) reply { return b.do("GET", path, "", nil) }

func (b *browser) post(path string, v any) reply {
	js, _ := json.Marshal(v)
	return b.do("POST", path, "application/json", js)
}

func (b *browser) signIn(node, key string) reply {
	b.r.t.Helper()
	return b.do("POST", "/n/"+node, "application/x-www-form-urlencoded", []byte(url.Values{"key": {key}}.Encode()))
}

// signedIn signs in and fails the test unless it worked.
func (r *consoleRig) signedIn(node, key string) *browser {
	r.t.Helper()
	b := r.browser()
	if a := b.signIn(node, key); a.status != http.StatusSeeOther || a.header.Get("Location") != "/n/"+node {
		r.t.Fatalf("sign in to %s: %d %s %s", node, a.status, a.header.Get("Location"), a.body)
	}
	return b
}

func problemCode(a reply) string { s, _ := a.json["code"].(string); return s }

// The ?key= link signs in and sends the browser to the bare console URL;
// the session is an HttpOnly, SameSite=Strict cookie scoped to the node,
// and the key appears in no log line.
func TestConsoleSignInByLink(t *testing.T) {
	r := newConsoleRig(t)
	b := r.browser()
	a := b.get("/n/shop?key=" + url.QueryEscape(shopKey))
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/n/shop" {
		t.Fatalf("link: %d %q", a.status, a.header.Get("Location"))
	}
	ck := a.header.Get("Set-Cookie")
	for _, want := range []string{ConsoleCookie + "=", "Path=/n/shop", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(ck, shopKey) {
		t.Fatal("the key is in the cookie")
	}
	page := b.get("/n/shop")
	if page.status != 200 || !strings.Contains(string(page.body), `data-view="console"`) {
		t.Fatalf("console page: %d %s", page.status, page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if l := b.get("/n/shop/claims"); l.status != 200 {
		t.Fatalf("claims: %d %s", l.status, l.body)
	}
	// The session is this node's only.
	if l := b.get("/n/other/claims"); l.status != 401 || problemCode(l) != "signin_required" {
		t.Fatalf("other node with shop's session: %d %s", l.status, l.body)
	}
	if strings.Contains(r.logs.String(), shopKey) {
		t.Fatal("the console key is in the logs")
	}
	if !strings.Contains(r.logs.String(), `"message":"console sign-in"`) {
		t.Fatalf("no sign-in log line:\n%s", r.logs)
	}
}

// A wrong key and a node that does not exist get the same reply, byte
// for byte, on the page, the form and the API.
func TestConsoleWrongKeySameAsUnknownNode(t *testing.T) {
	r := newConsoleRig(t)
	same := func(what string, a, b reply) {
		t.Helper()
		if a.status != b.status || !bytes.Equal(a.body, b.body) {
			t.Fatalf("%s: %d %q\nvs %d %q", what, a.status, a.body, b.status, b.body)
		}
		for _, h := range []http.Header{a.header, b.header} {
			h.Del("Date")
		}
		if ah, bh := a.header, b.header; len(ah) != len(bh) {
			t.Fatalf("%s: headers %v vs %v", what, ah, bh)
		} else {
			for k := range ah {
				if ah.Get(k) != bh.Get(k) {
					t.Fatalf("%s: header %s %q vs %q", what, k, ah.Get(k), bh.Get(k))
				}
			}
		}
	}
	link := func(node string) reply { return r.browser().get("/n/" + node + "?key=wrong-key-0123456789") }
	wrong, unknown := link("shop"), link("no-such-node")
	if wrong.status != http.StatusUnauthorized || !strings.Contains(string(wrong.body), msgWrongKey[:20]) {
		t.Fatalf("wrong key: %d %s", wrong.status, wrong.body)
	}
	same("?key= link", wrong, unknown)
	same("form", r.browser().signIn("shop", "wrong-key-0123456789"), r.browser().signIn("no-such-node", "wrong-key-0123456789"))
	// The right key of another node is as wrong.
	same("another node's key", r.browser().signIn("shop", otherKey), r.browser().signIn("no-such-node", otherKey))
	same("page without a session", r.browser().get("/n/shop"), r.browser().get("/n/no-such-node"))
	same("API without a session", r.browser().get("/n/shop/claims"), r.browser().get("/n/no-such-node/claims"))
	same("action without a session", r.browser().post("/n/shop/claims/drop-1.x/events", map[string]any{"type": "claim.ready"}),
		r.browser().post("/n/no-such-node/claims/drop-1.x/events", map[string]any{"type": "claim.ready"}))
}

// After the limit of sign-in attempts from one address, even the right
// key is refused with 429 and Retry-After, and nothing is learned.
func TestConsoleSignInRateLimited(t *testing.T) {
	r := newConsoleRig(t, func(c *ConsoleConfig) { c.SignInLimit = store.Limit{Rate: 1, Burst: 3, Period: time.Hour} })
	for i := range 3 {
		if a := r.browser().signIn("shop", "wrong-key-0123456789"); a.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, a.status)
		}
	}
	a := r.browser().signIn("shop", shopKey)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || a.header.Get("Set-Cookie") != "" {
		t.Fatalf("right key after 3 wrong ones: %d %v", a.status, a.header)
	}
	if !strings.Contains(string(a.body), "Too many sign-in attempts") {
		t.Fatalf("page does not say why: %s", a.body)
	}
	// An unknown node is limited the same way.
	if u := r.browser().get("/n/no-such-node?key=x"); u.status != http.StatusTooManyRequests {
		t.Fatalf("unknown node while limited: %d", u.status)
	}
}

// The typed pickup code finds the claim with what the operator needs;
// claims of another node, unknown codes and malformed ones are refused
// with a message that says which.
func TestConsoleLookupByPickupCode(t *testing.T) {
	storetest.Each(t, testConsoleLookupByPickupCode)
}

func testConsoleLookupByPickupCode(t *testing.T, st store.Store) {
	r := newConsoleRigOn(t, st)
	id, pc := r.claim("shop")
	otherID, otherCode := r.claim("other")
	b := r.signedIn("shop", shopKey)

	a := b.post("/n/shop/lookup", Lookup{PickupCode: strings.ToLower(verifier.FormatPickupCode(pc))})
	if a.status != 200 || a.json["id"] != id || a.json["state"] != "forwarded" || a.json["status"] != StatusWaiting ||
		a.json["sku"] != "sku" || a.json["tier"] != "standard" || a.json["pickup_code"] != verifier.FormatPickupCode(pc) ||
		a.json["pickup_by"] == nil || a.json["found_by"] != "pickup_code" {
		t.Fatalf("lookup: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		name   string
		q      Lookup
		status int
		code   string
		says   string
	}{
		{"another node's code", Lookup{PickupCode: otherCode}, 404, "unknown_claim", "No claim with pickup code " + verifier.FormatPickupCode(otherCode)},
		{"unknown code", Lookup{PickupCode: "ZZZZ-ZZZZ"}, 404, "unknown_claim", "No claim with pickup code ZZZZ-ZZZZ at this pickup point."},
		{"malformed code", Lookup{PickupCode: "12"}, 400, "bad_lookup", "8 letters and digits"},
		{"nothing", Lookup{}, 400, "bad_lookup", "pickup code or a receipt"},
		{"another node's receipt", Lookup{Receipt: r.receipt(otherID)}, 409, "wrong_node", "for Station pop-up, not for this pickup point"},
		{"forged receipt", Lookup{Receipt: r.receipt(id)[:40] + "x" + r.receipt(id)[41:]}, 422, "bad_receipt", "does not verify"},
		{"QR of something else", Lookup{QR: "https://example.com/"}, 400, "bad_lookup", "not a Dropwire receipt"},
	} {
		a := b.post("/n/shop/lookup", tc.q)
		if a.status != tc.status || problemCode(a) != tc.code || !strings.Contains(a.json["detail"].(string), tc.says) {
			t.Errorf("%s: %d %s", tc.name, a.status, a.body)
		}
	}
	if st := r.f.claimHash(otherID)["state"]; st != "forwarded" {
		t.Fatalf("other node's claim moved to %s", st)
	}
}

// A picked-up claim is refused with a message that says when; an expired
// receipt with the date it expired.
func TestConsoleLookupRefusesPickedUpAndExpired(t *testing.T) {
	r := newConsoleRig(t)
	id, pc := r.claim("shop")
	b := r.signedIn("shop", shopKey)
	if a := b.post("/n/shop/claims/"+id+"/events", ConsoleAction{Type: "claim.picked_up", PickupCode: pc}); a.status != 202 {
		t.Fatalf("picked up: %d %s", a.status, a.body)
	}
	a := b.post("/n/shop/lookup", Lookup{PickupCode: pc})
	if a.status != 409 || problemCode(a) != "already_picked_up" || !strings.Contains(a.json["detail"].(string), "Already picked up at ") {
		t.Fatalf("picked-up claim: %d %s", a.status, a.body)
	}
	if cl, _ := a.json["claim"].(map[string]any); cl == nil || cl["state"] != "picked_up" {
		t.Fatalf("the refusal does not show the claim: %s", a.body)
	}

	id2, _ := r.claim("shop")
	tok := r.receipt(id2)
	r.clock.advance(25 * time.Hour) // past the receipt TTL (and the session)
	a = r.signedIn("shop", shopKey).post("/n/shop/lookup", Lookup{Receipt: tok})
	if a.status != http.StatusGone || problemCode(a) != "receipt_expired" || !strings.Contains(a.json["detail"].(string), "This receipt expired on ") {
		t.Fatalf("expired receipt: %d %s", a.status, a.body)
	}
}

// A claim whose pickup deadline passed (the SLA failed it) or that the
// operator marked failed is refused, saying so.
func TestConsoleLookupRefusesFailedClaims(t *testing.T) {
	r := newConsoleRig(t)
	late, lateCode := r.claim("shop")
	damaged, damagedCode := r.claim("shop")
	b := r.signedIn("shop", shopKey)
	if a := b.post("/n/shop/claims/"+damaged+"/events", ConsoleAction{Type: "claim.failed", Reason: "box damaged"}); a.status != 202 {
		t.Fatalf("failed: %d %s", a.status, a.body)
	}
	r.clock.advance(time.Hour + time.Minute) // past the pickup SLA
	eventually(t, 10*time.Second, "the SLA expiry", func() bool { return r.f.claimHash(late)["state"] == "pickup_failed" })
	b = r.signedIn("shop", shopKey)
	for code, says := range map[string]string{
		lateCode:    "This claim can no longer be picked up: it failed (not picked up by the deadline).",
		damagedCode: "This claim can no longer be picked up: it failed (box damaged).",
	} {
		a := b.post("/n/shop/lookup", Lookup{PickupCode: code})
		if a.status != 409 || problemCode(a) != "claim_closed" || a.json["detail"] != says {
			t.Errorf("lookup %s: %d %s", code, a.status, a.body)
		}
	}
}

// One node's console cannot act on another node's claim: it is unknown
// to it, as to that node's signed callbacks, and nothing changes.
func TestConsoleActionOnAnotherNodesClaimRefused(t *testing.T) {
	r := newConsoleRig(t)
	id, _ := r.claim("shop")
	other := r.signedIn("other", otherKey)
	for _, typ := range []string{"claim.ready", "claim.picked_up", "claim.failed"} {
		a := other.post("/n/other/claims/"+id+"/events", ConsoleAction{Type: typ})
		if a.status != 404 || problemCode(a) != "unknown_claim" {
			t.Fatalf("%s on another node's claim: %d %s", typ, a.status, a.body)
		}
	}
	if a := other.get("/n/other/claims/" + id); a.status != 404 {
		t.Fatalf("reading another node's claim: %d %s", a.status, a.body)
	}
	if h := strings.Join(r.f.history(id), ","); h != "claimed,forwarded" {
		t.Fatalf("history %s", h)
	}
}

// The console's actions are the node's callbacks: a claim walked through
// the console and one walked through signed callbacks of the same node end
// with the same timeline, fields and deadlines; every action is logged
// with the node and the key id.
func TestConsoleActionsAreCallbacks(t *testing.T) {
	storetest.Each(t, testConsoleActionsAreCallbacks)
}

func testConsoleActionsAreCallbacks(t *testing.T, st store.Store) {
	r := newConsoleRigOn(t, st)
	viaCallback, cbCode := r.claim("shop")
	viaConsole, conCode := r.claim("shop")
	b := r.signedIn("shop", shopKey)

	callback := func(id string, cb Callback) {
		t.Helper()
		body, _ := json.Marshal(cb)
		req, _ := http.NewRequest("POST", r.srv.URL+"/v1/fulfillment/shop/events", bytes.NewReader(body))
		req.Header = signStandard(r.secret, "evt-"+cb.Type+"-"+id, time.Now(), body)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 202 {
			t.Fatalf("callback %s: %d", cb.Type, res.StatusCode)
		}
	}
	act := func(id string, a ConsoleAction) map[string]any {
		t.Helper()
		ans := b.post("/n/shop/claims/"+id+"/events", a)
		if ans.status != 202 || ans.json["status"] != "applied" {
			t.Fatalf("console %s: %d %s", a.Type, ans.status, ans.body)
		}
		return ans.json
	}
	locker := &Locker{Slot: "B7", PIN: "4711"}
	callback(viaCallback, Callback{Type: "claim.ready", Claim: viaCallback, Locker: locker})
	act(viaConsole, ConsoleAction{Type: "claim.ready", Locker: locker})
	for _, id := range []string{viaCallback, viaConsole} {
		h := r.f.claimHash(id)
		by, _ := strconv.ParseInt(h["pickup_by"], 10, 64)
		if s, err := r.st.Run(context.Background(), zscoreScript, []string{slaKey(r.f.drop)}, id); err != nil || s != strconv.FormatInt(by, 10) {
			t.Fatalf("%s: SLA deadline %v %v, pickup_by %d", id, s, err, by)
		}
	}
	callback(viaCallback, Callback{Type: "claim.picked_up", Claim: viaCallback, PickupCode: cbCode})
	act(viaConsole, ConsoleAction{Type: "claim.picked_up", PickupCode: conCode})

	hc, hn := strings.Join(r.f.history(viaCallback), ","), strings.Join(r.f.history(viaConsole), ",")
	if hc != hn || hn != "claimed,forwarded,ready,picked_up" {
		t.Fatalf("timelines differ: callback %s, console %s", hc, hn)
	}
	fc, fn := r.f.claimHash(viaCallback), r.f.claimHash(viaConsole)
	for _, k := range []string{"state", "locker_slot", "locker_pin", "picked_up_with"} {
		if fc[k] != fn[k] || fn[k] == "" {
			t.Errorf("%s: callback %q, console %q", k, fc[k], fn[k])
		}
	}
	for _, id := range []string{viaCallback, viaConsole} {
		if s, _ := r.st.Run(context.Background(), zscoreScript, []string{slaKey(r.f.drop)}, id); s != "" {
			t.Errorf("%s still has an SLA deadline after pickup: %v", id, s)
		}
	}
	// A repeated action (a double tap) is the same callback again; a
	// late one changes nothing, and going back is refused.
	late := b.post("/n/shop/claims/"+viaConsole+"/events", ConsoleAction{ID: "tap-1", Type: "claim.ready"})
	dup := b.post("/n/shop/claims/"+viaConsole+"/events", ConsoleAction{ID: "tap-1", Type: "claim.ready"})
	back := b.post("/n/shop/claims/"+viaConsole+"/events", ConsoleAction{Type: "claim.failed"})
	if late.json["status"] != "unchanged" || dup.json["status"] != "duplicate" || back.status != 409 ||
		problemCode(back) != "illegal_transition" {
		t.Fatalf("repeat: %s / %s / %s", late.body, dup.body, back.body)
	}

	keyID, _ := r.con.KeyID(context.Background(), shopKey)
	var actions int
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(line, `"message":"console action"`) {
			actions++
			if !strings.Contains(line, `"node":"shop"`) || !strings.Contains(line, `"key_id":"`+keyID+`"`) {
				t.Errorf("action log line without node and key id: %s", line)
			}
		}
	}
	if actions != 5 {
		t.Fatalf("%d action log lines, want 5:\n%s", actions, r.logs)
	}
	if strings.Contains(r.logs.String(), shopKey) {
		t.Fatal("the console key is in the logs")
	}
}

// The list shows the node's claims newest first, by status, its stock and
// the deadlines that are close; a claim made after the list was read
// appears in the next one.
func TestConsoleList(t *testing.T) {
	storetest.Each(t, testConsoleList)
}

func testConsoleList(t *testing.T, st store.Store) {
	r := newConsoleRigOn(t, st)
	b := r.signedIn("shop", shopKey)
	empty := b.get("/n/shop/claims")
	if empty.status != 200 || len(empty.json["claims"].([]any)) != 0 {
		t.Fatalf("empty list: %d %s", empty.status, empty.body)
	}
	first, _ := r.claim("shop")
	r.clock.advance(10 * time.Millisecond) // newer, whatever the clock's resolution
	second, _ := r.claim("shop")
	r.claim("other")
	if a := b.post("/n/shop/claims/"+first+"/events", ConsoleAction{Type: "claim.ready"}); a.status != 202 {
		t.Fatal(a.status)
	}
	var v ConsoleView
	a := b.get("/n/shop/claims")
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Claims) != 2 || v.Claims[0].ID != second || v.Claims[1].ID != first {
		t.Fatalf("claims %+v", v.Claims)
	}
	if v.Counts[StatusWaiting] != 1 || v.Counts[StatusReady] != 1 || v.Node.Name != "Corner Books" {
		t.Fatalf("counts %v node %+v", v.Counts, v.Node)
	}
	if v.Claims[0].PickupCode != "" || len(v.Claims[0].CodeHint) != 4 {
		t.Fatalf("the list shows %q / %q of the code", v.Claims[0].PickupCode, v.Claims[0].CodeHint)
	}
	if len(v.Stock) != 1 || v.Stock[0].Left != 1<<20 || v.Stock[0].Total != 1<<20 {
		t.Fatalf("stock %+v", v.Stock)
	}
	if len(v.DueSoon) != 0 {
		t.Fatalf("due soon with an hour to go: %v", v.DueSoon)
	}
	// A quarter of the hour's SLA before the deadlines: both open claims,
	// the one waiting since the claim first.
	r.clock.advance(50 * time.Minute)
	_ = json.Unmarshal(b.get("/n/shop/claims").body, &v)
	if len(v.DueSoon) != 2 || v.DueSoon[0] != second || v.DueSoon[1] != first {
		t.Fatalf("due soon 50 min later: %v (second %s, first %s)", v.DueSoon, second, first)
	}
}

// Console keys rotate as overlay keys do: the new key signs in, the old
// one keeps working for the grace period and then stops, and so do the
// sessions it opened.
func TestConsoleKeyRotation(t *testing.T) {
	r := newConsoleRig(t)
	old := r.signedIn("shop", shopKey)
	admin := func(method, path string) reply {
		req, _ := http.NewRequest(method, r.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer admin-token-0123456789")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		a := reply{status: res.StatusCode, body: raw}
		_ = json.Unmarshal(raw, &a.json)
		return a
	}
	if a := admin("POST", "/v1/admin/nodes/remote/console-key/rotate"); a.status != 409 || problemCode(a) != "not_hosted" {
		t.Fatalf("node with a url: %d %s", a.status, a.body)
	}
	if a := admin("POST", "/v1/admin/nodes/nope/console-key/rotate"); a.status != 404 || problemCode(a) != "unknown_node" {
		t.Fatalf("unknown node: %d %s", a.status, a.body)
	}
	list := admin("GET", "/v1/admin/consoles")
	if list.status != 200 || !strings.Contains(string(list.body), `"console_url":"http://console.test/n/shop?key=`+shopKey+`"`) {
		t.Fatalf("consoles: %d %s", list.status, list.body)
	}
	rot := admin("POST", "/v1/admin/nodes/shop/console-key/rotate")
	key, _ := rot.json["key"].(string)
	if rot.status != 200 || len(key) < config.MinConsoleKey || rot.json["console_url"] != "http://console.test/n/shop?key="+key {
		t.Fatalf("rotate: %d %s", rot.status, rot.body)
	}
	r.signedIn("shop", key)
	r.signedIn("shop", shopKey) // in its grace period
	if a := old.get("/n/shop/claims"); a.status != 200 {
		t.Fatalf("old session in the grace period: %d", a.status)
	}
	r.clock.advance(DefaultConsoleKeyGrace + time.Second)
	if a := r.browser().signIn("shop", shopKey); a.status != 401 {
		t.Fatalf("old key after the grace: %d", a.status)
	}
	if a := old.get("/n/shop/claims"); a.status != 401 {
		t.Fatalf("old session after the grace: %d", a.status)
	}
	r.signedIn("shop", key)
}

// The receipt QR, as the receipt page draws it and a camera sees it, is
// read by /scan (the path of browsers without BarcodeDetector) and finds
// the claim; the text BarcodeDetector would give goes through the same
// parsing at /lookup.
func TestConsoleScanReceiptQR(t *testing.T) {
	r := newConsoleRig(t)
	id, _ := r.claim("shop")
	tok := r.receipt(id)
	// The receipt page's QR: go-qrcode at level M (overlay.QRSVG).
	q, err := qrcode.New(tok, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("receipt QR version %d", q.VersionNumber)
	img := q.Image(640)
	var frame bytes.Buffer
	if err := jpeg.Encode(&frame, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	b := r.signedIn("shop", shopKey)
	a := b.do("POST", "/n/shop/scan", "image/jpeg", frame.Bytes())
	if a.status != 200 || a.json["id"] != id || a.json["found_by"] != "receipt" || a.json["receipt"] != tok {
		t.Fatalf("scan: %d %s", a.status, a.body)
	}
	blank := image.NewGray(image.Rect(0, 0, 320, 240))
	frame.Reset()
	_ = jpeg.Encode(&frame, blank, nil)
	if a := b.do("POST", "/n/shop/scan", "image/jpeg", frame.Bytes()); a.status != 422 || problemCode(a) != "no_qr" {
		t.Fatalf("blank frame: %d %s", a.status, a.body)
	}
	if a := b.do("POST", "/n/shop/scan", "text/plain", []byte("hi")); a.status != 415 {
		t.Fatalf("text frame: %d %s", a.status, a.body)
	}
	// BarcodeDetector's text: the receipt, or the receipt link.
	for _, text := range []string{tok, "http://console.test/r/" + id + "#" + tok} {
		if a := b.post("/n/shop/lookup", Lookup{QR: text}); a.status != 200 || a.json["id"] != id {
			t.Fatalf("lookup of %q: %d %s", text[:20], a.status, a.body)
		}
	}
	// Picked up with the scanned receipt: recorded so.
	if a := b.post("/n/shop/claims/"+id+"/events", ConsoleAction{Type: "claim.picked_up", Receipt: tok}); a.status != 202 {
		t.Fatalf("picked up: %d %s", a.status, a.body)
	}
	if w := r.f.claimHash(id)["picked_up_with"]; w != "receipt" {
		t.Fatalf("picked_up_with %q", w)
	}
}

func TestParseReceiptQR(t *testing.T) {
	const jws = "eyJhbGciOiJFUzI1NiJ9.eyJjaWQiOiJ4In0.c2ln"
	for _, tc := range []struct {
		in, receipt, code string
		err               bool
	}{
		{jws, jws, "", false},
		{" " + jws + "\n", jws, "", false},
		{"https://drops.example.com/r/spring.abc#" + jws, jws, "", false},
		{"abcd-efgh", "", "ABCDEFGH", false},
		{"ABCD EFGH", "", "ABCDEFGH", false},
		{"https://example.com/", "", "", true},
		{"a.b", "", "", true},
		{"a..b", "", "", true},
		{"a.b.c=", "", "", true},
		{"ABCD-EFG1", "", "", true}, // 1 is not in the alphabet
		{"", "", "", true},
	} {
		rc, pc, err := ParseReceiptQR(tc.in)
		if rc != tc.receipt || pc != tc.code || (err != nil) != tc.err {
			t.Errorf("ParseReceiptQR(%q) = %q, %q, %v", tc.in, rc, pc, err)
		}
	}
}

// FuzzParseReceiptQR: whatever a camera reads, the parser never panics,
// and what it accepts has the shape of a receipt or a pickup code.
func FuzzParseReceiptQR(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJFUzI1NiJ9.eyJjaWQiOiJ4In0.c2ln", "https://d.example/r/x.y#a.b.c", "ABCD-EFGH",
		"https://example.com/", "a.b.c.d", "#", "/r/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		receipt, code, err := ParseReceiptQR(s)
		switch {
		case err != nil:
			if receipt != "" || code != "" {
				t.Fatalf("error with a result: %q %q", receipt, code)
			}
		case receipt != "":
			if !isCompactJWS(receipt) || code != "" {
				t.Fatalf("receipt %q code %q", receipt, code)
			}
		case !ValidPickupCode(code):
			t.Fatalf("code %q", code)
		}
	})
}

// FuzzConsoleSession: a cookie not made here opens no console and never
// panics the check.
func FuzzConsoleSession(f *testing.F) {
	st := storetest.Memory(f)
	svc, err := New(Config{Store: st, Drops: verifier.NewCatalog(nil),
		Nodes: []config.Node{{ID: "shop", ConsoleKeys: []string{shopKey}}}})
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewConsole(ConsoleConfig{Service: svc, Secret: strings.Repeat("s", 32)})
	if err != nil {
		f.Fatal(err)
	}
	keyID, _ := c.KeyID(context.Background(), shopKey)
	good, err := c.sessionCookie(context.Background(), "shop", keyID)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Value[:len(good.Value)-1] + "A")
	f.Add("bm9kZQ.c2ln")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		if v == good.Value {
			return
		}
		req := httptest.NewRequest("GET", "/n/shop/claims", nil)
		req.AddCookie(&http.Cookie{Name: ConsoleCookie, Value: v})
		if _, ok := c.session(req, "shop"); ok {
			t.Fatalf("cookie %q opens the console", v)
		}
	})
}
