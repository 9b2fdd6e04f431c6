package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// callbackServer serves a Service's callback endpoint on loopback.
func callbackServer(t testing.TB, s *Service) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /v1/fulfillment/{node}/events", s.CallbackHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

type answer struct {
	Status int
	Code   string `json:"code"`
	Result string `json:"status"`
	State  string `json:"state"`
}

func post(t testing.TB, url string, h http.Header, body []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a answer
	_ = json.Unmarshal(b, &a)
	a.Status = resp.StatusCode
	if a.Status != http.StatusAccepted && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d with content type %q: %s", a.Status, resp.Header.Get("Content-Type"), b)
	}
	return a
}

func callbackBody(typ, claim string, extra map[string]any) []byte {
	m := map[string]any{"type": typ, "claim": claim}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestCallbackFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "code", CodesFile: codesFile(t, 3)},
			testNodeConfig("shop", node.srv.URL, node.secret))
		receipts, err := verifier.NewReceipts(verifier.ReceiptsConfig{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		s := f.service(func(c *Config) { c.Receipts = receipts })
		run(t, s)
		url := callbackServer(t, s) + "/v1/fulfillment/shop/events"
		ctx := context.Background()
		send := func(id string, body []byte) answer {
			return post(t, url, signStandard(node.secret, id, time.Now(), body), body)
		}

		// accepted → ready (locker) → picked_up by pickup code.
		a := f.claim("shop")
		eventually(t, 5*time.Second, "forwarded", func() bool { return f.claimHash(a)["state"] == "forwarded" })
		if got := node.deliveries()[0].Payload.Receipt; got == "" {
			t.Fatal("claim.created without a receipt")
		} else if rc, err := receipts.Verify(ctx, got); err != nil || rc.ClaimID != a {
			t.Fatalf("receipt: %+v %v", rc, err)
		}
		if r := send("e1", callbackBody("claim.accepted", a, nil)); r.Status != 202 || r.Result != "applied" || r.State != "accepted" {
			t.Fatalf("accepted: %+v", r)
		}
		if r := send("e2", callbackBody("claim.ready", a, map[string]any{"locker": map[string]string{"slot": "B7", "pin": "4711"}})); r.State != "ready" {
			t.Fatalf("ready: %+v", r)
		}
		h := f.claimHash(a)
		if h["locker_slot"] != "B7" || h["locker_pin"] != "4711" {
			t.Fatalf("locker not stored: %v", h)
		}
		code := h["pickup_code"]
		if r := send("e3", callbackBody("claim.picked_up", "", map[string]any{"pickup_code": strings.ToLower(code)})); r.State != "picked_up" {
			t.Fatalf("picked up by code: %+v", r)
		}
		if got := strings.Join(f.history(a), ","); got != "claimed,forwarded,accepted,ready,picked_up" {
			t.Fatalf("history %s", got)
		}
		// A late accepted changes nothing and is not an error.
		if r := send("e4", callbackBody("claim.accepted", a, nil)); r.Status != 202 || r.Result != "unchanged" {
			t.Fatalf("late accepted: %+v", r)
		}

		// picked_up by the viewer's receipt.
		b := f.claim("shop")
		eventually(t, 5*time.Second, "forwarded", func() bool { return f.claimHash(b)["state"] == "forwarded" })
		var receipt string
		for _, d := range node.deliveries() {
			if d.Payload.Claim.ID == b {
				receipt = d.Payload.Receipt
			}
		}
		if r := send("e5", callbackBody("claim.picked_up", "", map[string]any{"receipt": receipt})); r.State != "picked_up" {
			t.Fatalf("picked up by receipt: %+v", r)
		}
		if r := send("e5b", callbackBody("claim.picked_up", "", map[string]any{"receipt": receipt[:len(receipt)-4] + "AAAA"})); r.Status != 422 || r.Code != "bad_receipt" {
			t.Fatalf("forged receipt: %+v", r)
		}

		// failed → pickup_failed → compensated with a code, in one step.
		c := f.claim("shop")
		eventually(t, 5*time.Second, "forwarded", func() bool { return f.claimHash(c)["state"] == "forwarded" })
		if r := send("e6", callbackBody("claim.failed", c, map[string]any{"reason": "locker jammed"})); r.State != "compensated" {
			t.Fatalf("failed: %+v", r)
		}
		if h := f.claimHash(c); h["compensation_code"] != "CODE-0001" || h["reason"] != "locker jammed" {
			t.Fatalf("compensation: %v", h)
		}
	})
}

// Every refused callback has its code and changes nothing.
func TestCallbackNegatives(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		other := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"},
			testNodeConfig("shop", node.srv.URL, node.secret), testNodeConfig("other", other.srv.URL, other.secret))
		s := f.service()
		run(t, s)
		base := callbackServer(t, s) + "/v1/fulfillment/"
		url := base + "shop/events"

		pickedUp := f.claim("shop")
		forwarded := f.claim("shop")
		othersClaim := f.claim("other")
		eventually(t, 5*time.Second, "forwarded", func() bool {
			return f.claimHash(pickedUp)["state"] == "forwarded" && f.claimHash(forwarded)["state"] == "forwarded" &&
				f.claimHash(othersClaim)["state"] == "forwarded"
		})
		body := callbackBody("claim.picked_up", pickedUp, nil)
		dupHeaders := signStandard(node.secret, "evt-dup", time.Now(), body)
		if r := post(t, url, dupHeaders, body); r.Status != 202 || r.Result != "applied" {
			t.Fatalf("setup: %+v", r)
		}

		snapshot := func() map[string]any {
			out := map[string]any{}
			for _, id := range []string{pickedUp, forwarded, othersClaim} {
				out[id] = f.claimHash(id)
				out[id+"/history"] = f.history(id)
			}
			return out
		}
		before := snapshot()
		acceptForwarded := callbackBody("claim.accepted", forwarded, nil)
		wrongSecret := newSecret(t)
		big := callbackBody("claim.accepted", forwarded, map[string]any{"pad": strings.Repeat("x", 70<<10)})
		for _, tc := range []struct {
			name   string
			url    string
			header http.Header
			body   []byte
			status int
			code   string
			result string
		}{
			{"missing signature", url, http.Header{"Content-Type": {"application/json"}}, acceptForwarded, 401, "missing_signature", ""},
			{"bad signature", url, signStandard(wrongSecret, "evt-1", time.Now(), acceptForwarded), acceptForwarded, 401, "bad_signature", ""},
			{"body changed after signing", url, signStandard(node.secret, "evt-2", time.Now(), acceptForwarded), callbackBody("claim.rejected", forwarded, nil), 401, "bad_signature", ""},
			{"other node's secret", url, signStandard(other.secret, "evt-3", time.Now(), acceptForwarded), acceptForwarded, 401, "bad_signature", ""},
			{"stale timestamp", url, signStandard(node.secret, "evt-4", time.Now().Add(-10*time.Minute), acceptForwarded), acceptForwarded, 401, "stale_timestamp", ""},
			{"unknown claim", url, signStandard(node.secret, "evt-5", time.Now(), callbackBody("claim.accepted", "drop-1.aaaaaaaaaaaaaaaa", nil)), callbackBody("claim.accepted", "drop-1.aaaaaaaaaaaaaaaa", nil), 404, "unknown_claim", ""},
			{"another node's claim", url, signStandard(node.secret, "evt-6", time.Now(), callbackBody("claim.accepted", othersClaim, nil)), callbackBody("claim.accepted", othersClaim, nil), 404, "unknown_claim", ""},
			{"unknown node", base + "nope/events", signStandard(node.secret, "evt-7", time.Now(), acceptForwarded), acceptForwarded, 404, "unknown_node", ""},
			{"illegal transition", url, signStandard(node.secret, "evt-8", time.Now(), callbackBody("claim.rejected", pickedUp, nil)), callbackBody("claim.rejected", pickedUp, nil), 409, "illegal_transition", ""},
			{"duplicate webhook-id", url, dupHeaders, body, 202, "", "duplicate"},
			{"repeat with a new webhook-id", url, signStandard(node.secret, "evt-9", time.Now(), body), body, 202, "", "unchanged"},
			{"unknown type", url, signStandard(node.secret, "evt-10", time.Now(), callbackBody("claim.teleported", forwarded, nil)), callbackBody("claim.teleported", forwarded, nil), 400, "unknown_event_type", ""},
			{"not json", url, signStandard(node.secret, "evt-11", time.Now(), []byte("{")), []byte("{"), 400, "malformed_event", ""},
			{"too large", url, signStandard(node.secret, "evt-12", time.Now(), big), big, 413, "payload_too_large", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := post(t, tc.url, tc.header, tc.body)
				if r.Status != tc.status || r.Code != tc.code || r.Result != tc.result {
					t.Fatalf("got %d %q %q, want %d %q %q", r.Status, r.Code, r.Result, tc.status, tc.code, tc.result)
				}
				if after := snapshot(); !reflect.DeepEqual(before, after) {
					t.Fatalf("state changed:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
	})
}
