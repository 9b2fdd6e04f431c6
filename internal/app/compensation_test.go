package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// compensationApp runs the demo configuration, as if read from a file in
// a temporary directory that holds the codes files, on a Redis store.
func compensationApp(t *testing.T, files map[string]string) (*App, *httptest.Server, *config.Config) {
	t.Helper()
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.File = filepath.Join(dir, "dropwire.yaml")
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, srv := adminApp(t, cfg, storetest.Redis(t))
	return a, srv, cfg
}

// failPickup writes a claim of drop as verifier.Claims does, then has the
// drop's node report the pickup failed through its signed callback, and
// returns the claim as stored afterwards.
func failPickup(t *testing.T, a *App, srv *httptest.Server, cfg *config.Config, drop string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st := a.Store()
	now := time.Now()
	var rnd [10]byte
	_, _ = rand.Read(rnd[:])
	id := drop + "." + strings.ToLower(base32.StdEncoding.EncodeToString(rnd[:]))
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	code := fmt.Sprintf("C%07d", now.UnixNano()%1e7)
	if err := st.HSet(ctx, store.DropKey(drop, "claim", id), map[string]string{"id": id, "drop": drop,
		"state": "claimed", "node": config.DemoNode, "sku": config.DemoSKU, "tier": "standard", "pickup_code": code,
		"pickup_by": ms, "created_at": ms}); err != nil {
		t.Fatal(err)
	}
	if err := st.HSet(ctx, store.DropKey(drop, "pickup"), map[string]string{config.DemoNode + ":" + code: id}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"type": "claim.failed", "claim": id, "reason": "locker jammed"})
	signer, err := sdkhooks.NewSigner(cfg.Nodes[0].Secret)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/fulfillment/"+config.DemoNode+"/events", bytes.NewReader(body))
	req.Header = signer.Headers("cb-"+id, time.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("claim.failed callback: %d %s", res.StatusCode, b)
	}
	h, err := st.HGetAll(ctx, store.DropKey(drop, "claim", id))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// putCodes uploads codes and decodes the answer (a result or a problem).
func putCodes(t *testing.T, srv *httptest.Server, token, drop, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/admin/drops/"+drop+"/compensation-codes", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func codeDrop(id, codesFile string, qty int) map[string]any {
	comp := map[string]any{"kind": "code"}
	if codesFile != "" {
		comp["codes_file"] = codesFile
	}
	return map[string]any{"id": id, "creator": config.DemoCreator, "title": "Promo",
		"stock": []map[string]any{{"node": config.DemoNode, "sku": config.DemoSKU, "qty": qty}}, "compensation": comp}
}

// A drop created through the admin API with a codes_file gets its pool at
// once: a failed pickup ends compensated with the file's first code (it
// ended pickup_failed / pool_empty before). Uploaded codes compensate the
// next failures.
func TestAdminDropGetsItsCompensationPool(t *testing.T) {
	a, srv, cfg := compensationApp(t, map[string]string{"codes.txt": "# spring promo\nPROMO-1\n"})
	tok := cfg.AdminToken

	var created admin.DropView
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", codeDrop("promo", "codes.txt", 10), &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h := failPickup(t, a, srv, cfg, "promo")
	if h["state"] != "compensated" || h["compensation_code"] != "PROMO-1" {
		t.Fatalf("failed pickup of an API drop: %v", h)
	}
	if c := created.Compensation; c.Kind != "code" || c.PoolLeft == nil || *c.PoolLeft != 1 || c.Low {
		t.Fatalf("created drop's compensation: %+v", c)
	}
	// The pool is empty now, and below 10 % of the stock.
	var v admin.DropView
	if adminCall(t, srv, tok, "GET", "/v1/admin/drops/promo", nil, &v); v.Compensation.PoolLeft == nil ||
		*v.Compensation.PoolLeft != 0 || !v.Compensation.Low {
		t.Fatalf("drop after the pool ran out: %+v", v.Compensation)
	}
	if h := failPickup(t, a, srv, cfg, "promo"); h["state"] != "pickup_failed" || h["compensation"] != "pool_empty" {
		t.Fatalf("failed pickup with an empty pool: %v", h)
	}

	code, res := putCodes(t, srv, tok, "promo", "text/plain; charset=utf-8", "PROMO-1\nPROMO-2\r\nPROMO-3\nPROMO-2\n")
	if code != 200 || res["received"] != 3.0 || res["added"] != 2.0 || res["available"] != 2.0 || res["low"] != false {
		t.Fatalf("upload: %d %v", code, res)
	}
	// The same list again adds nothing; PROMO-1 was handed out and stays out.
	if code, res := putCodes(t, srv, tok, "promo", "text/plain", "PROMO-1\nPROMO-2\nPROMO-3\n"); code != 200 || res["added"] != 0.0 || res["available"] != 2.0 {
		t.Fatalf("upload repeated: %d %v", code, res)
	}
	if h := failPickup(t, a, srv, cfg, "promo"); h["state"] != "compensated" || h["compensation_code"] != "PROMO-2" {
		t.Fatalf("failed pickup after the upload: %v", h)
	}

	// A test drop of it hands out none of its codes: they are the real
	// drop's.
	var test admin.TestResult
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/promo/test", map[string]any{"qty": 2}, &test); code != 201 {
		t.Fatalf("test drop: %d", code)
	}
	if c := test.Drop.Compensation; c.Kind != "none" || c.PoolLeft != nil {
		t.Fatalf("test drop's compensation: %+v", c)
	}
	if h := failPickup(t, a, srv, cfg, test.Drop.ID); h["state"] != "pickup_failed" || h["compensation"] != "none" {
		t.Fatalf("failed pickup of the test drop: %v", h)
	}
	if adminCall(t, srv, tok, "GET", "/v1/admin/drops/promo", nil, &v); *v.Compensation.PoolLeft != 1 {
		t.Fatalf("the real drop's pool after the test drop: %+v", v.Compensation)
	}
}

// What the codes_file of an API drop may be, and what an upload may hold:
// each mistake is a specific problem and changes nothing.
func TestCompensationCodesMistakes(t *testing.T) {
	_, srv, cfg := compensationApp(t, map[string]string{"empty.txt": "# none yet\n", "bad.txt": "OK-1\nBAD\x01\n"})
	tok := cfg.AdminToken
	for _, tc := range []struct {
		file, msg string
	}{
		{"missing.txt", `"missing.txt" does not exist`},
		{"empty.txt", `"empty.txt" holds no codes`},
		{"bad.txt", `"bad.txt" line 2: the code holds a control`},
		{"../codes.txt", "must be a relative path inside the configuration file's directory"},
		{"/etc/hostname", "must be a relative path inside the configuration file's directory"},
	} {
		var p struct {
			Code     string
			Problems []map[string]string
		}
		id := "bad-" + strconv.Itoa(len(tc.file))
		if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", codeDrop(id, tc.file, 10), &p); code != 422 ||
			p.Code != "invalid_drop" || len(p.Problems) != 1 || p.Problems[0]["path"] != "drop.compensation.codes_file" ||
			!strings.Contains(p.Problems[0]["message"], tc.msg) {
			t.Errorf("codes_file %q: %d %+v", tc.file, code, p)
		}
		if code := adminCall(t, srv, tok, "GET", "/v1/admin/drops/"+id, nil, nil); code != 404 {
			t.Errorf("codes_file %q: the refused drop exists (%d)", tc.file, code)
		}
	}

	// Kind code without a file: accepted, with an empty (low) pool.
	var v admin.DropView
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", codeDrop("later", "", 10), &v); code != 201 ||
		v.Compensation.PoolLeft == nil || *v.Compensation.PoolLeft != 0 || !v.Compensation.Low {
		t.Fatalf("code drop without a file: %d %+v", code, v.Compensation)
	}
	big := strings.Repeat("0123456789abcdef\n", (1<<20)/17+1)
	for _, tc := range []struct {
		name, drop, ct, body string
		status               int
		code                 string
		line                 float64
	}{
		{"unknown drop", "nope", "text/plain", "A\n", 404, "unknown_drop", 0},
		{"drop without code compensation", config.DemoDrop, "text/plain", "A\n", 409, "not_code_compensation", 0},
		{"JSON body", "later", "application/json", `["A"]`, 415, "unsupported_media_type", 0},
		{"no content type", "later", "", "A\n", 415, "unsupported_media_type", 0},
		{"latin-1", "later", "text/plain; charset=iso-8859-1", "A\n", 415, "unsupported_media_type", 0},
		{"empty body", "later", "text/plain", "", 400, "no_codes", 0},
		{"only comments", "later", "text/plain", "# soon\n\n", 400, "no_codes", 0},
		{"control character", "later", "text/plain", "A-1\nA-2\nA\x1b[0m\n", 400, "invalid_code", 3},
		{"too long", "later", "text/plain", strings.Repeat("x", 129), 400, "invalid_code", 1},
		{"over 1 MiB", "later", "text/plain", big, 413, "payload_too_large", 0},
	} {
		code, res := putCodes(t, srv, tok, tc.drop, tc.ct, tc.body)
		if code != tc.status || res["code"] != tc.code || (tc.line > 0 && res["line"] != tc.line) {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, res, tc.status, tc.code)
		}
	}
	if adminCall(t, srv, tok, "GET", "/v1/admin/drops/later", nil, &v); *v.Compensation.PoolLeft != 0 {
		t.Fatalf("refused uploads added codes: %+v", v.Compensation)
	}
}

// /metrics reports each code-compensated drop's pool and whether it is
// low; drops of other kinds have no series.
func TestCompensationPoolMetrics(t *testing.T) {
	_, srv, cfg := compensationApp(t, map[string]string{"codes.txt": "A\nB\n"})
	if code := adminCall(t, srv, cfg.AdminToken, "POST", "/v1/admin/drops", codeDrop("stocked", "codes.txt", 10), nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := adminCall(t, srv, cfg.AdminToken, "POST", "/v1/admin/drops", codeDrop("short", "", 10), nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	want := `# HELP dropwire_compensation_pool_codes Compensation codes left in the pool of a drop with compensation kind code.
# TYPE dropwire_compensation_pool_codes gauge
dropwire_compensation_pool_codes{drop="short"} 0
dropwire_compensation_pool_codes{drop="stocked"} 2
# HELP dropwire_compensation_pool_low 1 while a drop's compensation pool holds fewer codes than 10% of its stock (alert on it).
# TYPE dropwire_compensation_pool_low gauge
dropwire_compensation_pool_low{drop="short"} 1
dropwire_compensation_pool_low{drop="stocked"} 0
`
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(want),
		"dropwire_compensation_pool_codes", "dropwire_compensation_pool_low"); err != nil {
		t.Fatal(err)
	}
}

// The dashboard, in a real browser, warns on the card of a drop whose
// pool is low, and on no other card; an upload clears the warning.
func TestDashboardWarnsOfLowPool(t *testing.T) {
	_, srv, cfg := compensationApp(t, map[string]string{"codes.txt": "A\nB\n"})
	tok := cfg.AdminToken
	for _, spec := range []map[string]any{codeDrop("stocked", "codes.txt", 10), codeDrop("short", "", 10)} {
		if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec, nil); code != 201 {
			t.Fatalf("create %s: %d", spec["id"], code)
		}
	}
	ctx := browsertest.New(t, browsertest.Options{Width: 1280, Height: 1000})
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(expression string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		})
	}
	do("sign in and see the warning",
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), tok),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`[data-drop="short"] .comp-warning`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-drop="stocked"] .stats`)),
	)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-drop="short"] .comp-warning`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Only 0 compensation codes left for 10 in stock") {
		t.Fatalf("warning %q", text)
	}
	for _, sel := range []string{`[data-drop="stocked"] .comp-warning`, `[data-drop="demo-drop"] .comp-warning`} {
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var w=document.querySelector('`+sel+
			`');return !!w && w.offsetParent !== null;})()`))
		if err != nil || shown {
			t.Fatalf("%s shown: %v %v", sel, shown, err)
		}
	}
	if code, res := putCodes(t, srv, tok, "short", "text/plain", "S-1\n"); code != 200 || res["low"] != false {
		t.Fatalf("upload: %d %v", code, res)
	}
	do("warning gone after the upload",
		poll(`document.querySelector('[data-drop="short"] .comp-warning').offsetParent === null`))
}

// A drop's compensation.value goes through the admin API as in the file:
// taken as a number or a string, shown back, checked with the file's
// checks (each mistake its path, nothing created).
func TestAdminDropCompensationValue(t *testing.T) {
	_, srv, cfg := compensationApp(t, nil)
	tok := cfg.AdminToken
	withValue := func(id string, value any) map[string]any {
		d := codeDrop(id, "", 10)
		d["compensation"].(map[string]any)["value"] = value
		return d
	}
	for _, tc := range []struct {
		id     string
		value  any
		amount string
	}{
		{"valued-number", map[string]any{"amount": 2.5, "currency": "EUR"}, "2.5"},
		{"valued-string", map[string]any{"amount": "2.50", "currency": "USD"}, "2.50"},
	} {
		var v admin.DropView
		if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", withValue(tc.id, tc.value), &v); code != 201 {
			t.Fatalf("%s: create: %d", tc.id, code)
		}
		var got admin.DropView
		adminCall(t, srv, tok, "GET", "/v1/admin/drops/"+tc.id, nil, &got)
		cur := tc.value.(map[string]any)["currency"]
		for _, c := range []admin.CompensationView{v.Compensation, got.Compensation} {
			if c.Value == nil || string(c.Value.Amount) != tc.amount || c.Value.Currency != cur {
				t.Errorf("%s: value shown as %+v", tc.id, c.Value)
			}
		}
	}
	for _, tc := range []struct {
		value any
		want  map[string]string // path → part of the message
	}{
		{map[string]any{"amount": "-1", "currency": "EUR"}, map[string]string{"drop.compensation.value.amount": "must not be negative"}},
		{map[string]any{"amount": 1.255, "currency": "eur"}, map[string]string{
			"drop.compensation.value.amount": "at most 2 decimals", "drop.compensation.value.currency": "ISO 4217"}},
		{map[string]any{"amount": "3"}, map[string]string{"drop.compensation.value.currency": "is required with amount"}},
	} {
		var p struct {
			Code     string
			Problems []map[string]string
		}
		if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", withValue("bad-value", tc.value), &p); code != 422 ||
			p.Code != "invalid_drop" || len(p.Problems) != len(tc.want) {
			t.Errorf("value %v: %d %+v", tc.value, code, p)
			continue
		}
		for _, got := range p.Problems {
			if !strings.Contains(got["message"], tc.want[got["path"]]) || tc.want[got["path"]] == "" {
				t.Errorf("value %v: problem %v, want %v", tc.value, got, tc.want)
			}
		}
		if code := adminCall(t, srv, tok, "GET", "/v1/admin/drops/bad-value", nil, nil); code != 404 {
			t.Errorf("value %v: the refused drop exists (%d)", tc.value, code)
		}
	}
	var p struct{ Code string }
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", withValue("bad-type", map[string]any{"amount": true, "currency": "EUR"}), &p); code != 400 || p.Code != "malformed_request" {
		t.Errorf("amount true: %d %+v", code, p)
	}
}
