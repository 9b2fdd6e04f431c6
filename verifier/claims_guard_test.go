package verifier

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A device or email drop is claimed from its claim page: a POST without
// the signed cookie that page sets, or with a forged one, is refused with
// device_required and takes nothing; after opening the page it claims.
func TestClaimNeedsDeviceCookie(t *testing.T) {
	mail := claimDrop("mail", 5)
	mail.Identity = config.IdentityEmail
	e := newAPIEnv(t, storetest.Redis(t), ViewersConfig{}, nil, claimDrop("spring", 5), mail)
	e.open(t, "spring")
	e.open(t, "mail")
	for _, tc := range []struct{ drop, body string }{
		{"spring", `{"code":"open-spring"}`},
		{"mail", `{"code":"open-mail","viewer":"ava@example.com"}`},
	} {
		for _, cookie := range []string{"", DeviceCookie + "=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", DeviceCookie + "=garbage"} {
			stock, outbox := e.counts(t, tc.drop)
			h := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k1"}
			if cookie != "" {
				h["Cookie"] = cookie
			}
			r := e.do(t, &http.Client{Timeout: 10 * time.Second}, "POST", "/v1/claims", tc.body, h)
			if r.status != 403 || r.body["code"] != "device_required" {
				t.Fatalf("%s with cookie %q: %d %v", tc.drop, cookie, r.status, r.body)
			}
			if set := r.header.Get("Set-Cookie"); set != "" {
				t.Fatalf("%s: a refused claim minted a device: %s", tc.drop, set)
			}
			if stock2, outbox2 := e.counts(t, tc.drop); outbox2 != outbox || stock2["north:pack"] != stock["north:pack"] {
				t.Fatalf("%s: refused claim changed the store", tc.drop)
			}
		}
		// The browser flow: the page, then the claim.
		v := viewerClient(t)
		if p := e.do(t, v, "GET", "/c/open-"+tc.drop, "", nil); p.status != 200 {
			t.Fatalf("%s page: %d", tc.drop, p.status)
		}
		if r := e.do(t, v, "POST", "/v1/claims", tc.body, map[string]string{"Content-Type": "application/json"}); r.status != 201 {
			t.Fatalf("%s after the page: %d %v", tc.drop, r.status, r.body)
		}
	}
}

// scriptData returns the claim page's script data.
func scriptData(t *testing.T, html string) map[string]any {
	t.Helper()
	const open = `<script id="dw-data" type="application/json">`
	i := strings.Index(html, open)
	j := strings.Index(html[i+len(open):], "</script>")
	if i < 0 || j < 0 {
		t.Fatalf("no page data in %s", html)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(html[i+len(open):i+len(open)+j]), &d); err != nil {
		t.Fatalf("page data: %v", err)
	}
	return d
}

// solve finds a nonce for a challenge, as claim.js does.
func solve(challenge string, bits int) string {
	for n := 0; ; n++ {
		s := strconv.Itoa(n)
		if ZeroBits(sha256.Sum256([]byte(challenge+":"+s))) >= bits {
			return s
		}
	}
}

// With claim_pow_bits, the claim page hands out a challenge bound to the
// device and the drop; a claim needs its solution. Missing, wrong, or
// another device's solution: 403 and nothing taken. Token drops (API
// clients with their own login) are not asked.
func TestClaimProofOfWork(t *testing.T) {
	const bits = 10
	tok := claimDrop("tok", 5)
	tok.Identity = config.IdentityToken
	e := newAPIEnv(t, storetest.Redis(t), ViewersConfig{}, func(c *ClaimsAPIConfig) { c.PowBits = bits },
		claimDrop("spring", 5), claimDrop("other", 5), tok)
	for _, d := range []string{"spring", "other", "tok"} {
		e.open(t, d)
	}
	challenge := func(v *http.Client, drop string) string {
		p := e.do(t, v, "GET", "/c/open-"+drop, "", nil)
		pow, _ := scriptData(t, p.body["html"].(string))["pow"].(map[string]any)
		if pow == nil || pow["bits"] != float64(bits) {
			t.Fatalf("page of %s has no challenge: %v", drop, pow)
		}
		return pow["challenge"].(string)
	}
	alice, mallory := viewerClient(t), viewerClient(t)
	ch := challenge(alice, "spring")
	otherDrop := challenge(alice, "other")
	mallorys := challenge(mallory, "spring")
	wrong := "0"
	for ZeroBits(sha256.Sum256([]byte(ch+":"+wrong))) >= bits {
		wrong += "0"
	}
	post := func(v *http.Client, pow string) reply {
		return e.do(t, v, "POST", "/v1/claims", `{"code":"open-spring"`+pow+`}`, map[string]string{"Content-Type": "application/json"})
	}
	for _, tc := range []struct {
		name, pow, code string
	}{
		{"no proof", ``, "pow_required"},
		{"wrong nonce", `,"pow":{"challenge":"` + ch + `","nonce":"` + wrong + `"}`, "pow_invalid"},
		{"another drop's challenge", `,"pow":{"challenge":"` + otherDrop + `","nonce":"` + solve(otherDrop, bits) + `"}`, "pow_invalid"},
		{"another device's challenge", `,"pow":{"challenge":"` + mallorys + `","nonce":"` + solve(mallorys, bits) + `"}`, "pow_invalid"},
		{"a challenge asking less", `,"pow":{"challenge":"` + strings.Replace(ch, "."+strconv.Itoa(bits)+".", ".1.", 1) + `","nonce":"0"}`, "pow_invalid"},
	} {
		stock, outbox := e.counts(t, "spring")
		if r := post(alice, tc.pow); r.status != 403 || r.body["code"] != tc.code {
			t.Fatalf("%s: %d %v, want 403 %s", tc.name, r.status, r.body, tc.code)
		}
		if stock2, outbox2 := e.counts(t, "spring"); outbox2 != outbox || stock2["north:pack"] != stock["north:pack"] {
			t.Fatalf("%s changed the store", tc.name)
		}
	}
	if r := post(alice, `,"pow":{"challenge":"`+ch+`","nonce":"`+solve(ch, bits)+`"}`); r.status != 201 {
		t.Fatalf("solved: %d %v", r.status, r.body)
	}
	// A viewer token drop asks for none.
	v := viewerClient(t)
	if p := scriptData(t, e.do(t, v, "GET", "/c/open-tok", "", nil).body["html"].(string)); p["pow"] != nil {
		t.Fatalf("token drop page has a challenge: %v", p["pow"])
	}
}

// A challenge is good for PowTTL after the page issued it.
func TestPowChallengeExpires(t *testing.T) {
	now := time.Now()
	v, err := NewViewers(ViewersConfig{Store: storetest.Memory(t), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ch, err := v.PowChallenge(ctx, "dev", "spring", 4)
	if err != nil {
		t.Fatal(err)
	}
	nonce := solve(ch, 4)
	if err := v.CheckPow(ctx, "dev", "spring", ch, nonce, 4); err != nil {
		t.Fatal(err)
	}
	now = now.Add(PowTTL + time.Second)
	if err := v.CheckPow(ctx, "dev", "spring", ch, nonce, 4); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after PowTTL: %v", err)
	}
}

// A viewer who opens the page of a sold-out drop and claims anyway (a
// script, or a page left open) is told it is sold out, not that it lacks
// a device: the sold-out page sets the cookie too.
func TestSoldOutPageClaimSaysSoldOut(t *testing.T) {
	e := newAPIEnv(t, storetest.Redis(t), ViewersConfig{}, nil, claimDrop("gone", 1))
	e.open(t, "gone")
	if r := e.claim(t, viewerClient(t), "open-gone", "k1"); r.status != 201 {
		t.Fatalf("last unit: %d %v", r.status, r.body)
	}
	late := viewerClient(t)
	if p := e.do(t, late, "GET", "/c/open-gone", "", nil); !strings.Contains(p.body["html"].(string), "Sold out") {
		t.Fatalf("page after the last unit: %d", p.status)
	}
	if r := e.do(t, late, "POST", "/v1/claims", `{"code":"open-gone"}`, map[string]string{"Content-Type": "application/json"}); r.status != 410 || r.body["code"] != "sold_out" {
		t.Fatalf("claim from the sold-out page: %d %v", r.status, r.body)
	}
}
