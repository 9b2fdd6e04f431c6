package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/web"
)

// fuzzEnv is the claim API over the memory store, built once per fuzz
// target (newAPIEnv needs a *testing.T and a listener; a fuzz target has a
// *testing.F and calls the handler in process, which is much faster).
type fuzzEnv struct {
	*claimEnv
	h http.Handler
	// devices are signed device cookies of viewers who have claimed
	// "spring" already, with Idempotency-Key "seed": a claim as one of
	// them is answered 200 (that key) or 409 (any other), the same every
	// time, so the fuzzer's coverage does not depend on what ran before.
	devices []*http.Cookie
	// issued holds their receipts: receipt → claim id.
	issued   map[string]string
	receipts []string
	ids      []string
}

// Drops of the fuzz env: "spring" is open with more stock than a fuzz run
// takes, "gone" is open and sold out, "over" is closed.
var fuzzDrops = []string{"spring", "gone", "over"}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	st := storetest.Memory(tb)
	const lots = 1 << 24
	e := newClaimEnv(tb, st, nil, claimDrop("spring", lots, lots, lots), claimDrop("gone", 1), claimDrop("over", 3))
	for _, d := range fuzzDrops {
		e.open(tb, d)
	}
	if _, err := e.v.Ingest(context.Background(), srcA, Event{ID: "close-over", Type: TypeDropClose, Drop: "over", Channel: ChannelWebhook}); err != nil {
		tb.Fatal(err)
	}
	viewers, err := NewViewers(ViewersConfig{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := fs.ReadFile(web.FS, "claim.html")
	receipt, _ := fs.ReadFile(web.FS, "receipt.html")
	api, err := NewClaimsAPI(ClaimsAPIConfig{Claims: e.claims, Viewers: viewers, ClaimPage: page, ReceiptPage: receipt, Logger: zerolog.Nop()})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	fe := &fuzzEnv{claimEnv: e, h: mux, issued: map[string]string{}}

	// The claim page issues each device its cookie; each then claims.
	for i := range 3 {
		rec := fe.serve("GET", "/c/open-spring", "", nil, nil)
		var dev *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == DeviceCookie {
				dev = c
			}
		}
		if rec.Code != http.StatusOK || dev == nil {
			tb.Fatalf("claim page: %d, device cookie %v", rec.Code, dev)
		}
		fe.devices = append(fe.devices, dev)
		rec = fe.serve("POST", "/v1/claims", `{"code":"open-spring"}`, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "seed"}, dev)
		var res claimResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusCreated || res.Receipt == "" {
			tb.Fatalf("claim %d: %d %s", i, rec.Code, rec.Body)
		}
		fe.issued[res.Receipt] = res.ClaimID
		fe.receipts, fe.ids = append(fe.receipts, res.Receipt), append(fe.ids, res.ClaimID)
	}
	// A buyer, from its own device, takes the only unit of "gone".
	var buyer *http.Cookie
	for _, c := range fe.serve("GET", "/c/open-gone", "", nil, nil).Result().Cookies() {
		if c.Name == DeviceCookie {
			buyer = c
		}
	}
	rec := fe.serve("POST", "/v1/claims", `{"code":"open-gone"}`, map[string]string{"Content-Type": "application/json"}, buyer)
	if rec.Code != http.StatusCreated {
		tb.Fatalf("buy the last unit of gone: %d %s", rec.Code, rec.Body)
	}
	return fe
}

// serve runs one request through the API's handler.
func (fe *fuzzEnv) serve(method, path, body string, h map[string]string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	fe.h.ServeHTTP(rec, req)
	return rec
}

// snapshot is what a claim can change: the stock hash and the outbox
// length of each drop, and the units left (Claims.Stock: a line without a
// count in the hash yet has all its stock left).
type snapshot struct {
	stock  map[string]map[string]int64
	outbox map[string]int64
	units  int64
}

func (fe *fuzzEnv) snapshot(tb testing.TB) snapshot {
	tb.Helper()
	s := snapshot{stock: map[string]map[string]int64{}, outbox: map[string]int64{}}
	for _, d := range fuzzDrops {
		s.stock[d] = fe.stockLeft(tb, d)
		n, err := fe.st.OutboxLen(context.Background(), store.DropKey(d, "outbox"))
		if err != nil {
			tb.Fatal(err)
		}
		s.outbox[d] = n
		drop, err := fe.claims.drops.Drop(context.Background(), d)
		if err != nil {
			tb.Fatal(err)
		}
		lines, err := fe.claims.Stock(context.Background(), drop)
		if err != nil {
			tb.Fatal(err)
		}
		for _, l := range lines {
			s.units += l.Left
		}
	}
	return s
}

func (s snapshot) equal(o snapshot) bool {
	for _, d := range fuzzDrops {
		if !maps.Equal(s.stock[d], o.stock[d]) || s.outbox[d] != o.outbox[d] {
			return false
		}
	}
	return s.units == o.units
}

func (s snapshot) outboxes() (n int64) {
	for _, v := range s.outbox {
		n += v
	}
	return n
}

// checkProblem asserts rec is an RFC 9457 problem matching its status.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("%d answered with Content-Type %q, want %q: %s", rec.Code, ct, problem.ContentType, rec.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("%d problem body is not JSON: %v: %q", rec.Code, err, rec.Body)
	}
	for _, k := range []string{"type", "title", "code"} {
		if s, _ := p[k].(string); s == "" {
			t.Fatalf("%d problem has no %q: %s", rec.Code, k, rec.Body)
		}
	}
	if st, ok := p["status"].(float64); !ok || int(st) != rec.Code {
		t.Fatalf("problem status %v does not match the HTTP status %d: %s", p["status"], rec.Code, rec.Body)
	}
	return p
}

var claimStatuses = map[int]bool{200: true, 201: true, 400: true, 403: true, 404: true, 409: true, 410: true, 413: true, 415: true, 429: true}

// FuzzClaimRequest sends arbitrary bodies, Idempotency-Keys and
// Content-Types to POST /v1/claims, as a client without the device cookie
// (dev%4 == 3: it never opened the claim page) or as one of three devices
// that have claimed already.
// Every answer has an expected status; every 4xx is a problem+json whose
// status matches; a 400 (and every other refusal, 200 included) leaves the
// stock and the outbox as they were; a 201 takes exactly one unit, writes
// one outbox entry and returns a receipt that verifies.
func FuzzClaimRequest(f *testing.F) {
	fe := newFuzzEnv(f)
	huge := strings.Repeat("x", 5000)
	for _, s := range []struct {
		body, key, ct string
		dev           uint8
	}{
		{`{"code":"open-spring"}`, "try-1", "application/json", 3},
		{`{"code":"open-spring","node":"south"}`, "", "application/json", 3},
		{`{"code":"open-spring","region":"eu-west","viewer":"v"}`, "", "application/json", 3},
		{`{"code":"open-spring"}`, "seed", "application/json", 0},  // a retry: 200
		{`{"code":"open-spring"}`, "try-2", "application/json", 1}, // 409
		{`{"code":"open-gone"}`, "", "application/json", 3},
		{`{"code":"open-spring","node":"west"}`, "", "application/json", 3},
		{`{"code":"open-spring","node":"mars"}`, "k", "application/json", 3},
		{`{"code":"open-gone"}`, "", "application/json", 1},
		{`{"code":"open-over"}`, "", "application/json", 1},
		{`{"code":"expired-spring"}`, "", "application/json", 1},
		{`{"code":"ZZZZZZZZZZ"}`, "", "application/json", 1},
		{`{"code":"open-nosuchdrop"}`, "", "application/json", 1},
		{``, "", "", 0},
		{`{}`, "", "application/json", 3},
		{`null`, "", "application/json", 0},
		{`[]`, "", "application/json", 0},
		{`[{"code":"open-spring"}]`, "", "application/json", 0},
		{`"open-spring"`, "", "application/json", 0},
		{`{"code":"open-spring","viewer":"` + huge + `"}`, "", "application/json", 0},
		{`{"code":"open-` + strings.Repeat("s", 80) + `"}`, "", "application/json", 0},
		{`{"code":5}`, "", "application/json", 0},
		{`{"code":["open-spring"]}`, "", "application/json", 0},
		{`{"code":true,"node":1,"region":null}`, "", "application/json", 0},
		{"{\"code\":\"open-\xff\xfe\"}", "", "application/json", 0},
		{"\xff\xfe\xfd", "", "text/plain", 0},
		{`{"code":{"code":{"code":"open-spring"}}}`, "", "application/json", 0},
		{`{"code":"open-spring","qty":5}`, "", "application/json", 3},
		{`{"code":"open-spring"}{"code":"open-spring"}`, "", "application/json", 0},
		{`{"code":"open-spring"}`, "bad key!", "application/json", 0},
		{`{"code":"open-spring"}`, strings.Repeat("k", 65), "application/json", 0},
		{`code=open-spring`, "", "application/x-www-form-urlencoded", 0},
		{`{"code":"open-spring","Code":"open-gone"}`, "", "application/json", 2},
		{`{"code":"open-spring\u0000"}`, "", "application/json", 2},
	} {
		f.Add([]byte(s.body), s.key, s.ct, s.dev)
	}

	f.Fuzz(func(t *testing.T, body []byte, key, ct string, dev uint8) {
		h := map[string]string{}
		if ct != "" {
			h["Content-Type"] = ct
		}
		if key != "" {
			h["Idempotency-Key"] = key
		}
		before := fe.snapshot(t)
		var cookie *http.Cookie
		if i := int(dev) % 4; i < len(fe.devices) {
			cookie = fe.devices[i]
		}
		rec := fe.serve("POST", "/v1/claims", string(body), h, cookie)
		after := fe.snapshot(t)

		if !claimStatuses[rec.Code] {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			checkProblem(t, rec)
		}
		switch rec.Code {
		case http.StatusCreated:
			if after.units != before.units-1 || after.outboxes() != before.outboxes()+1 {
				t.Fatalf("a created claim took %d units and wrote %d outbox entries, want 1 and 1",
					before.units-after.units, after.outboxes()-before.outboxes())
			}
			fallthrough
		case http.StatusOK:
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%d answered with Content-Type %q", rec.Code, ct)
			}
			var res claimResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.ClaimID == "" || res.Receipt == "" {
				t.Fatalf("%d body %s: %v", rec.Code, rec.Body, err)
			}
			rc, err := fe.rc.Verify(context.Background(), res.Receipt)
			if err != nil || rc.ClaimID != res.ClaimID {
				t.Fatalf("the receipt of %s does not verify: %v %+v", res.ClaimID, err, rc)
			}
		}
		if rec.Code != http.StatusCreated && !after.equal(before) {
			t.Fatalf("a %d answer changed the store: stock %v → %v, outbox %v → %v: %s",
				rec.Code, before.stock, after.stock, before.outbox, after.outbox, rec.Body)
		}
	})
}

// FuzzReceiptVerify gives arbitrary tokens to Receipts.Verify and, as
// Authorization: Bearer, to GET /v1/claims/{id}. Only a receipt the
// service issued is accepted: its header and claims byte for byte, in
// canonical compact form. The one other spelling is the signature's other
// ECDSA form (s → N−s), which verifies by ECDSA's nature and says the
// same. Anything else is refused with ErrBadReceipt and a 401 problem.
func FuzzReceiptVerify(f *testing.F) {
	fe := newFuzzEnv(f)
	ctx := context.Background()

	// Real receipts: newFuzzEnv claimed through the API as three devices.
	issued, receipts, ids := fe.issued, fe.receipts, fe.ids
	id, valid := ids[0], receipts[0]
	parts := strings.Split(valid, ".")
	if len(parts) != 3 {
		f.Fatalf("receipt %q is not a compact JWS", valid)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		f.Fatal(err)
	}
	var head struct{ Kid string }
	if err := json.Unmarshal(hdr, &head); err != nil || head.Kid == "" {
		f.Fatalf("receipt header %s: %v", hdr, err)
	}
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}

	// signedPart → claim id: what an accepted token must carry.
	signed := map[string]string{}
	for tok, claim := range issued {
		signed[tok[:strings.LastIndexByte(tok, '.')]] = claim
	}

	f.Add(valid)
	f.Add(receipts[1]) // valid, but for another claim than the one read
	// The same receipt spelled otherwise: every decoder behind a JWS
	// library takes some of these; Verify takes none.
	std := strings.NewReplacer("-", "+", "_", "/")
	sig := parts[2]
	last := sig[len(sig)-1]
	f.Add(valid + "\n")
	f.Add(parts[0] + "." + parts[1] + "." + sig[:10] + "\r\n" + sig[10:])
	f.Add(parts[0] + "==." + parts[1] + "." + sig)
	f.Add(valid + "==")
	f.Add(parts[0] + "." + parts[1] + "." + std.Replace(sig))
	f.Add(parts[0] + "." + parts[1] + "." + sig[:len(sig)-1] + string(last^1))
	// The other ECDSA form of the signature: accepted, same content.
	if rs, err := base64.RawURLEncoding.DecodeString(sig); err == nil && len(rs) == 64 {
		n := elliptic.P256().Params().N
		sv := new(big.Int).Sub(n, new(big.Int).SetBytes(rs[32:]))
		other := append(append([]byte(nil), rs[:32]...), sv.FillBytes(make([]byte, 32))...)
		f.Add(parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(other))
	}
	for i := range parts {
		p := append([]string(nil), parts...)
		mid := len(p[i]) / 2
		c := byte('A')
		if p[i][mid] == 'A' {
			c = 'B'
		}
		p[i] = p[i][:mid] + string(c) + p[i][mid+1:]
		f.Add(strings.Join(p, "."))
	}
	// alg none, with and without a signature part.
	none := b64(map[string]string{"alg": "none", "typ": "JWT", "kid": head.Kid})
	f.Add(none + "." + parts[1] + ".")
	f.Add(none + "." + parts[1] + "." + parts[2])
	// HS256 keyed with the published JWKS (key confusion) and with a guess.
	jwks, err := fe.rc.JWKS(ctx)
	if err != nil {
		f.Fatal(err)
	}
	for _, secret := range [][]byte{jwks, []byte("secret")} {
		in := b64(map[string]string{"alg": "HS256", "typ": "JWT", "kid": head.Kid}) + "." + parts[1]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		f.Add(in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
	}
	// ES256 with another key under the published kid.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := jwk.FromRaw(other)
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, head.Kid)
	_ = h.Set(jws.TypeKey, "JWT")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged, err := jws.Sign(payload, jws.WithKey(jwa.ES256, otherKey, jws.WithProtectedHeaders(h)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(forged))
	for _, s := range []string{
		"", "garbage", "a.b.c", "..", "...", parts[0], parts[0] + "." + parts[1], valid + ".", valid + "." + parts[2],
		parts[1] + "." + parts[0] + "." + parts[2], strings.Repeat("A", 5000), `{"payload":"x","signatures":[]}`,
		b64(map[string]string{"alg": "ES256"}) + "." + parts[1] + "." + parts[2],
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		_, isIssued := issued[token]
		rc, err := fe.rc.Verify(ctx, token)
		switch {
		case isIssued && (err != nil || rc.ClaimID != issued[token]):
			t.Fatalf("an issued receipt of %s is refused: %v %+v", issued[token], err, rc)
		case err == nil:
			i := strings.LastIndexByte(token, '.')
			if claim, ok := signed[token[:max(i, 0)]]; i < 0 || !ok || claim != rc.ClaimID || !canonicalB64URL(token[i+1:]) {
				t.Fatalf("Verify accepted %q, which the service did not issue (claims %+v)", token, rc)
			}
		case !errors.Is(err, ErrBadReceipt):
			t.Fatalf("Verify refused %q with %v, not ErrBadReceipt", token, err)
		}

		// The handler trims the header value, as HTTP strips a field's
		// surrounding whitespace anyway.
		trimmed := strings.TrimSpace(token)
		rc, err = fe.rc.Verify(ctx, trimmed)
		rec := fe.serve("GET", "/v1/claims/"+id, "", map[string]string{"Authorization": "Bearer " + token}, nil)
		if err == nil && rc.ClaimID == id {
			if rec.Code != http.StatusOK {
				t.Fatalf("GET with the claim's receipt: %d %s", rec.Code, rec.Body)
			}
			return
		}
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("GET with %q: %d %s", token, rec.Code, rec.Body)
		}
		checkProblem(t, rec)
	})
}
