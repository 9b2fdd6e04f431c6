package verifier

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// pageData is the JSON the claim page hands its script.
func pageData(t *testing.T, page string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script id="dw-data" type="application/json">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no data block in\n%s", page)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
		t.Fatalf("data block: %v: %s", err, m[1])
	}
	return d
}

// Every state of the claim page carries the same strict headers, and the
// page runs no script but its own file (the data block is JSON, which a
// browser does not run).
func TestClaimPageHeaders(t *testing.T) {
	pictured := claimDrop("pic", 3)
	pictured.Image = "https://cdn.example:8443/pack.png"
	e := newAPIEnv(t, storetest.Memory(t), ViewersConfig{}, nil, claimDrop("spring", 3), claimDrop("gone", 1), pictured)
	e.open(t, "spring")
	e.open(t, "gone")
	e.open(t, "pic")
	if r := e.claim(t, viewerClient(t), "open-gone", "k"); r.status != 201 {
		t.Fatalf("last unit: %d", r.status)
	}
	for _, tc := range []struct {
		path   string
		status int
		img    string
	}{
		{"/c/open-spring", 200, "img-src 'self';"},
		{"/c/open-gone", 200, "img-src 'self';"},
		{"/c/expired-spring", 403, "img-src 'self';"},
		{"/c/ZZZZZZZZZZ", 404, "img-src 'self';"},
		{"/c/open-pic", 200, "img-src 'self' https://cdn.example:8443;"},
	} {
		r := e.do(t, viewerClient(t), "GET", tc.path, "", nil)
		h := r.header
		csp := h.Get("Content-Security-Policy")
		if r.status != tc.status || !strings.HasPrefix(csp, "default-src 'none'; script-src 'self'; style-src 'self'; ") ||
			!strings.Contains(csp, tc.img) || !strings.Contains(csp, "frame-ancestors 'none'") ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %v", tc.path, r.status, h)
		}
		page := r.body["html"].(string)
		if !strings.Contains(page, `<html lang="en">`) {
			t.Errorf("GET %s: no lang", tc.path)
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
			if !strings.Contains(tag, `type="application/json"`) && !strings.Contains(tag, ` src="/static/claim.js`) {
				t.Errorf("GET %s: a script the policy would have to allow: %s", tc.path, tag)
			}
		}
	}
}

// Before claiming, the page says what the viewer gets and on what terms,
// all of it escaped as text.
func TestClaimPageShowsTheOffer(t *testing.T) {
	d := claimDrop("spring", 5, 0, 2)
	d.Title = "Spring <b>pack</b>"
	d.Description = "Three stickers.\n<script>alert(1)</script>"
	d.Image = "/i/0123456789abcdef0123456789abcdef.png"
	d.Compensation = config.Compensation{Kind: config.CompensationCode}
	e := newAPIEnv(t, storetest.Memory(t), ViewersConfig{}, nil, d)
	e.open(t, "spring")
	r := e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil)
	page := r.body["html"].(string)
	for _, want := range []string{
		`<img id="dw-image" src="/i/0123456789abcdef0123456789abcdef.png" alt="The reward: Spring &lt;b&gt;pack&lt;/b&gt;"`,
		"Three stickers.\n&lt;script&gt;alert(1)&lt;/script&gt;",
		`<h1 id="dw-title">Spring &lt;b&gt;pack&lt;/b&gt;</h1>`,
		"7 of 7 left", "This code works for",
		"North locker", "Pick up within 4 h", "West pop-up", "Pick up within 1 h",
		"If the pickup fails or is refused, you get a replacement code on your receipt.",
		"No sign-up: this phone is your ticket.", ">Claim it<",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not have %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Fatalf("unescaped description:\n%s", page)
	}
	// A node with none left is listed last, and cannot be chosen.
	if !regexp.MustCompile(`(?s)value="west">.*value="south" disabled>.*South shop`).MatchString(page) {
		t.Fatalf("the node with none left:\n%s", page)
	}
	data := pageData(t, page)
	until, err := time.Parse(time.RFC3339Nano, data["until"].(string))
	now, _ := time.Parse(time.RFC3339Nano, data["server_time"].(string))
	// fixedCodes says the code rotated in now: it works for qr_rotate
	// (default 20 s) plus scan_grace (0 here).
	if err != nil || until.Sub(now) != config.DefaultQRRotate {
		t.Fatalf("the code works until %v (server time %v): %v", until, now, err)
	}

	// Email: the field, labelled, with why it is asked.
	mail := claimDrop("mail", 1)
	mail.Identity = config.IdentityEmail
	e2 := newAPIEnv(t, storetest.Memory(t), ViewersConfig{Issuer: "https://login.example/auth"}, nil, mail, func() config.Drop {
		d := claimDrop("tok", 1)
		d.Identity = config.IdentityToken
		return d
	}())
	e2.open(t, "mail")
	e2.open(t, "tok")
	page = e2.do(t, viewerClient(t), "GET", "/c/open-mail", "", nil).body["html"].(string)
	if !regexp.MustCompile(`(?s)<label id="dw-email" class="dw-field">Your email\s*<input type="email"`).MatchString(page) ||
		!strings.Contains(page, "One claim per person") || strings.Contains(page, "this phone is your ticket") {
		t.Fatalf("email drop page:\n%s", page)
	}
	if page = e2.do(t, viewerClient(t), "GET", "/c/open-tok", "", nil).body["html"].(string); !strings.Contains(page, "Sign in with login.example to claim") {
		t.Fatalf("token drop page:\n%s", page)
	}
}

// Nodes with stock come first, the viewer's region first among them
// when it is known: from ?region=, else from the region cookie the page
// sets when the viewer chooses a node.
func TestClaimPageNodeOrder(t *testing.T) {
	e := newAPIEnv(t, storetest.Memory(t), ViewersConfig{}, nil, claimDrop("spring", 0, 3, 3))
	e.open(t, "spring")
	order := func(path string, cookie string) []string {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: RegionCookie, Value: cookie})
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var ids []string
		for _, m := range regexp.MustCompile(`<input type="radio" name="node" value="(\w+)"( checked)?( disabled)?`).FindAllStringSubmatch(string(b), -1) {
			ids = append(ids, m[1]+m[2]+m[3])
		}
		return ids
	}
	for _, tc := range []struct {
		path, cookie string
		want         []string
	}{
		{"/c/open-spring", "", []string{"south checked", "west", "north disabled"}},
		{"/c/open-spring?region=eu-west", "", []string{"west checked", "south", "north disabled"}},
		{"/c/open-spring", "eu-west", []string{"west checked", "south", "north disabled"}},
		{"/c/open-spring?region=eu-north", "", []string{"south checked", "west", "north disabled"}},
	} {
		if got := order(tc.path, tc.cookie); !slices.Equal(got, tc.want) {
			t.Errorf("%s (cookie %q): %v, want %v", tc.path, tc.cookie, got, tc.want)
		}
	}
}

// A device that claimed sees its receipt on every later visit of the
// drop's codes, never Claim it: open, sold out (by its own claim) or
// ended. For an email drop it is the device that claimed, not whoever
// types the address.
func TestClaimPageRevisit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		mail := claimDrop("mail", 5)
		mail.Identity = config.IdentityEmail
		two := claimDrop("two", 5)
		two.PerViewer = 2
		e := newAPIEnv(t, st, ViewersConfig{}, nil, claimDrop("last", 1), mail, two)
		for _, d := range []string{"last", "mail", "two"} {
			e.open(t, d)
		}
		claimed := func(c *http.Client, code string) (string, map[string]any) {
			t.Helper()
			r := e.do(t, c, "GET", "/c/"+code, "", nil)
			page := r.body["html"].(string)
			if r.status != 200 {
				t.Fatalf("%s: %d", code, r.status)
			}
			return page, pageData(t, page)
		}

		buyer := viewerClient(t)
		r := e.claim(t, buyer, "open-last", "k")
		if r.status != 201 {
			t.Fatalf("claim: %d %v", r.status, r.body)
		}
		id, pcode := r.body["claim_id"].(string), r.body["pickup_code"].(string)
		page, data := claimed(buyer, "open-last")
		c, _ := data["claimed"].(map[string]any)
		if c == nil || c["claim_id"] != id || strings.Contains(page, "Claim it") || strings.Contains(page, `id="dw-form"`) ||
			strings.Contains(page, "Sold out") || !strings.Contains(page, "You claimed this") ||
			!strings.Contains(page, pcode[:4]+"-"+pcode[4:]) || !strings.Contains(page, `href="/r/`+id+`"`) {
			t.Fatalf("the buyer of the last unit revisits:\n%s", page)
		}
		if rc := verifyReceipt(t, e.jwks(t), c["receipt"].(string), time.Now()); rc["cid"] != id {
			t.Fatalf("the revisit's receipt is for %v", rc["cid"])
		}
		// Anyone else: sold out.
		if page, data = claimed(viewerClient(t), "open-last"); data["claimed"] != nil || !strings.Contains(page, "Sold out at") {
			t.Fatalf("another viewer of a sold-out drop:\n%s", page)
		}
		// The drop ends: still the receipt.
		if _, err := e.v.Ingest(context.Background(), srcA, Event{ID: "close-last", Type: TypeDropClose, Drop: "last", Channel: ChannelWebhook}); err != nil {
			t.Fatal(err)
		}
		if r := e.do(t, buyer, "GET", "/c/open-last", "", nil); r.status != 200 || !strings.Contains(r.body["html"].(string), "You claimed this") {
			t.Fatalf("the buyer after the drop ended: %d %s", r.status, r.body["html"])
		}

		// Email: the claiming device sees its receipt; another device
		// that knows the address does not.
		phone := viewerClient(t)
		if r := e.claim(t, phone, "open-mail", "k", `,"viewer":"ava@example.com"`); r.status != 201 {
			t.Fatalf("email claim: %d %v", r.status, r.body)
		}
		if page, data = claimed(phone, "open-mail"); data["claimed"] == nil || strings.Contains(page, "Claim it") {
			t.Fatalf("the email claimant's device revisits:\n%s", page)
		}
		other := viewerClient(t)
		e.claim(t, other, "open-mail", "k2", `,"viewer":"ava@example.com"`) // 409, with nothing of the claim
		if page, data = claimed(other, "open-mail"); data["claimed"] != nil || !strings.Contains(page, "Claim it") {
			t.Fatalf("another device with the same address sees:\n%s", page)
		}

		// Two a viewer: the receipt, and the offer of another.
		v := viewerClient(t)
		e.claim(t, v, "open-two", "a")
		if page, data = claimed(v, "open-two"); data["claimed"] == nil || !strings.Contains(page, "Claim another") || !strings.Contains(page, `id="dw-form"`) {
			t.Fatalf("first of two:\n%s", page)
		}
		e.claim(t, v, "open-two", "b")
		if page, _ = claimed(v, "open-two"); strings.Contains(page, `id="dw-form"`) || !strings.Contains(page, "You claimed this") {
			t.Fatalf("second of two:\n%s", page)
		}
	})
}

// The claim that takes the last unit records when; the page says
// "sold out at" with that time, and the live status carries it.
func TestSoldOutAtRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newAPIEnv(t, st, ViewersConfig{}, nil, claimDrop("spring", 1, 1))
		e.open(t, "spring")
		ctx := context.Background()
		if r := e.claim(t, viewerClient(t), "open-spring", "a"); r.status != 201 {
			t.Fatalf("first: %d", r.status)
		}
		if at, err := st.HGet(ctx, store.DropKey("spring", "state"), "sold_out_at"); err == nil {
			t.Fatalf("sold_out_at %s with a unit left", at)
		}
		r := e.claim(t, viewerClient(t), "open-spring", "b")
		if r.status != 201 {
			t.Fatalf("last: %d", r.status)
		}
		cl, err := e.claims.Get(ctx, r.body["claim_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.claims.Preview(ctx, "open-spring")
		if err != nil || !p.SoldOut || !p.SoldOutAt.Equal(cl.CreatedAt) {
			t.Fatalf("preview: sold out %v at %v, want %v (%v)", p.SoldOut, p.SoldOutAt, cl.CreatedAt, err)
		}
		page := e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil).body["html"].(string)
		if !strings.Contains(page, `Sold out at <time class="dw-when dw-time" datetime="`+cl.CreatedAt.Format(time.RFC3339)+`">`) {
			t.Fatalf("sold-out page:\n%s", page)
		}
	})
}

// GET /v1/codes/{code} is the live part of the page: the same for every
// viewer (no cookie in, none out, a second in a shared cache), and
// nothing the page does not show.
func TestCodeStatus(t *testing.T) {
	e := newAPIEnv(t, storetest.Redis(t), ViewersConfig{}, nil, claimDrop("spring", 2, 1), claimDrop("over", 1))
	e.open(t, "spring")
	e.open(t, "over")
	get := func(code string) reply {
		t.Helper()
		return e.do(t, &http.Client{Timeout: 10 * time.Second}, "GET", "/v1/codes/"+code, "", nil)
	}
	r := get("open-spring")
	keys := slices.Sorted(maps.Keys(r.body))
	if r.status != 200 || r.body["status"] != "open" || r.body["left"] != 3.0 || r.body["total"] != 3.0 ||
		r.header.Get("Cache-Control") != "public, max-age=1" || r.header.Get("Set-Cookie") != "" ||
		!slices.Equal(keys, []string{"closes_at", "code_until", "left", "nodes", "server_time", "status", "total"}) {
		t.Fatalf("open: %d %v %v", r.status, r.body, r.header)
	}
	if nodes, _ := json.Marshal(r.body["nodes"]); string(nodes) != `[{"id":"north","left":2},{"id":"south","left":1}]` {
		t.Fatalf("nodes: %s", nodes)
	}
	e.claim(t, viewerClient(t), "open-spring", "a", `,"node":"south"`)
	if r = get("open-spring"); r.body["left"] != 2.0 {
		t.Fatalf("after a claim: %v", r.body)
	}
	e.claim(t, viewerClient(t), "open-spring", "b")
	e.claim(t, viewerClient(t), "open-spring", "c")
	if r = get("open-spring"); r.body["status"] != "sold_out" || r.body["sold_out_at"] == nil || r.body["left"] != 0.0 {
		t.Fatalf("sold out: %v", r.body)
	}
	if r = get("expired-over"); r.status != 200 || r.body["status"] != "expired" {
		t.Fatalf("expired: %d %v", r.status, r.body)
	}
	if _, err := e.v.Ingest(context.Background(), srcA, Event{ID: "close-over", Type: TypeDropClose, Drop: "over", Channel: ChannelWebhook}); err != nil {
		t.Fatal(err)
	}
	// The closing reaches the page with its announcement, as it reaches
	// overlays (the drop's state as last read is kept until then).
	settle(t, e.claims, e.st)
	if r = get("open-over"); r.body["status"] != "closed" {
		t.Fatalf("closed: %v", r.body)
	}
	if r = get("ZZZZZZZZZZ"); r.status != 404 || r.body["code"] != "unknown_code" {
		t.Fatalf("unknown: %d %v", r.status, r.body)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "4 h", 90 * time.Minute: "1 h 30 min", 45 * time.Minute: "45 min", 30 * time.Second: "1 min",
		48 * time.Hour: "2 days", 36 * time.Hour: "36 h", 24 * time.Hour: "24 h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// Pages are rendered once per view: the next viewer of the same code
// gets the same page with its own server time, and a page after a claim
// shows the stock the claim left.
func TestClaimPageRenderedOncePerView(t *testing.T) {
	e := newAPIEnv(t, storetest.Memory(t), ViewersConfig{}, nil, claimDrop("spring", 7))
	e.open(t, "spring")
	first := e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil).body["html"].(string)
	time.Sleep(2 * time.Millisecond)
	second := e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil).body["html"].(string)
	t1, t2 := pageData(t, first)["server_time"], pageData(t, second)["server_time"]
	if strings.Contains(first+second, serverTimeMark) || t1 == t2 {
		t.Fatalf("server times %v and %v", t1, t2)
	}
	// (fixedCodes has each code rotate in as it is scanned: until moves too.)
	strip := func(page string) string {
		d := pageData(t, page)
		return strings.NewReplacer(d["server_time"].(string), "", d["until"].(string), "").Replace(page)
	}
	if strip(first) != strip(second) {
		t.Fatalf("two viewers of one view got different pages:\n%s\n%s", first, second)
	}
	e.claim(t, viewerClient(t), "open-spring", "k")
	if page := e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil).body["html"].(string); !strings.Contains(page, "6 of 7 left") {
		t.Fatalf("after a claim:\n%s", page)
	}
}
