package verifier

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/web"
)

type apiEnv struct {
	*claimEnv
	srv *httptest.Server
}

func newAPIEnv(t *testing.T, st store.Store, vcfg ViewersConfig, tune func(*ClaimsAPIConfig), drops ...config.Drop) *apiEnv {
	t.Helper()
	e := newClaimEnv(t, st, nil, drops...)
	vcfg.Store = st
	viewers, err := NewViewers(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := fs.ReadFile(web.FS, "claim.html")
	receipt, _ := fs.ReadFile(web.FS, "receipt.html")
	cfg := ClaimsAPIConfig{Claims: e.claims, Viewers: viewers, ClaimPage: page, ReceiptPage: receipt, Logger: zerolog.Nop()}
	if tune != nil {
		tune(&cfg)
	}
	api, err := NewClaimsAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &apiEnv{claimEnv: e, srv: srv}
}

// viewerClient is a browser: its own cookie jar (device).
func viewerClient(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *apiEnv) do(t *testing.T, c *http.Client, method, path, body string, h map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(b, &r.body); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	} else {
		r.body = map[string]any{"html": string(b)}
	}
	return r
}

// claim claims as a browser does: from the claim page, which it opens
// first when it holds no device cookie yet.
func (e *apiEnv) claim(t *testing.T, c *http.Client, code, key string, extra ...string) reply {
	t.Helper()
	if !hasDeviceCookie(c, e.srv.URL) {
		e.do(t, c, "GET", "/c/"+code, "", nil)
	}
	body := `{"code":"` + code + `"` + strings.Join(extra, "") + `}`
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return e.do(t, c, "POST", "/v1/claims", body, h)
}

func hasDeviceCookie(c *http.Client, base string) bool {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == DeviceCookie {
			return true
		}
	}
	return false
}

func (e *apiEnv) jwks(t *testing.T) []byte {
	t.Helper()
	res, err := http.Get(e.srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks: %d %s", res.StatusCode, b)
	}
	return b
}

// counts is what a refused claim must leave untouched.
func (e *apiEnv) counts(t *testing.T, drop string) (map[string]int64, int64) {
	t.Helper()
	n, err := e.st.OutboxLen(context.Background(), store.DropKey(drop, "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	return e.stockLeft(t, drop), n
}

func TestClaimHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newAPIEnv(t, st, ViewersConfig{}, nil, claimDrop("spring", 2, 1, 0))
		e.open(t, "spring")
		alice := viewerClient(t)

		// The page issues the device cookie and offers the claim.
		page := e.do(t, alice, "GET", "/c/open-spring", "", nil)
		if page.status != 200 || !strings.Contains(page.body["html"].(string), `id="dw-form"`) {
			t.Fatalf("claim page: %d %v", page.status, page.body)
		}
		r := e.claim(t, alice, "open-spring", "try-1", `,"node":"south"`)
		if r.status != http.StatusCreated || r.body["state"] != "claimed" || r.body["node"] != "south" {
			t.Fatalf("claim: %d %v", r.status, r.body)
		}
		id := r.body["claim_id"].(string)
		receipt := r.body["receipt"].(string)
		c := verifyReceipt(t, e.jwks(t), receipt, time.Now())
		if c["cid"] != id || c["pickup_code"] != r.body["pickup_code"] || c["node"] != "south" || c["sku"] != "pack" {
			t.Fatalf("receipt claims %v vs %v", c, r.body)
		}
		// The same attempt again: the same claim, 200.
		if again := e.claim(t, alice, "open-spring", "try-1"); again.status != 200 || again.body["claim_id"] != id {
			t.Fatalf("retry: %d %v", again.status, again.body)
		}
		// Another attempt from the same device: 409 with the claim.
		if again := e.claim(t, alice, "open-spring", "try-2"); again.status != 409 || again.body["code"] != "already_claimed" || again.body["claim_id"] != id {
			t.Fatalf("second claim: %d %v", again.status, again.body)
		}

		// The claim with its receipt; not without, not with another's.
		got := e.do(t, alice, "GET", "/v1/claims/"+id, "", map[string]string{"Authorization": "Bearer " + receipt})
		hist, _ := got.body["history"].([]any)
		if got.status != 200 || got.body["state"] != "claimed" || len(hist) != 1 || got.body["node"].(map[string]any)["name"] != "South shop" {
			t.Fatalf("get claim: %d %v", got.status, got.body)
		}
		if r := e.do(t, alice, "GET", "/v1/claims/"+id, "", nil); r.status != 401 {
			t.Fatalf("without receipt: %d", r.status)
		}
		bob := viewerClient(t)
		rb := e.claim(t, bob, "open-spring", "b-1")
		if rb.status != 201 || rb.body["node"] != "north" {
			t.Fatalf("bob: %d %v", rb.status, rb.body)
		}
		if r := e.do(t, alice, "GET", "/v1/claims/"+id, "", map[string]string{"Authorization": "Bearer " + rb.body["receipt"].(string)}); r.status != 401 {
			t.Fatalf("another's receipt: %d", r.status)
		}
		if r := e.do(t, alice, "GET", "/r/"+id, "", nil); r.status != 200 || !strings.Contains(r.body["html"].(string), "dw-code") {
			t.Fatalf("receipt page: %d", r.status)
		}
	})
}

// Each refusal has its problem code and changes nothing.
func TestClaimRefusalsChangeNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newAPIEnv(t, st, ViewersConfig{}, nil, claimDrop("live", 5), claimDrop("over", 3), claimDrop("gone", 1))
		for _, d := range []string{"live", "over", "gone"} {
			e.open(t, d)
		}
		if _, err := e.v.Ingest(context.Background(), srcA, Event{ID: "close-over", Type: TypeDropClose, Drop: "over", Channel: ChannelWebhook}); err != nil {
			t.Fatal(err)
		}
		buyer := viewerClient(t)
		if r := e.claim(t, buyer, "open-gone", "k"); r.status != 201 {
			t.Fatalf("last unit: %d %v", r.status, r.body)
		}

		viewer := viewerClient(t)
		e.do(t, viewer, "GET", "/c/open-live", "", nil) // the device cookie
		big := `{"code":"open-live","viewer":"` + strings.Repeat("x", 5000) + `"}`
		for _, tc := range []struct {
			name, drop, body string
			status           int
			code             string
		}{
			{"expired code", "live", `{"code":"expired-live"}`, 403, "code_expired"},
			{"unknown code", "live", `{"code":"ZZZZZZZZZZ"}`, 404, "unknown_code"},
			{"closed drop", "over", `{"code":"open-over"}`, 410, "closed"},
			{"sold out", "gone", `{"code":"open-gone"}`, 410, "sold_out"},
			{"sold out, fast path", "gone", `{"code":"open-gone"}`, 410, "sold_out"},
			{"not json", "live", `code=open-live`, 400, "malformed"},
			{"unknown field", "live", `{"code":"open-live","qty":5}`, 400, "malformed"},
			{"two objects", "live", `{"code":"open-live"}{"code":"open-live"}`, 400, "malformed"},
			{"stray bracket after", "live", `{"code":"open-live"}]`, 400, "malformed"},
			{"stray brace after", "live", `{"code":"open-live"}}`, 400, "malformed"},
			{"no code", "live", `{"node":"north"}`, 400, "malformed"},
			{"wrong types", "live", `{"code":5}`, 400, "malformed"},
			{"unknown node", "live", `{"code":"open-live","node":"mars"}`, 400, "invalid_claim"},
			{"too large", "live", big, 413, "body_too_large"},
		} {
			stock, outbox := e.counts(t, tc.drop)
			r := e.do(t, viewer, "POST", "/v1/claims", tc.body, map[string]string{"Content-Type": "application/json"})
			if r.status != tc.status || r.body["code"] != tc.code || r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %v, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			}
			stock2, outbox2 := e.counts(t, tc.drop)
			if outbox2 != outbox || len(stock2) != len(stock) {
				t.Errorf("%s changed the store: outbox %d→%d, stock %v→%v", tc.name, outbox, outbox2, stock, stock2)
			}
			for k, v := range stock {
				if stock2[k] != v {
					t.Errorf("%s changed stock %s: %d→%d", tc.name, k, v, stock2[k])
				}
			}
		}
		// A valid claim sent as a form or as text, which a page on another
		// site could post unasked, is refused and claims nothing.
		for _, ctype := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "application/json; ="} {
			stock, outbox := e.counts(t, "live")
			r := e.do(t, viewer, "POST", "/v1/claims", `{"code":"open-live"}`, map[string]string{"Content-Type": ctype})
			if r.status != 415 || r.body["code"] != "unsupported_media_type" {
				t.Errorf("sent as %s: %d %v, want 415 unsupported_media_type", ctype, r.status, r.body)
			}
			if stock2, outbox2 := e.counts(t, "live"); outbox2 != outbox || !maps.Equal(stock2, stock) {
				t.Errorf("sent as %s changed the store: outbox %d→%d, stock %v→%v", ctype, outbox, outbox2, stock, stock2)
			}
		}
		// The buyer of the last unit is told about the claim, not "sold out".
		if r := e.claim(t, buyer, "open-gone", "k2"); r.status != 409 || r.body["receipt"] == nil {
			t.Fatalf("buyer after sold out: %d %v", r.status, r.body)
		}
		// The expired code's page says so and offers nothing.
		p := e.do(t, viewer, "GET", "/c/expired-live", "", nil)
		if html := p.body["html"].(string); p.status != 403 || !strings.Contains(html, "expired") || strings.Contains(html, "<form") {
			t.Fatalf("expired page: %d %s", p.status, html)
		}
	})
}

func TestClaimRateLimit(t *testing.T) {
	e := newAPIEnv(t, storetest.Redis(t), ViewersConfig{}, func(c *ClaimsAPIConfig) {
		c.RateDevice = store.Limit{Rate: 1, Burst: 2, Period: time.Minute}
	}, claimDrop("spring", 10))
	e.open(t, "spring")
	v := viewerClient(t)
	var last reply
	for i := range 3 {
		last = e.claim(t, v, "open-spring", "k"+string(rune('a'+i)))
	}
	if last.status != 429 || last.body["code"] != "rate_limited" || last.header.Get("Retry-After") == "" {
		t.Fatalf("third attempt: %d %v %v", last.status, last.body, last.header)
	}
}

func TestClaimIdentities(t *testing.T) {
	st := storetest.Redis(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	priv, _ := jwk.FromRaw(key)
	_ = priv.Set(jwk.KeyIDKey, "login-1")
	_ = priv.Set(jwk.AlgorithmKey, jwa.ES256)
	pub, _ := jwk.PublicKeyOf(priv)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	doc, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "viewers.jwks")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	mail := claimDrop("mail", 5)
	mail.Identity = config.IdentityEmail
	tok := claimDrop("tok", 5)
	tok.Identity = config.IdentityToken
	e := newAPIEnv(t, st, ViewersConfig{JWKS: path, Issuer: "https://login.example"}, nil, mail, tok)
	e.open(t, "mail")
	e.open(t, "tok")

	c := viewerClient(t)
	if r := e.claim(t, c, "open-mail", "1", `,"viewer":" Ava@Example.com "`); r.status != 201 {
		t.Fatalf("email: %d %v", r.status, r.body)
	}
	first := e.claim(t, c, "open-mail", "1", `,"viewer":"ava@example.com"`)
	if first.status != 200 || first.body["receipt"] == nil {
		t.Fatalf("retry from the claiming device: %d %v", first.status, first.body)
	}
	// Another device, the same address: the same viewer, so no second
	// claim; but an address is no proof, so nothing of the claim either.
	other := viewerClient(t)
	for _, key := range []string{"2", "1"} { // a new attempt; the claimant's own key replayed
		r := e.claim(t, other, "open-mail", key, `,"viewer":"ava@example.com"`)
		if r.status != 409 || r.body["code"] != "already_claimed" || r.body["claim_id"] != first.body["claim_id"] {
			t.Fatalf("same email, other device, key %s: %d %v", key, r.status, r.body)
		}
		for _, leak := range []string{"receipt", "pickup_code", "receipt_url"} {
			if r.body[leak] != nil {
				t.Fatalf("same email, other device, key %s: the answer carries %s: %v", key, leak, r.body)
			}
		}
	}
	// The claiming device, a new attempt: its receipt again.
	if r := e.claim(t, c, "open-mail", "4", `,"viewer":"ava@example.com"`); r.status != 409 || r.body["receipt"] == nil ||
		r.body["pickup_code"] != first.body["pickup_code"] {
		t.Fatalf("same email, claiming device: %d %v", r.status, r.body)
	}
	if r := e.claim(t, c, "open-mail", "3", `,"viewer":"not an address"`); r.status != 400 || r.body["code"] != "invalid_viewer" {
		t.Fatalf("bad email: %d %v", r.status, r.body)
	}
	sign := func(sub string, exp time.Time) string {
		tk, _ := jwt.NewBuilder().Issuer("https://login.example").Subject(sub).Expiration(exp).Build()
		b, err := jwt.Sign(tk, jwt.WithKey(jwa.ES256, priv))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if r := e.claim(t, c, "open-tok", "1", `,"viewer":"`+sign("u-1", time.Now().Add(time.Hour))+`"`); r.status != 201 {
		t.Fatalf("token: %d %v", r.status, r.body)
	}
	// A token proves the viewer on any client, even one without a device
	// cookie (an API client): its receipt again.
	bare := &http.Client{Timeout: 10 * time.Second}
	if r := e.do(t, bare, "POST", "/v1/claims", `{"code":"open-tok"}`, map[string]string{
		"Content-Type": "application/json", "Authorization": "bearer " + sign("u-1", time.Now().Add(time.Hour))}); r.status != 409 || r.body["receipt"] == nil {
		t.Fatalf("token, another client: %d %v", r.status, r.body)
	}
	if r := e.do(t, bare, "POST", "/v1/claims", `{"code":"open-tok"}`, map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer " + sign("u-3", time.Now().Add(time.Hour))}); r.status != 201 {
		t.Fatalf("token, no device cookie: %d %v", r.status, r.body)
	}
	if r := e.claim(t, c, "open-tok", "2", `,"viewer":"`+sign("u-2", time.Now().Add(-time.Hour))+`"`); r.status != 401 {
		t.Fatalf("expired token: %d %v", r.status, r.body)
	}
	// Nothing in the store holds the address in clear.
	raw := storetest.Client(t)
	var found []string
	var mu sync.Mutex
	iter := raw.Scan(context.Background(), 0, st.Prefix()+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		k := iter.Val()
		if strings.Contains(strings.ToLower(k), "ava@") {
			mu.Lock()
			found = append(found, k)
			mu.Unlock()
		}
		if typ, _ := raw.Type(context.Background(), k).Result(); typ == "hash" {
			h, _ := raw.HGetAll(context.Background(), k).Result()
			for f, v := range h {
				if strings.Contains(strings.ToLower(f+v), "ava@") {
					found = append(found, k)
				}
			}
		}
	}
	if len(found) > 0 {
		t.Fatalf("email stored in clear at %v", found)
	}
}

// A receipt signed before its key rotated out still verifies (the old key
// stays published) until it expires; then its key leaves the JWKS.
func TestReceiptKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		rc, err := NewReceipts(ReceiptsConfig{Store: st, TTL: 3 * time.Hour, Rotate: time.Hour, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		claim := &Claim{ID: "d.aaaaaaaaaaaaaaaa", Drop: "d", Node: "n", SKU: "s", PickupCode: "ABCD2345", CreatedAt: clock(), PickupBy: clock().Add(time.Hour)}
		old, err := rc.Sign(ctx, claim)
		if err != nil {
			t.Fatal(err)
		}
		advance(90 * time.Minute) // a new key signs now
		claim2 := *claim
		claim2.ID, claim2.CreatedAt = "d.bbbbbbbbbbbbbbbb", clock()
		fresh, err := rc.Sign(ctx, &claim2)
		if err != nil {
			t.Fatal(err)
		}
		kid := func(tok string) string {
			var h struct{ Kid string }
			b, _ := jsonSegment(tok, 0)
			_ = json.Unmarshal(b, &h)
			return h.Kid
		}
		if kid(old) == kid(fresh) {
			t.Fatal("the key did not rotate")
		}
		// A second replica on the same store signs with the same key.
		rc2, _ := NewReceipts(ReceiptsConfig{Store: st, TTL: 3 * time.Hour, Rotate: time.Hour, Now: clock})
		if other, _ := rc2.Sign(ctx, &claim2); kid(other) != kid(fresh) {
			t.Fatal("replicas sign with different keys")
		}
		jwks, _ := rc.JWKS(ctx)
		verifyReceipt(t, jwks, old, clock())
		verifyReceipt(t, jwks, fresh, clock())
		if _, err := rc.Verify(ctx, old); err != nil {
			t.Fatalf("old receipt: %v", err)
		}

		advance(time.Hour + 31*time.Minute) // the old receipt has expired
		jwks, _ = rc.JWKS(ctx)
		if _, err := checkReceipt(jwks, old, clock()); err == nil {
			t.Fatal("expired receipt verifies")
		}
		if _, err := rc.Verify(ctx, old); err == nil {
			t.Fatal("expired receipt verifies with Receipts")
		}
		verifyReceipt(t, jwks, fresh, clock())
		advance(2 * time.Hour) // past the end of the old key's period + TTL
		jwks, _ = rc.JWKS(ctx)
		if bytes.Contains(jwks, []byte(kid(old))) {
			t.Fatalf("retired key still published: %s", jwks)
		}
	})
}

func jsonSegment(tok string, i int) ([]byte, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, io.ErrUnexpectedEOF
	}
	return base64URL(parts[i])
}
