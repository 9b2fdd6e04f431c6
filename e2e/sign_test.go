package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dropwire/dropwire/sdkhooks"
)

// testSecret is the secret of the "capture" source in minimalConfig.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

type signed struct {
	headers http.Header
	body    []byte
}

// signedEvent returns a drop.trigger for sticker-spring signed as the
// capture source.
func signedEvent(t *testing.T, id string) signed {
	t.Helper()
	s, err := sdkhooks.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"type":"drop.trigger","drop":"sticker-spring","moment":"m-%s"}`, id))
	h := s.Headers(id, time.Now(), body)
	h.Set("Content-Type", "application/json")
	return signed{headers: h, body: body}
}
