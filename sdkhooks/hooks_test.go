package sdkhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

const (
	secretA      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	twitchSecret = "twitch-shared-secret-0123456789"
)

func hooksConfig() *config.Config {
	cfg := &config.Config{
		PublicURL: "http://127.0.0.1:8080",
		MaxBody:   4096,
		Creators: []config.Creator{
			{ID: "ava", OverlayKeys: []string{"ava-overlay-key-0001"}},
			{ID: "zed", OverlayKeys: []string{"zed-overlay-key-0001"}},
		},
		Sources: []config.Source{
			{ID: "cap", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{secretA}, Rate: 1000, Burst: 1000},
			{ID: "slow", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{secretA}, Rate: 1, Burst: 2},
			{ID: "tw", Creator: "ava", Scheme: config.SchemeTwitch, Secrets: []string{twitchSecret}, Triggers: []config.Trigger{{
				Subscription: "channel.channel_points_custom_reward_redemption.add",
				Match:        map[string]string{"reward.title": "Sticker drop"},
				Drop:         "spring",
			}}},
		},
		Nodes: []config.Node{{ID: "shop", Secret: secretA}},
		Drops: []config.Drop{
			{ID: "spring", Creator: "ava", Stock: []config.StockLine{{Node: "shop", SKU: "s", Qty: 5}}},
			{ID: "zeds", Creator: "zed", Stock: []config.StockLine{{Node: "shop", SKU: "s", Qty: 5}}},
		},
	}
	cfg.ApplyDefaults()
	return cfg
}

// newHooksServer serves a whole Dropwire (the real wiring) on st.
func newHooksServer(t testing.TB, st store.Store) (*httptest.Server, *app.App) {
	t.Helper()
	return newHooksServerConfig(t, st, hooksConfig())
}

func newHooksServerConfig(t testing.TB, st store.Store, cfg *config.Config) (*httptest.Server, *app.App) {
	t.Helper()
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Server().Handler())
	t.Cleanup(func() {
		ts.Close()
		_ = a.Shutdown(context.Background())
	})
	return ts, a
}

type hookReq struct {
	source  string
	headers http.Header
	body    string
}

func standardReq(t *testing.T, source, id string, ts time.Time, body string) hookReq {
	t.Helper()
	s, err := sdkhooks.NewSigner(secretA)
	if err != nil {
		t.Fatal(err)
	}
	return hookReq{source: source, headers: s.Headers(id, ts, []byte(body)), body: body}
}

func post(t *testing.T, url string, r hookReq) (int, http.Header, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/hooks/"+r.source, strings.NewReader(r.body))
	for k, v := range r.headers {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m, string(raw)
}

func trigger(drop, moment string) string {
	return fmt.Sprintf(`{"type":"drop.trigger","drop":%q,"moment":%q}`, drop, moment)
}

// Every refusal has its status and problem code, and none changes the drop.
func TestHooksRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ts, a := newHooksServer(t, st)
		now := time.Now()
		good := standardReq(t, "cap", "evt-1", now, trigger("spring", "m-1"))
		tamper := good
		tamper.body = trigger("spring", "m-2")
		noSig := standardReq(t, "cap", "evt-2", now, trigger("spring", "m-1"))
		noSig.headers = noSig.headers.Clone()
		noSig.headers.Del("Webhook-Signature")

		tests := []struct {
			name   string
			req    hookReq
			status int
			code   string
			detail string
		}{
			{"unknown source", standardReq(t, "nobody", "e", now, trigger("spring", "m")), 404, "unknown_source", ""},
			{"missing signature", noSig, 401, "missing_signature", ""},
			{"tampered body", tamper, 401, "bad_signature", ""},
			{"stale timestamp", standardReq(t, "cap", "e-old", now.Add(-6*time.Minute), trigger("spring", "m")), 401, "stale_timestamp", ""},
			{"future timestamp", standardReq(t, "cap", "e-new", now.Add(6*time.Minute), trigger("spring", "m")), 401, "stale_timestamp", ""},
			{"body over the limit", standardReq(t, "cap", "e-big", now, `{"type":"drop.trigger","drop":"spring","data":"`+strings.Repeat("x", 5000)+`"}`), 413, "payload_too_large", ""},
			{"not JSON", standardReq(t, "cap", "e-nj", now, `drop!`), 400, "malformed_event", ""},
			{"missing drop", standardReq(t, "cap", "e-nd", now, `{"type":"drop.trigger"}`), 400, "malformed_event", `"drop"`},
			{"bad type", standardReq(t, "cap", "e-bt", now, `{"type":"drop.boom","drop":"spring"}`), 400, "malformed_event", `"type"`},
			{"unknown drop", standardReq(t, "cap", "e-ud", now, trigger("autumn", "m")), 404, "unknown_drop", ""},
			{"drop of another creator", standardReq(t, "cap", "e-fd", now, trigger("zeds", "m")), 403, "forbidden_drop", ""},
		}
		for _, tt := range tests {
			status, hdr, body, raw := post(t, ts.URL, tt.req)
			if status != tt.status || body["code"] != tt.code || hdr.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s, want %d %s", tt.name, status, raw, tt.status, tt.code)
			}
			if tt.detail != "" && !strings.Contains(fmt.Sprint(body["detail"]), tt.detail) {
				t.Errorf("%s: detail %q does not name %s", tt.name, body["detail"], tt.detail)
			}
		}
		s, err := a.Verifier().State(context.Background(), "spring")
		if err != nil || s.Status != verifier.StatusIdle || s.Seq != 0 {
			t.Fatalf("refused requests changed the drop: %+v %v", s, err)
		}
		// The untampered request still works afterwards: nothing was marked.
		if status, _, body, raw := post(t, ts.URL, good); status != 202 || body["status"] != "accepted" {
			t.Fatalf("good request: %d %s", status, raw)
		}
	})
}

func TestHooksAcceptDuplicateRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ts, _ := newHooksServer(t, st)
		req := standardReq(t, "cap", "evt-1", time.Now(), trigger("spring", "m-1"))
		status, _, body, raw := post(t, ts.URL, req)
		moment, _ := body["moment"].(map[string]any)
		if status != 202 || body["status"] != "accepted" || moment["state"] != "opened" || moment["closes_at"] == nil {
			t.Fatalf("first delivery: %d %s", status, raw)
		}
		status, _, body, raw = post(t, ts.URL, req)
		if status != 202 || body["status"] != "duplicate" {
			t.Fatalf("retry: %d %s", status, raw)
		}

		// "slow" allows a burst of 2, then 1/s.
		var last int
		var hdr http.Header
		for i := range 3 {
			last, hdr, body, raw = post(t, ts.URL, standardReq(t, "slow", "s-"+strconv.Itoa(i), time.Now(), trigger("spring", "m-1")))
		}
		if last != 429 || body["code"] != "rate_limited" || hdr.Get("Retry-After") != "1" {
			t.Fatalf("over the rate: %d %s Retry-After=%q", last, raw, hdr.Get("Retry-After"))
		}
	})
}

func twitchReq(t *testing.T, msgType, id string, ts time.Time, body string) hookReq {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(twitchSecret))
	stamp := ts.UTC().Format(time.RFC3339Nano)
	mac.Write([]byte(id + stamp + body))
	h := http.Header{}
	h.Set("Twitch-Eventsub-Message-Id", id)
	h.Set("Twitch-Eventsub-Message-Timestamp", stamp)
	h.Set("Twitch-Eventsub-Message-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("Twitch-Eventsub-Message-Type", msgType)
	h.Set("Twitch-Eventsub-Subscription-Type", "channel.channel_points_custom_reward_redemption.add")
	return hookReq{source: "tw", headers: h, body: body}
}

func TestHooksTwitch(t *testing.T) {
	ts, a := newHooksServer(t, storetest.Memory(t))
	sub := `"subscription":{"type":"channel.channel_points_custom_reward_redemption.add","version":"1"}`

	challenge := twitchReq(t, "webhook_callback_verification", "tw-1", time.Now(), `{"challenge":"pogchamp-kappa-360noscope",`+sub+`}`)
	status, hdr, _, raw := post(t, ts.URL, challenge)
	if status != 200 || raw != "pogchamp-kappa-360noscope" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("challenge: %d %q %s", status, raw, hdr.Get("Content-Type"))
	}
	forged := challenge
	forged.body = `{"challenge":"evil",` + sub + `}`
	if status, _, body, _ := post(t, ts.URL, forged); status != 401 || body["code"] != "bad_signature" {
		t.Fatalf("forged challenge answered %d", status)
	}

	other := twitchReq(t, "notification", "tw-2", time.Now(), `{`+sub+`,"event":{"reward":{"title":"Hydrate"}}}`)
	if status, _, body, raw := post(t, ts.URL, other); status != 202 || body["status"] != "ignored" {
		t.Fatalf("unmapped redemption: %d %s", status, raw)
	}
	redeem := twitchReq(t, "notification", "tw-3", time.Now(), `{`+sub+`,"event":{"reward":{"title":"Sticker drop"}}}`)
	status, _, body, raw := post(t, ts.URL, redeem)
	if m, _ := body["moment"].(map[string]any); status != 202 || m["state"] != "opened" {
		t.Fatalf("mapped redemption: %d %s", status, raw)
	}
	if s, _ := a.Verifier().State(context.Background(), "spring"); s.Status != verifier.StatusOpen {
		t.Fatalf("drop after redemption: %+v", s)
	}
	if status, _, _, _ := post(t, ts.URL, twitchReq(t, "notification", "tw-4", time.Now().Add(-11*time.Minute), `{`+sub+`,"event":{}}`)); status != 401 {
		t.Fatalf("stale notification: %d", status)
	}

	revoke := twitchReq(t, "revocation", "tw-5", time.Now(), `{"subscription":{"type":"channel.channel_points_custom_reward_redemption.add","status":"authorization_revoked"}}`)
	if status, _, body, raw := post(t, ts.URL, revoke); status != 202 || body["status"] != "revoked" {
		t.Fatalf("revocation: %d %s", status, raw)
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`dropwire_twitch_revocations_total{source="tw",subscription="channel.channel_points_custom_reward_redemption.add"} 1`,
		`dropwire_ingest_events_total{reason="bad_signature",source="tw",status="rejected"} 1`,
		`dropwire_ingest_events_total{reason="stale_timestamp",source="tw",status="rejected"} 1`,
		`dropwire_ingest_events_total{reason="",source="tw",status="accepted"} 1`,
		`dropwire_moments_opened_total 1`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Two replicas on one Redis, and on a Redis Cluster: a retry that lands on
// the other replica is still a duplicate, and the moment opens once.
func TestHooksTwoReplicas(t *testing.T) {
	storetest.EachRedis(t, testHooksTwoReplicas)
}

func testHooksTwoReplicas(t *testing.T, be storetest.Backend) {
	prefix := storetest.Prefix(t)
	a, b := be.Open(t, prefix), be.Open(t, prefix)
	tsA, _ := newHooksServer(t, a)
	tsB, appB := newHooksServer(t, b)

	first := standardReq(t, "cap", "evt-x", time.Now(), trigger("spring", "m-7"))
	if status, _, body, raw := post(t, tsA.URL, first); status != 202 || body["moment"].(map[string]any)["state"] != "opened" {
		t.Fatalf("replica A: %d %s", status, raw)
	}
	if status, _, body, raw := post(t, tsB.URL, first); status != 202 || body["status"] != "duplicate" {
		t.Fatalf("retry on replica B: %d %s", status, raw)
	}
	second := standardReq(t, "cap", "evt-y", time.Now(), trigger("spring", "m-7"))
	if status, _, body, raw := post(t, tsB.URL, second); status != 202 || body["moment"].(map[string]any)["state"] != "corroboration" {
		t.Fatalf("another report on replica B: %d %s", status, raw)
	}
	s, _ := appB.Verifier().State(context.Background(), "spring")
	if s.Seq != 1 || s.Status != verifier.StatusOpen {
		t.Fatalf("state: %+v", s)
	}
}
