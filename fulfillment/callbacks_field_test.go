package fulfillment

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A callback missing "claim", or carrying a field of the wrong type, is a
// 400 problem that names the field.
func TestCallbackNamesTheField(t *testing.T) {
	node := newTestNode(t)
	f := newFixture(t, storetest.Redis(t), config.Compensation{Kind: config.CompensationNone}, testNodeConfig("shop", node.srv.URL, node.secret))
	s := f.service()
	url := callbackServer(t, s) + "/v1/fulfillment/shop/events"
	for i, tc := range []struct {
		name, body, field, detail string
	}{
		{"missing claim", `{"type":"claim.accepted"}`, "claim", `"claim" is required`},
		{"empty claim", `{"type":"claim.ready","claim":""}`, "claim", `"claim" is required`},
		{"claim as an object", `{"type":"claim.accepted","claim":{"id":"drop-1.x"}}`, "claim", `"claim" must be a string (the claim id), not an object`},
		{"claim as a number", `{"type":"claim.accepted","claim":42}`, "claim", `"claim" must be a string (the claim id), not a number`},
		{"type as an array", `{"type":["claim.accepted"],"claim":"drop-1.x"}`, "type", `"type" must be a string, not an array`},
		{"locker as a string", `{"type":"claim.ready","claim":"drop-1.x","locker":"B4"}`, "locker", `"locker" must be an object, not a string`},
		{"locker pin as a number", `{"type":"claim.ready","claim":"drop-1.x","locker":{"pin":1234}}`, "locker.pin", `"locker.pin" must be a string, not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			req, _ := http.NewRequest("POST", url, strings.NewReader(tc.body))
			req.Header = signStandard(node.secret, "evt-field-"+string(rune('a'+i)), time.Now(), body)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var p struct{ Code, Detail, Field string }
			_ = json.Unmarshal(b, &p)
			if res.StatusCode != 400 || p.Code != "malformed_event" || p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("got %d %s, want 400 malformed_event naming %q: %s", res.StatusCode, b, tc.field, tc.detail)
			}
		})
	}
}
