package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
)

// The fault suite (fault_*_test.go): real dropwire processes, a real
// Redis, a real node server, and a fault injected in the middle of the
// traffic. What holds in every scenario: nothing forged accepted (the
// node verifies every signature), nothing oversold, no claim acknowledged
// and then lost, no claim forwarded under two webhook-ids, no 5xx but 503
// store_unavailable. Waits are bounded by deadlines that fail the test;
// nothing is timed.

const (
	faultAdminToken = "fault-admin-token-0123456789"
	faultOverlayKey = "fault-overlay-key-0001"
)

// faultConfig is the common head of the suite's configurations: no claim
// rate limits (every phone is 127.0.0.1), fast forwarding.
func faultConfig(redisURL, prefix string) string {
	return fmt.Sprintf(`public_url: "http://127.0.0.1:8080"
redis_url: %q
key_prefix: %q
admin_token: %q
claim_rate_ip: -1
claim_rate_device: -1
forward_tick: 20ms
forward_takeover: 2s
`, redisURL, prefix, faultAdminToken)
}

// Below, what the suite is made of: phones that claim, a fulfillment
// node that checks every signature, and the few calls a creator makes.

// newSecret returns a fresh whsec_ secret.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// viewer is one phone: its own cookie jar (the device cookie of the claim
// page) and one Idempotency-Key for its claim, reused on every retry.
type viewer struct {
	c   *http.Client
	key string
}

func newViewer(key string, timeout time.Duration) *viewer {
	jar, _ := cookiejar.New(nil)
	// No keep-alive: a pool shared by hundreds of phones would only test
	// the pool.
	tr := &http.Transport{DisableKeepAlives: true}
	return &viewer{c: &http.Client{Jar: jar, Timeout: timeout, Transport: tr}, key: key}
}

// answer is the outcome of one request: err for no HTTP answer at all,
// else the status with the claim or the problem code.
type answer struct {
	status  int
	code    string // problem code
	claimID string
	receipt string
	body    string
	err     error
}

func (a answer) String() string {
	if a.err != nil {
		return "no answer: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, strings.TrimSpace(a.body))
}

// storeUnavailable: the answer a client may get while the store is down.
func (a answer) storeUnavailable() bool {
	return a.err == nil && a.status == http.StatusServiceUnavailable && a.code == "store_unavailable"
}

func do(c *http.Client, req *http.Request) answer {
	res, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, body: string(b)}
	var v struct {
		Code    string `json:"code"`
		ClaimID string `json:"claim_id"`
		Receipt string `json:"receipt"`
	}
	if json.Unmarshal(b, &v) == nil {
		a.code, a.claimID, a.receipt = v.Code, v.ClaimID, v.Receipt
	}
	return a
}

// page opens the claim page, which sets the device cookie.
func (v *viewer) page(base, code string) answer {
	req, _ := http.NewRequest(http.MethodGet, base+"/c/"+code, nil)
	return do(v.c, req)
}

// claim posts the claim as the claim page does.
func (v *viewer) claim(base, code string) answer {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/claims", strings.NewReader(`{"code":"`+code+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", v.key)
	return do(v.c, req)
}

// readClaim reads a claim back with its receipt, as the receipt page does.
func readClaim(base, id, receipt string) (answer, claimView) {
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/claims/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+receipt)
	a := do(http.DefaultClient, req)
	var v claimView
	_ = json.Unmarshal([]byte(a.body), &v)
	return a, v
}

// readBack reads every claim (id → receipt) back, a few at a time, and
// fails t for any that does not answer 200 with itself.
func readBack(t *testing.T, base string, claims map[string]string) map[string]claimView {
	t.Helper()
	type job struct{ id, receipt string }
	jobs := make(chan job)
	var mu sync.Mutex
	views := make(map[string]claimView, len(claims))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for j := range jobs {
				a, v := readClaim(base, j.id, j.receipt)
				mu.Lock()
				if a.status != http.StatusOK || v.ClaimID != j.id {
					t.Errorf("claim %s read back with its receipt: %v", j.id, a)
				}
				views[j.id] = v
				mu.Unlock()
			}
		})
	}
	for id, rc := range claims {
		jobs <- job{id, rc}
	}
	close(jobs)
	wg.Wait()
	return views
}

// claimView is the part of GET /v1/claims/{id} the suite checks.
type claimView struct {
	ClaimID string `json:"claim_id"`
	State   string `json:"state"`
	History []struct {
		State string `json:"state"`
	} `json:"history"`
}

func (v claimView) states() []string {
	var s []string
	for _, e := range v.History {
		s = append(s, e.State)
	}
	return s
}

// hook is one signed capture webhook, kept as sent so that it can be
// sent again byte for byte.
type hook struct {
	id     string
	header http.Header
	body   []byte
}

func newHook(s *sdkhooks.Signer, id, drop, moment string) hook {
	body := fmt.Appendf(nil, `{"type":"drop.trigger","drop":%q,"moment":%q}`, drop, moment)
	h := s.Headers(id, time.Now(), body)
	h.Set("Content-Type", "application/json")
	return hook{id: id, header: h, body: body}
}

func mustSigner(t *testing.T, secret string) *sdkhooks.Signer {
	t.Helper()
	s, err := sdkhooks.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send posts the hook to the source's endpoint; a is the answer and
// status the "status" member of a 202 (accepted | duplicate).
func (h hook) send(c *http.Client, base, source string) (a answer, status string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/hooks/"+source, bytes.NewReader(h.body))
	req.Header = h.header.Clone()
	a = do(c, req)
	var v struct{ Status string }
	_ = json.Unmarshal([]byte(a.body), &v)
	return a, v.Status
}

// openDrop opens drop with a signed trigger and returns the claim code
// the creator's overlay shows for it.
func openDrop(t *testing.T, base, source, secret, drop, creator, overlayKey string) string {
	t.Helper()
	a, status := newHook(mustSigner(t, secret), "evt-open-"+drop, drop, "m-open-"+drop).send(http.DefaultClient, base, source)
	if a.status != http.StatusAccepted || status != "accepted" {
		t.Fatalf("opening %s: %v", drop, a)
	}
	return overlayCode(t, base, creator, overlayKey, drop)
}

// overlayCode reads the overlay WebSocket until a state of drop carries a
// QR, and returns the code in its URL.
func overlayCode(t *testing.T, base, creator, key, drop string) string {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/overlay/" + creator + "/ws?key=" + url.QueryEscape(key)
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("overlay websocket: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("overlay never showed a QR for %s: %v", drop, err)
		}
		var s struct {
			Type string `json:"type"`
			Drop *struct {
				ID string `json:"id"`
			} `json:"drop"`
			QR *overlay.QR `json:"qr"`
		}
		if json.Unmarshal(msg, &s) != nil || s.Type != "state" || s.Drop == nil || s.Drop.ID != drop || s.QR == nil {
			continue
		}
		u, err := s.QR.Text()
		if err != nil {
			t.Fatalf("the overlay's QR does not decode: %v", err)
		}
		return u[strings.LastIndex(u, "/")+1:]
	}
}

// adminGet decodes GET path of the admin API into out.
func adminGet(t *testing.T, base, token, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	a := do(http.DefaultClient, req)
	if a.status != http.StatusOK {
		t.Fatalf("GET %s: %v", path, a)
	}
	if err := json.Unmarshal([]byte(a.body), out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// dropStock is the stock of a drop as the admin API reports it.
func dropStock(t *testing.T, base, token, drop string) (left, total int64) {
	t.Helper()
	var v struct {
		Left  int64 `json:"stock_left"`
		Total int64 `json:"stock_total"`
	}
	adminGet(t, base, token, "/v1/admin/drops/"+drop, &v)
	return v.Left, v.Total
}

// faultNode is a fulfillment node on loopback: it verifies every webhook
// with the Standard Webhooks verifier of the node's secret, records which
// webhook-ids carried which claims, and answers 204. With callbacks set,
// it then reports each new claim accepted, ready and picked up (signed).
type faultNode struct {
	id        string
	verify    *sdkhooks.Standard
	signer    *sdkhooks.Signer
	callbacks func() string // dropwire's base URL; nil: no callbacks

	mu      sync.Mutex
	byClaim map[string]map[string]bool // claim → webhook-ids
	byHook  map[string]map[string]bool // webhook-id → claims
	errs    []string                   // bad signatures, bodies, callbacks
	wg      sync.WaitGroup
}

func newFaultNode(t *testing.T, id, secret string, callbacks func() string) *faultNode {
	t.Helper()
	v, err := sdkhooks.NewStandard(config.Source{ID: "node", Scheme: config.SchemeStandard, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sdkhooks.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	n := &faultNode{id: id, verify: v, signer: s, callbacks: callbacks,
		byClaim: map[string]map[string]bool{}, byHook: map[string]map[string]bool{}}
	t.Cleanup(n.wg.Wait)
	return n
}

func (n *faultNode) fail(format string, args ...any) {
	n.mu.Lock()
	n.errs = append(n.errs, fmt.Sprintf(format, args...))
	n.mu.Unlock()
}

func (n *faultNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	v, err := n.verify.Verify(r.Header, body, time.Now())
	if err != nil {
		n.fail("webhook %q: signature: %v", r.Header.Get("webhook-id"), err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p struct {
		Type  string `json:"type"`
		Claim struct {
			ID string `json:"id"`
		} `json:"claim"`
		Receipt string `json:"receipt"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type != "claim.created" || p.Claim.ID == "" || p.Receipt == "" {
		n.fail("webhook %s: unexpected body %s", v.EventID, body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	first := n.byClaim[p.Claim.ID] == nil
	if first {
		n.byClaim[p.Claim.ID] = map[string]bool{}
	}
	n.byClaim[p.Claim.ID][v.EventID] = true
	if n.byHook[v.EventID] == nil {
		n.byHook[v.EventID] = map[string]bool{}
	}
	n.byHook[v.EventID][p.Claim.ID] = true
	n.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	if first && n.callbacks != nil {
		n.wg.Go(func() { n.pickUp(p.Claim.ID) })
	}
}

// pickUp reports claim accepted, ready and picked up, as a locker does.
func (n *faultNode) pickUp(claim string) {
	for _, typ := range []string{"claim.accepted", "claim.ready", "claim.picked_up"} {
		id := "cb-" + claim + "-" + typ
		body := fmt.Appendf(nil, `{"type":%q,"claim":%q}`, typ, claim)
		var a answer
		for range 20 {
			req, _ := http.NewRequest(http.MethodPost, n.callbacks()+"/v1/fulfillment/"+n.id+"/events", bytes.NewReader(body))
			req.Header = n.signer.Headers(id, time.Now(), body)
			req.Header.Set("Content-Type", "application/json")
			if a = do(http.DefaultClient, req); a.err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if a.status != http.StatusAccepted {
			n.fail("callback %s for %s: %v", typ, claim, a)
			return
		}
	}
}

// check fails t for any bad request the node saw, any claim it got
// under two webhook-ids, and any webhook-id it got for two claims.
func (n *faultNode) check(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.errs {
		t.Error("node: " + e)
	}
	for c, ids := range n.byClaim {
		if len(ids) != 1 {
			t.Errorf("node got claim %s under %d webhook-ids: %v", c, len(ids), ids)
		}
	}
	for id, cs := range n.byHook {
		if len(cs) != 1 {
			t.Errorf("node got webhook-id %s for %d claims: %v", id, len(cs), cs)
		}
	}
}

// has reports whether the node got claim.
func (n *faultNode) has(claim string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byClaim[claim] != nil
}

// claims returns the claims the node got.
func (n *faultNode) claims() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.byClaim))
	for c := range n.byClaim {
		out = append(out, c)
	}
	return out
}
