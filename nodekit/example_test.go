package nodekit_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/dropwire/dropwire/nodekit"
	"github.com/dropwire/dropwire/stdwebhooks"
)

// nodeSecret is the example node's secret (the `secret` of its entry in
// Dropwire's configuration).
const nodeSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// A node verifies each claim webhook before it reads it. The handler
// answers 401 to a forged request without calling take, 200 once take
// has stored the claim, and 503 (Dropwire retries) when it could not.
func ExampleReceiver() {
	receiver, err := nodekit.NewReceiver(nodekit.ReceiverConfig{Secrets: []string{nodeSecret}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /dropwire", receiver.Handler(func(ctx context.Context, ev nodekit.Event) error {
		// ev.ID is the same on every retry: store the claim under it once.
		if ev.Type != nodekit.TypeClaimCreated {
			return nil // acknowledge what this node does not handle
		}
		if ev.Claim.Sandbox {
			fmt.Println("test claim: hand nothing out")
		}
		fmt.Println(ev.Type, ev.Claim.ID, ev.Claim.SKU, ev.Claim.PickupCode)
		return nil
	}))

	// Dropwire's side, for the example: a signed claim.created.
	req := dropwireWebhook(`{"type":"claim.created","claim":{"id":"sticker-spring.7hq2m9xak3","drop":"sticker-spring",` +
		`"node":"corner-books","sku":"sticker-pack","tier":"standard","pickup_code":"K7Q2M9XA",` +
		`"pickup_by":"2025-05-01T18:00:00Z","created_at":"2025-05-01T14:00:00Z"},"receipt":"eyJ…"}`)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// The same request with one byte changed never reaches take.
	forged := dropwireWebhook(`{"type":"claim.created","claim":{"id":"sticker-spring.7hq2m9xak4"}}`)
	forged.Header.Set("webhook-signature", req.Header.Get("webhook-signature"))
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, forged)
	fmt.Println(rec.Code)
	// Output:
	// claim.created sticker-spring.7hq2m9xak3 sticker-pack K7Q2M9XA
	// 200
	// 401
}

// dropwireWebhook signs body as Dropwire signs a claim webhook.
func dropwireWebhook(body string) *http.Request {
	signer, _ := stdwebhooks.NewSigner(nodeSecret)
	req := httptest.NewRequest(http.MethodPost, "/dropwire", bytes.NewReader([]byte(body)))
	for k, v := range signer.Headers("sticker-spring.7hq2m9xak3.created", time.Now(), []byte(body)) {
		req.Header[k] = v
	}
	return req
}

// A node verifies the receipt a viewer shows at the counter offline,
// against the keys Dropwire publishes at /.well-known/jwks.json. The keys
// are fetched once and cached; a receipt signed with a key the cache lacks
// (Dropwire rotated its key) makes Verify fetch them again.
func ExampleReceipts() {
	srv, receipt := fakeDropwire() // Dropwire, and a receipt it signed
	defer srv.Close()
	dropwireURL := srv.URL // Dropwire's public_url

	receipts, err := nodekit.NewReceipts(nodekit.ReceiptsConfig{BaseURL: dropwireURL, Node: "corner-books"})
	if err != nil {
		panic(err)
	}
	r, err := receipts.Verify(context.Background(), receipt)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(r.ClaimID, r.Node, r.SKU, r.PickupCode)

	_, err = receipts.Verify(context.Background(), receipt[:len(receipt)-4]+"AAAA")
	fmt.Println(err)
	// Output:
	// sticker-spring.7hq2m9xak3 corner-books sticker-pack K7Q2M9XA
	// nodekit: bad receipt: signature does not verify
}

// fakeDropwire serves a JWKS with one ES256 key, as Dropwire does, and
// returns a receipt signed with it.
func fakeDropwire() (*httptest.Server, string) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := jwk.FromRaw(priv)
	_ = key.Set(jwk.KeyIDKey, "key-2025-05-01")
	_ = key.Set(jwk.AlgorithmKey, jwa.ES256)
	pub, _ := jwk.PublicKeyOf(key)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nodekit.JWKSPath {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	claims, _ := json.Marshal(map[string]any{"iss": srv.URL, "sub": "sticker-spring.7hq2m9xak3",
		"cid": "sticker-spring.7hq2m9xak3", "drop": "sticker-spring", "node": "corner-books", "sku": "sticker-pack",
		"pickup_code": "K7Q2M9XA", "pickup_by": time.Now().Add(4 * time.Hour).Unix(),
		"iat": time.Now().Unix(), "exp": time.Now().Add(7 * 24 * time.Hour).Unix()})
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, "key-2025-05-01")
	tok, _ := jws.Sign(claims, jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(h)))
	return srv, string(tok)
}

// A node reports a claim's progress with signed callbacks. SendRetry
// retries what may succeed later (Dropwire unreachable, 429, 5xx) with the
// same webhook-id, so a callback is applied once however often it is sent.
func ExampleClient() {
	srv := fakeCallbackEndpoint() // stands in for Dropwire
	defer srv.Close()
	dropwireURL := srv.URL // Dropwire's public_url

	client, err := nodekit.NewClient(nodekit.ClientConfig{BaseURL: dropwireURL, Node: "corner-books", Secret: nodeSecret})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := client.SendRetry(ctx, nodekit.Ready("sticker-spring.7hq2m9xak3", &nodekit.Locker{Slot: "B-14", PIN: "482913"}), nodekit.Retry{})
	if err != nil {
		fmt.Println("not sent:", err)
		return
	}
	fmt.Println(res.Status, res.State)

	_, err = client.Send(ctx, nodekit.PickedUp("sticker-spring.unknown"))
	fmt.Println(err)
	// Output:
	// applied ready
	// nodekit: callback answered 404 unknown_claim: no claim of this node matches
}

// fakeCallbackEndpoint verifies callbacks as Dropwire does and answers
// ready to the one claim it knows.
func fakeCallbackEndpoint() *httptest.Server {
	v, _ := stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: []string{nodeSecret}})
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		_, _ = body.ReadFrom(r.Body)
		if _, err := v.Verify(r.Header, body.Bytes(), time.Now()); err != nil || r.URL.Path != "/v1/fulfillment/corner-books/events" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var cb nodekit.Callback
		_ = json.Unmarshal(body.Bytes(), &cb)
		if cb.Claim != "sticker-spring.7hq2m9xak3" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"code":"unknown_claim","detail":"no claim of this node matches"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"applied","claim":"` + cb.Claim + `","state":"ready"}`))
	}))
}
