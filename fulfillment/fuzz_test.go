package fulfillment

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// FuzzCallback posts arbitrary signed bodies: the endpoint never panics
// and answers 202 or a problem with a code.
func FuzzCallback(f *testing.F) {
	for _, s := range []string{`{"type":"claim.accepted","claim":"drop-1.aaaaaaaaaaaaaaaa"}`,
		`{"type":"claim.picked_up","pickup_code":"P0000001"}`, `{"type":"claim.ready","claim":"x","locker":{"slot":"A1"}}`,
		`{"type":"claim.picked_up","receipt":"a.b.c"}`, `[]`, `{"type":1}`, ``,
		`{"type":"claim.accepted","claim":{"id":"drop-1.aaaaaaaaaaaaaaaa","drop":"drop-1","sku":"sku"}}`,
		`{"type":"claim.accepted","claim":{"id":5}}`, `{"type":"claim.accepted","claim":[1]}`, `{"type":"claim.accepted","claim":null}`} {
		f.Add([]byte(s))
	}
	st := storetest.Memory(f)
	secret := newSecret(f)
	fx := newFixture(f, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", "http://127.0.0.1:9/", secret))
	fx.claim("shop")
	s := fx.service()
	h := s.CallbackHandler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/fulfillment/shop/events", strings.NewReader(string(body)))
		req.SetPathValue("node", "shop")
		for k, v := range signStandard(secret, "fuzz-"+time.Now().Format("150405.000000000"), time.Now(), body) {
			req.Header[k] = v
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(context.Background()))
		if w.Code == http.StatusAccepted {
			return
		}
		var p struct{ Code string }
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" {
			t.Fatalf("%d without a problem code: %s", w.Code, w.Body.String())
		}
	})
}
