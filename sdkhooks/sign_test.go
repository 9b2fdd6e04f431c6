package sdkhooks

import (
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

// What SignRequest signs, the scheme's verifier accepts; a changed body is
// refused.
func TestSignRequestVerifies(t *testing.T) {
	sources := []config.Source{
		{ID: "std", Scheme: config.SchemeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{ID: "jwt", Scheme: config.SchemeJWT, Secrets: []string{"a-shared-secret-of-at-least-32-bytes!!"}},
		{ID: "jwt-whsec", Scheme: config.SchemeJWT, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{ID: "tw", Scheme: config.SchemeTwitch, Secrets: []string{"twitch-shared-secret"}},
	}
	now := time.Now()
	body := []byte(`{"type":"drop.trigger","drop":"d","moment":"m"}`)
	for _, src := range sources {
		t.Run(src.ID, func(t *testing.T) {
			v, err := NewVerifier(src)
			if err != nil {
				t.Fatal(err)
			}
			h, err := SignRequest(src, "evt-1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(h, body, now); err != nil {
				t.Fatalf("own signature refused: %v", err)
			}
			if _, err := v.Verify(h, append([]byte(nil), `{"type":"drop.close","drop":"d"}`...), now); Code(err) != "bad_signature" {
				t.Fatalf("other body: %v", err)
			}
		})
	}
	if _, err := SignRequest(config.Source{ID: "x", Scheme: config.SchemeStandard}, "e", now, body); err == nil {
		t.Fatal("signed without a secret")
	}
}
