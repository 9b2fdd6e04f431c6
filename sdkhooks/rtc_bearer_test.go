package sdkhooks

import (
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The token is accepted under any spelling of the Bearer scheme: the
// offer gets past authorization to the SDP check.
func TestRTCBearerSchemeAnyCase(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), nil)
	tok := rtcToken(t, "cap", time.Hour)
	for _, auth := range []string{"bearer " + tok, "BEARER " + tok, "Bearer\t" + tok, "Bearer   " + tok + "  "} {
		resp, body := rtcPost(t, e.url+"/v1/rtc/cap", "application/sdp", auth, "hello")
		if resp.StatusCode != 400 || !strings.Contains(body, `"code":"`+CodeBadSDP+`"`) {
			t.Errorf("Authorization %q: %d %s, want the 400 of a bad offer", strings.Replace(auth, tok, "<token>", 1), resp.StatusCode, body)
		}
	}
}
