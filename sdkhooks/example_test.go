package sdkhooks_test

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/sdkhooks"
)

// A capture-SDK vendor signs each webhook with the source's whsec_ secret
// (Standard Webhooks): the three headers travel with the exact body bytes
// that were signed. Use a fresh timestamp (time.Now()) and a unique,
// stable id per event: a retry sends the same id, so Dropwire answers
// "duplicate" instead of opening the drop twice.
func ExampleSigner() {
	signer, err := sdkhooks.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"drop.trigger","drop":"sticker-spring","moment":"m-42"}`)
	id := "evt_01HZX3K9"
	now := time.Unix(1614265330, 0) // time.Now() in real code

	req, err := http.NewRequest(http.MethodPost, "https://drops.example.com/v1/hooks/capture-vendor", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	for name, values := range signer.Headers(id, now, body) {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", "application/json")

	fmt.Println("webhook-id:", req.Header.Get("webhook-id"))
	fmt.Println("webhook-timestamp:", req.Header.Get("webhook-timestamp"))
	fmt.Println("webhook-signature:", req.Header.Get("webhook-signature"))
	// Output:
	// webhook-id: evt_01HZX3K9
	// webhook-timestamp: 1614265330
	// webhook-signature: v1,EZo4vDzekcHRZawviUU51SduKQ/vtG2d0iuqilydA8c=
}

// Dropwire's side: the verifier of the source checks the headers over the
// raw body before anything is parsed, then the envelope is decoded.
func ExampleNewVerifier() {
	src := config.Source{
		ID:      "capture-vendor",
		Scheme:  config.SchemeStandard,
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	}
	v, err := sdkhooks.NewVerifier(src)
	if err != nil {
		panic(err)
	}

	signer, _ := sdkhooks.NewSigner(src.Secrets[0])
	body := []byte(`{"type":"drop.trigger","drop":"sticker-spring","moment":"m-42"}`)
	sent := time.Unix(1614265330, 0)
	h := signer.Headers("evt_01HZX3K9", sent, body)

	verified, err := v.Verify(h, body, sent.Add(2*time.Second))
	if err != nil {
		fmt.Println(sdkhooks.Code(err))
		return
	}
	env, err := sdkhooks.DecodeEnvelope(body, verified.EventID)
	if err != nil {
		fmt.Println(sdkhooks.Code(err))
		return
	}
	fmt.Println(env.ID, env.Type, env.Drop, env.Moment)

	// The same request ten minutes later is refused.
	_, err = v.Verify(h, body, sent.Add(10*time.Minute))
	fmt.Println(sdkhooks.Code(err))

	// So is a tampered body.
	_, err = v.Verify(h, []byte(`{"type":"drop.trigger","drop":"other-drop"}`), sent)
	fmt.Println(sdkhooks.Code(err))
	// Output:
	// evt_01HZX3K9 drop.trigger sticker-spring m-42
	// stale_timestamp
	// bad_signature
}
