package nodekit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/dropwire/dropwire/stdwebhooks"
)

const (
	secret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="
	createdBody = `{"type":"claim.created","claim":{"id":"d.c1","drop":"d","node":"shop","sku":"s","pickup_code":"K7Q2M9XA",` +
		`"pickup_by":"2025-05-01T18:00:00Z","created_at":"2025-05-01T14:00:00Z","sandbox":true},"receipt":"r"}`
)

var t0 = time.Unix(1746108000, 0) // 2025-05-01T14:00:00Z

func signed(t testing.TB, secret, id string, at time.Time, body string) http.Header {
	t.Helper()
	s, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s.Headers(id, at, []byte(body))
}

func TestReceiverVerify(t *testing.T) {
	r, err := NewReceiver(ReceiverConfig{Secrets: []string{otherSecret, secret}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := r.Verify(signed(t, secret, "d.c1.created", t0, createdBody), []byte(createdBody))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{ID: "d.c1.created", Timestamp: t0, Type: TypeClaimCreated, Receipt: "r", Claim: Claim{ID: "d.c1", Drop: "d",
		Node: "shop", SKU: "s", PickupCode: "K7Q2M9XA", PickupBy: t0.Add(4 * time.Hour).UTC(), CreatedAt: t0.UTC(), Sandbox: true}}
	if ev != want {
		t.Fatalf("event\n%+v, want\n%+v", ev, want)
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		body string
		want error
	}{
		{"other secret", signed(t, "whsec_"+strings.Repeat("A", 43)+"=", "x", t0, createdBody), createdBody, ErrBadSignature},
		{"tampered body", signed(t, secret, "x", t0, createdBody), strings.Replace(createdBody, "d.c1", "d.c2", 1), ErrBadSignature},
		{"no headers", http.Header{}, createdBody, ErrMissingSignature},
		{"six minutes old", signed(t, secret, "x", t0.Add(-6*time.Minute), createdBody), createdBody, ErrStaleTimestamp},
		{"not JSON", signed(t, secret, "x", t0, "claim"), "claim", ErrMalformedEvent},
		{"no claim id", signed(t, secret, "x", t0, `{"type":"claim.created","claim":{}}`), `{"type":"claim.created","claim":{}}`, ErrMalformedEvent},
		{"no type", signed(t, secret, "x", t0, `{"claim":{"id":"a"}}`), `{"claim":{"id":"a"}}`, ErrMalformedEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Verify(tc.h, []byte(tc.body)); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewReceiver(ReceiverConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no secret: %v", err)
	}
}

// The handler answers each case as documented and calls take only for a
// verified event.
func TestReceiverHandler(t *testing.T) {
	r, _ := NewReceiver(ReceiverConfig{Secrets: []string{secret}, MaxBody: 1024})
	var took []string
	fail := false
	h := r.Handler(func(_ context.Context, ev Event) error {
		if fail {
			return errors.New("disk full")
		}
		took = append(took, ev.ID)
		return nil
	})
	do := func(method, body string, hdr http.Header) int {
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		for k, v := range hdr {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	now := time.Now()
	big := `{"type":"claim.created","claim":{"id":"a","pad":"` + strings.Repeat("x", 1024) + `"}}`
	for _, tc := range []struct {
		name   string
		method string
		body   string
		h      http.Header
		fail   bool
		want   int
	}{
		{"verified", "POST", createdBody, signed(t, secret, "e1", now, createdBody), false, 200},
		{"forged", "POST", createdBody, signed(t, otherSecret, "e2", now, createdBody), false, 401},
		{"too large", "POST", big, signed(t, secret, "e3", now, big), false, 413},
		{"not a claim", "POST", `{}`, signed(t, secret, "e4", now, `{}`), false, 400},
		{"not stored", "POST", createdBody, signed(t, secret, "e5", now, createdBody), true, 503},
		{"GET", "GET", "", nil, false, 405},
	} {
		fail = tc.fail
		if got := do(tc.method, tc.body, tc.h); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if strings.Join(took, ",") != "e1" {
		t.Fatalf("take called for %v, want e1 only", took)
	}
}

// jwksServer is Dropwire's JWKS endpoint with keys that can rotate.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]jwk.Key // kid → private key
	fetches atomic.Int64
	down    atomic.Bool
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{keys: map[string]jwk.Key{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() || r.URL.Path != JWKSPath {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		set := jwk.NewSet()
		s.mu.Lock()
		for _, k := range s.keys {
			pub, _ := jwk.PublicKeyOf(k)
			_ = set.AddKey(pub)
		}
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

// rotate publishes a new key.
func (s *jwksServer) rotate(t *testing.T, kid string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := jwk.FromRaw(priv)
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256)
	s.mu.Lock()
	s.keys[kid] = k
	s.mu.Unlock()
}

// receipt signs claims for node with key kid, valid until exp.
func (s *jwksServer) receipt(t *testing.T, kid, node string, exp time.Time) string {
	t.Helper()
	s.mu.Lock()
	k := s.keys[kid]
	s.mu.Unlock()
	if k == nil {
		// A key that was never published.
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k, _ = jwk.FromRaw(priv)
	}
	payload, _ := json.Marshal(map[string]any{"cid": "d.c1", "sub": "d.c1", "drop": "d", "node": node, "sku": "s",
		"pickup_code": "K7Q2M9XA", "pickup_by": t0.Add(4 * time.Hour).Unix(), "iat": t0.Unix(), "exp": exp.Unix(), "iss": s.URL})
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, kid)
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// clock is a settable Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestReceiptsVerify(t *testing.T) {
	srv := newJWKSServer(t)
	srv.rotate(t, "k1")
	clk := &clock{now: t0.Add(time.Minute)}
	r, err := NewReceipts(ReceiptsConfig{BaseURL: srv.URL, Node: "shop", MinRefresh: 30 * time.Second, MaxAge: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exp := t0.Add(7 * 24 * time.Hour)

	got, err := r.Verify(ctx, srv.receipt(t, "k1", "shop", exp))
	if err != nil {
		t.Fatal(err)
	}
	if got.ClaimID != "d.c1" || got.Node != "shop" || got.PickupCode != "K7Q2M9XA" || got.KeyID != "k1" || !got.ExpiresAt.Equal(exp) || got.Issuer != srv.URL {
		t.Fatalf("receipt %+v", got)
	}
	if _, err := r.Verify(ctx, srv.receipt(t, "k1", "shop", exp)); err != nil || srv.fetches.Load() != 1 {
		t.Fatalf("second receipt: %v, %d fetches; want the cached set", err, srv.fetches.Load())
	}

	// Dropwire rotates its key: the first receipt of the new kid fetches
	// the set again, within MinRefresh of nothing.
	srv.rotate(t, "k2")
	clk.add(31 * time.Second)
	if _, err := r.Verify(ctx, srv.receipt(t, "k2", "shop", exp)); err != nil || srv.fetches.Load() != 2 {
		t.Fatalf("rotated key: %v, %d fetches", err, srv.fetches.Load())
	}
	// A made-up kid costs one fetch per MinRefresh at most.
	for range 5 {
		if _, err := r.Verify(ctx, srv.receipt(t, "made-up", "shop", exp)); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrBadReceipt) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches for made-up kids within MinRefresh of the last, want none", n-2)
	}
	clk.add(31 * time.Second)
	_, _ = r.Verify(ctx, srv.receipt(t, "made-up", "shop", exp))
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after MinRefresh, want 3", n)
	}

	// Refusals.
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"other node", srv.receipt(t, "k1", "other", exp), ErrOtherNode},
		{"expired", srv.receipt(t, "k1", "shop", clk.Now()), ErrReceiptExpired},
		{"tampered", srv.receipt(t, "k1", "shop", exp)[:40] + "x" + srv.receipt(t, "k1", "shop", exp)[41:], ErrBadReceipt},
		{"not a JWS", "eyJ.garbage", ErrBadReceipt},
		{"HS256", hs256(t), ErrBadReceipt},
		{"too long", strings.Repeat("a", 5000), ErrBadReceipt},
	} {
		if _, err := r.Verify(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// Past MaxAge the set is fetched again; if that fails, the old set
	// still verifies.
	srv.down.Store(true)
	clk.add(2 * time.Hour)
	if _, err := r.Verify(ctx, srv.receipt(t, "k1", "shop", exp)); err != nil {
		t.Fatalf("with the JWKS down, a known key: %v", err)
	}
	if n := srv.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want a try past MaxAge", n)
	}
}

func hs256(t *testing.T) string {
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, "k1")
	tok, err := jws.Sign([]byte(`{"cid":"d.c1","node":"shop","exp":9999999999}`), jws.WithKey(jwa.HS256, []byte("secret"), jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// With no key set ever fetched, Verify says the JWKS is unavailable, and
// waits MinRefresh before asking again.
func TestReceiptsJWKSDown(t *testing.T) {
	srv := newJWKSServer(t)
	srv.rotate(t, "k1")
	srv.down.Store(true)
	clk := &clock{now: t0}
	r, _ := NewReceipts(ReceiptsConfig{BaseURL: srv.URL + "/", Now: clk.Now})
	tok := srv.receipt(t, "k1", "shop", t0.Add(time.Hour))
	for range 3 {
		if _, err := r.Verify(context.Background(), tok); !errors.Is(err, ErrJWKS) || errors.Is(err, ErrBadReceipt) {
			t.Fatalf("JWKS down: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	srv.down.Store(false)
	clk.add(DefaultMinRefresh)
	if _, err := r.Verify(context.Background(), tok); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
	if _, err := NewReceipts(ReceiptsConfig{BaseURL: "drops.example.com"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("BaseURL without scheme: %v", err)
	}
}

// Concurrent verifications of a new kid fetch the set once.
func TestReceiptsOneFetchAtATime(t *testing.T) {
	srv := newJWKSServer(t)
	srv.rotate(t, "k1")
	r, _ := NewReceipts(ReceiptsConfig{BaseURL: srv.URL})
	tok := srv.receipt(t, "k1", "shop", time.Now().Add(time.Hour))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := r.Verify(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// dropwireEndpoint answers callbacks with the statuses of answers, in
// order, recording each verified webhook-id and body.
type dropwireEndpoint struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	ids     []string
	bodies  []string
}

func newDropwireEndpoint(t *testing.T, answers ...int) *dropwireEndpoint {
	d := &dropwireEndpoint{answers: answers}
	v, _ := stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: []string{secret}})
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, err := v.Verify(r.Header, body, time.Now())
		if err != nil || r.URL.Path != "/v1/fulfillment/shop/events" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		d.mu.Lock()
		d.ids = append(d.ids, m.ID)
		d.bodies = append(d.bodies, string(body))
		status := 202
		if len(d.answers) > 0 {
			status, d.answers = d.answers[0], d.answers[1:]
		}
		d.mu.Unlock()
		switch status {
		case 202:
			w.WriteHeader(202)
			_, _ = w.Write([]byte(`{"status":"applied","claim":"d.c1","state":"ready"}`))
		case 429:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"status":409,"code":"illegal_transition","detail":"picked_up → ready","state":"picked_up"}`))
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func TestClientSend(t *testing.T) {
	d := newDropwireEndpoint(t, 503, 429, 202)
	c, err := NewClient(ClientConfig{BaseURL: d.URL + "/", Node: "shop", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.SendRetry(ctx, Ready("d.c1", &Locker{Slot: "B-14", PIN: "4711"}), Retry{Base: time.Millisecond})
	if err != nil || res != (Result{Status: "applied", Claim: "d.c1", State: "ready"}) {
		t.Fatalf("SendRetry: %+v %v", res, err)
	}
	if strings.Join(d.ids, " ") != "claim.ready:d.c1 claim.ready:d.c1 claim.ready:d.c1" {
		t.Fatalf("webhook-ids %q: every try must carry the same", d.ids)
	}
	if d.bodies[0] != `{"type":"claim.ready","claim":"d.c1","locker":{"slot":"B-14","pin":"4711"}}` {
		t.Fatalf("body %s", d.bodies[0])
	}

	// A refusal is final: no retry.
	d = newDropwireEndpoint(t, 409, 202)
	c, _ = NewClient(ClientConfig{BaseURL: d.URL, Node: "shop", Secret: secret})
	_, err = c.SendRetry(ctx, Callback{ID: "my-id", Type: TypeReady, Claim: "d.c1"}, Retry{Base: time.Millisecond})
	var ce *CallbackError
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrUnavailable) || !errors.As(err, &ce) || ce.Code != "illegal_transition" || ce.State != "picked_up" {
		t.Fatalf("409: %v", err)
	}
	if strings.Join(d.ids, " ") != "my-id" {
		t.Fatalf("webhook-ids %q, want my-id once", d.ids)
	}

	// Attempts bound the tries.
	d = newDropwireEndpoint(t, 500, 500, 500, 500)
	c, _ = NewClient(ClientConfig{BaseURL: d.URL, Node: "shop", Secret: secret})
	if _, err := c.SendRetry(ctx, PickedUp("d.c1"), Retry{Attempts: 3, Base: time.Millisecond}); !errors.Is(err, ErrUnavailable) || len(d.ids) != 3 {
		t.Fatalf("3 attempts: %v after %d tries", err, len(d.ids))
	}

	// Unreachable is worth retrying.
	d.Close()
	if _, err := c.Send(ctx, PickedUp("d.c1")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unreachable: %v", err)
	}
	for _, cfg := range []ClientConfig{{BaseURL: "x", Node: "shop", Secret: secret}, {BaseURL: d.URL, Secret: secret}, {BaseURL: d.URL, Node: "shop", Secret: "whsec_!"}} {
		if _, err := NewClient(cfg); !errors.Is(err, ErrInvalidConfig) || strings.Contains(err.Error(), cfg.Secret) {
			t.Errorf("NewClient(%+v): %v", cfg, err)
		}
	}
}

// The default webhook-id of each callback kind.
func TestCallbackIDs(t *testing.T) {
	for _, tc := range []struct {
		cb   Callback
		want string
	}{
		{Accepted("d.c1"), "claim.accepted:d.c1"},
		{Failed("d.c1", "jammed"), "claim.failed:d.c1"},
		{Callback{Type: TypePickedUp, PickupCode: "k7q2m9xa"}, "claim.picked_up:code:K7Q2M9XA"},
		{Callback{ID: "mine", Type: TypePickedUp, Claim: "d.c1"}, "mine"},
	} {
		if got := tc.cb.webhookID(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.cb, got, tc.want)
		}
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(Rejected("d.c1", "no stock"))
	if b.String() != `{"type":"claim.rejected","claim":"d.c1","reason":"no stock"}`+"\n" {
		t.Fatalf("Rejected: %s", b.String())
	}
}
