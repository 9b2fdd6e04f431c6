package stdwebhooks_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// A sender signs the exact body bytes it sends; the receiver verifies them
// before it parses anything. A retry keeps the id.
func Example() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	signer, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"claim.created","claim":{"id":"sticker-spring.7hq2m9xak3"}}`)
	sent := time.Unix(1746108000, 0) // time.Now() in real code
	h := signer.Headers("sticker-spring.7hq2m9xak3.created", sent, body)
	fmt.Println(h.Get("webhook-signature"))

	v, err := stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}
	m, err := v.Verify(h, body, sent.Add(3*time.Second))
	fmt.Println(m.ID, err)

	_, err = v.Verify(h, body, sent.Add(10*time.Minute))
	fmt.Println(errors.Is(err, stdwebhooks.ErrStaleTimestamp))
	_, err = v.Verify(h, []byte(`{"type":"claim.created","claim":{"id":"other"}}`), sent)
	fmt.Println(errors.Is(err, stdwebhooks.ErrBadSignature))
	// Output:
	// v1,79MhpCUVoR1dQnuh1Si0lTwkY+8ChprZJRK7YqoHz20=
	// sticker-spring.7hq2m9xak3.created <nil>
	// true
	// true
}
