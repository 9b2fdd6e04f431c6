package fulfillment

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
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
		{"claim object without id", `{"type":"claim.accepted","claim":{"drop":"drop-1"}}`, "claim.id", `"claim.id" is required when "claim" is an object`},
		{"claim object with a numeric id", `{"type":"claim.accepted","claim":{"id":7}}`, "claim.id", `"claim.id" must be a string (the claim id), not a number`},
		{"claim as a number", `{"type":"claim.accepted","claim":42}`, "claim", `"claim" must be a string (the claim id) or the claim object, not a number`},
		{"claim as an array", `{"type":"claim.accepted","claim":["drop-1.x"]}`, "claim", `"claim" must be a string (the claim id) or the claim object, not an array`},
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

// A node may name the claim by echoing the claim object it received in
// claim.created: its "id" is taken, and the callback applies as with the
// id string.
func TestCallbackAcceptsTheReceivedClaimObject(t *testing.T) {
	node := newTestNode(t)
	f := newFixture(t, storetest.Redis(t), config.Compensation{Kind: config.CompensationNone}, testNodeConfig("shop", node.srv.URL, node.secret))
	s := f.service()
	run(t, s)
	url := callbackServer(t, s) + "/v1/fulfillment/shop/events"
	id := f.claim("shop")
	eventually(t, 5*time.Second, "forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })
	got := node.deliveries()
	if len(got) != 1 || got[0].Payload.Claim.ID != id {
		t.Fatalf("deliveries %+v", got)
	}
	received, _ := json.Marshal(got[0].Payload.Claim)
	for i, typ := range []string{"claim.accepted", "claim.ready"} {
		body := []byte(`{"type":"` + typ + `","claim":` + string(received) + `}`)
		if r := post(t, url, signStandard(node.secret, "echo-"+typ, time.Now(), body), body); r.Status != 202 || r.Result != "applied" {
			t.Fatalf("%s with the claim object: %+v", typ, r)
		}
		if want := []string{"accepted", "ready"}[i]; f.claimHash(id)["state"] != want {
			t.Fatalf("state %q after %s, want %q", f.claimHash(id)["state"], typ, want)
		}
	}
}

// Every field of Callback survives its own JSON: UnmarshalJSON lists the
// fields again, and one added to Callback alone would be dropped.
func TestCallbackJSONRoundTrip(t *testing.T) {
	in := Callback{Type: "claim.ready", Claim: "drop-1.x", Receipt: "r", PickupCode: "p",
		Locker: &Locker{Slot: "B4", PIN: "1234"}, Reason: "why", Amount: "12.50", Currency: "EUR", At: "2026-12-05T18:30:00Z"}
	v := reflect.ValueOf(in)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fill Callback.%s in this test", v.Type().Field(i).Name)
		}
	}
	b, _ := json.Marshal(in)
	var out Callback
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v %v, want %+v", out, err, in)
	}
}
