package verifier_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// compCodes are the compensation codes of the receipt tests' drop.
var compCodes = []string{"SORRY-7Q2M", "SORRY-K9XA", "SORRY-3TWB"}

// receiptEnv runs the whole app on loopback, as serveApp does, with its
// log captured (debug level: every request line) and every request the
// server received recorded.
type receiptEnv struct {
	t    *testing.T
	base string
	cfg  *config.Config
	logs *syncBuffer

	mu   sync.Mutex
	seen []string // each request: its request line, then its headers but Authorization
}

// syncBuffer is the app's log output.
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

// newReceiptEnv runs browserConfig with compCodes as the drop's codes
// file and hosted nodes (no url: no webhook, the forwarder moves each
// claim to forwarded at once); the tests act as the node through its
// signed callbacks.
func newReceiptEnv(t *testing.T, tune func(*config.Config)) *receiptEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &receiptEnv{t: t, base: "http://" + ln.Addr().String(), logs: &syncBuffer{}}
	cfg := browserConfig(t, e.base)
	codes := filepath.Join(t.TempDir(), "codes.txt")
	if err := os.WriteFile(codes, []byte(strings.Join(compCodes, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Drops[0].Compensation.CodesFile = codes
	for i := range cfg.Nodes {
		cfg.Nodes[i].URL = ""
	}
	if tune != nil {
		tune(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.New(e.logs).Level(zerolog.DebugLevel), Store: storetest.Redis(t)})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Server().Handler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString(r.Method + " " + r.RequestURI + " " + r.Proto + "\n")
		for k, v := range r.Header {
			if k != "Authorization" {
				b.WriteString(k + ": " + strings.Join(v, ", ") + "\n")
			}
		}
		e.mu.Lock()
		e.seen = append(e.seen, b.String())
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return e
}

// requests returns what the server received so far.
func (e *receiptEnv) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seen...)
}

// nodeEvent posts a callback signed with the node's secret, as the node
// does, and wants 202.
func (e *receiptEnv) nodeEvent(node, id, body string) {
	e.t.Helper()
	s, err := sdkhooks.NewSigner(hookSecret)
	if err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.base+"/v1/fulfillment/"+node+"/events", strings.NewReader(body))
	req.Header = s.Headers(id, time.Now(), []byte(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		e.t.Fatalf("callback %s: %d %s", body, res.StatusCode, b)
	}
}

// claimHTTP claims code as a phone's browser does (the claim page first,
// for the device cookie) and returns the claim id and receipt.
func (e *receiptEnv) claimHTTP(code string) (id, receipt string) {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := c.Get(code)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	body := `{"code":"` + code[strings.LastIndex(code, "/")+1:] + `"}`
	res, err = c.Post(e.base+"/v1/claims", "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		ClaimID string `json:"claim_id"`
		Receipt string `json:"receipt"`
	}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &r); err != nil || res.StatusCode != http.StatusCreated {
		e.t.Fatalf("claim: %d %s", res.StatusCode, b)
	}
	return r.ClaimID, r.Receipt
}

// claimView is GET /v1/claims/{id} as a client decodes it.
type claimView struct {
	ClaimID    string `json:"claim_id"`
	State      string
	PickupBy   time.Time `json:"pickup_by"`
	ServerTime time.Time `json:"server_time"`
	ReceiptURL string    `json:"receipt_url"`
	Expires    time.Time `json:"receipt_expires_at"`
	QR         string    `json:"receipt_qr_svg"`
	Locker     *struct {
		Slot, PIN string
	}
	Compensation struct {
		Kind, Status, Code, Text, Policy string
	}
}

func (e *receiptEnv) getClaim(id, auth, query string) (int, claimView, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+"/v1/claims/"+id+query, nil)
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var v claimView
	_ = json.Unmarshal(b, &v)
	return res.StatusCode, v, string(b)
}

// GET /v1/claims/{id} carries what the receipt shows: the locker while
// the claim is ready (and not after), the replacement code once the
// pickup failed, a different one for each claim, the server's time and
// the link to save; ?qr=0 leaves the QR out for polls.
func TestClaimViewLockerAndCompensation(t *testing.T) {
	e := newReceiptEnv(t, nil)
	hook(t, e.base, "evt-open", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
	url := shownCode(t, e.base)
	a, ra := e.claimHTTP(url)
	b, rb := e.claimHTTP(url)

	status, v, raw := e.getClaim(a, "bearer "+ra, "")
	// The node is hosted: the forwarder may have moved the claim on.
	fresh := v.State == "claimed" || v.State == "forwarded"
	if status != 200 || !fresh || v.Locker != nil || v.QR == "" ||
		v.ReceiptURL != e.base+"/r/"+a || v.ServerTime.IsZero() || !v.Expires.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("fresh claim: %d %s", status, raw)
	}
	if c := v.Compensation; c.Kind != "code" || c.Status != "not_failed" || c.Code != "" ||
		c.Policy != "If your pickup fails or is refused, you get a replacement code here." || c.Text != c.Policy {
		t.Fatalf("compensation before a failure: %+v", c)
	}
	if status, v, raw := e.getClaim(a, "Bearer "+ra, "?qr=0"); status != 200 || v.QR != "" || v.ClaimID != a {
		t.Fatalf("?qr=0: %d %s", status, raw)
	}
	if status, _, raw := e.getClaim(a, "Bearer "+ra, "?qr=maybe"); status != 400 || !strings.Contains(raw, `"code":"malformed"`) {
		t.Fatalf("?qr=maybe: %d %s", status, raw)
	}

	e.nodeEvent("corner", "cb-ready-a", `{"type":"claim.ready","claim":"`+a+`","locker":{"slot":"B-14","pin":"482913"}}`)
	if _, v, raw := e.getClaim(a, "Bearer "+ra, "?qr=0"); v.State != "ready" || v.Locker == nil || v.Locker.Slot != "B-14" || v.Locker.PIN != "482913" {
		t.Fatalf("ready at a locker: %s", raw)
	}
	// Another receipt does not open this claim.
	if status, _, _ := e.getClaim(a, "Bearer "+rb, ""); status != 401 {
		t.Fatalf("another claim's receipt: %d", status)
	}

	e.nodeEvent("corner", "cb-failed-a", `{"type":"claim.failed","claim":"`+a+`","reason":"locker jammed"}`)
	e.nodeEvent("corner", "cb-failed-b", `{"type":"claim.failed","claim":"`+b+`"}`)
	_, va, rawA := e.getClaim(a, "Bearer "+ra, "?qr=0")
	_, vb, rawB := e.getClaim(b, "Bearer "+rb, "?qr=0")
	if va.State != "compensated" || va.Locker != nil || va.Compensation.Status != "given" || vb.Compensation.Status != "given" {
		t.Fatalf("after the failures:\n%s\n%s", rawA, rawB)
	}
	if va.Compensation.Code != compCodes[0] || vb.Compensation.Code != compCodes[1] {
		t.Fatalf("replacement codes %q and %q, want %q and %q", va.Compensation.Code, vb.Compensation.Code, compCodes[0], compCodes[1])
	}
}

// The receipt page and /me: served with the viewer pages' security
// headers, cacheable (a revalidation is a 304), and no bigger than the
// quality bar allows with their assets and a first API answer.
func TestViewerPagesHeadersAndWeight(t *testing.T) {
	e := newReceiptEnv(t, nil)
	hook(t, e.base, "evt-open", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
	id, receipt := e.claimHTTP(shownCode(t, e.base))

	fetch := func(path, etag string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.base+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if strings.HasPrefix(path, "/v1/") {
			req.Header.Set("Authorization", "Bearer "+receipt)
		}
		// As a browser asks; set by hand, the client leaves the body as
		// it came over the wire.
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, page := range []struct {
		path   string
		assets []string
	}{
		{"/r/" + id, []string{"/static/receipt.css", "/static/receipt.js", "/v1/claims/" + id}},
		{"/me", []string{"/static/receipt.css", "/static/me.js", "/v1/claims/" + id + "?qr=0"}},
	} {
		res, body := fetch(page.path, "")
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		if res.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %v", page.path, res.StatusCode, h)
		}
		if !bytes.Contains(body, []byte(`<html lang="en">`)) {
			t.Errorf("%s: no lang", page.path)
		}
		// Exactly the two assets the page names, no others.
		if n := bytes.Count(body, []byte(`href="/static/`)) + bytes.Count(body, []byte(`src="/static/`)); n != 2 {
			t.Errorf("%s names %d static assets, want 2", page.path, n)
		}
		// Bytes on the wire: each answer's status line, headers and body.
		wire := func(res *http.Response, body []byte) int {
			n := len(res.Proto) + len(res.Status) + 4 + len(body)
			for k, v := range res.Header {
				n += len(k) + len(strings.Join(v, ", ")) + 4
			}
			return n
		}
		total := wire(res, body)
		for _, u := range page.assets {
			res, b := fetch(u, "")
			total += wire(res, b)
			if strings.HasPrefix(u, "/v1/") {
				var v claimView
				if res.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(b))
					if err != nil {
						t.Fatal(err)
					}
					b, _ = io.ReadAll(zr)
				}
				if err := json.Unmarshal(b, &v); err != nil || v.ClaimID != id || (v.QR == "") != strings.Contains(u, "qr=0") {
					t.Fatalf("%s: %v %.300s", u, err, b)
				}
			}
		}
		for _, u := range append([]string{page.path}, page.assets[:2]...) {
			res, _ := fetch(u, "")
			if tag := res.Header.Get("ETag"); tag == "" {
				t.Errorf("%s: no ETag", u)
			} else if again, _ := fetch(u, tag); again.StatusCode != http.StatusNotModified {
				t.Errorf("%s revalidated: %d, want 304", u, again.StatusCode)
			}
		}
		t.Logf("%s: %d bytes with its assets and one API answer", page.path, total)
		if total > 40<<10 {
			t.Errorf("%s: %d bytes, over 40 KB", page.path, total)
		}
	}
}
