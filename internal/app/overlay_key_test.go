package app

import (
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestWrongOverlayKeySameAnswer: through the whole server, a wrong key for
// a creator that exists and for one that does not get the same status,
// headers and body, on the overlay page and on its WebSocket. Only the
// request id and the date may differ.
func TestWrongOverlayKeySameAnswer(t *testing.T) {
	_, srv := adminApp(t, nil, storetest.Redis(t))
	get := func(path string, ws bool) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if ws {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		h := res.Header.Clone()
		h.Del("X-Request-Id")
		h.Del("Date")
		return res.StatusCode, h, string(body)
	}
	for _, tc := range []struct {
		name, known, unknown string
		ws                   bool
	}{
		{"page", "/overlay/demo?key=wrong", "/overlay/nobody?key=wrong", false},
		{"websocket", "/v1/overlay/demo/ws?key=wrong", "/v1/overlay/nobody/ws?key=wrong", true},
		{"no key", "/overlay/demo", "/overlay/nobody", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, kh, kb := get(tc.known, tc.ws)
			us, uh, ub := get(tc.unknown, tc.ws)
			if ks != http.StatusUnauthorized || us != ks {
				t.Errorf("status: known creator %d, unknown %d; want 401 for both", ks, us)
			}
			if !maps.EqualFunc(kh, uh, slices.Equal) {
				t.Errorf("headers differ:\nknown   %v\nunknown %v", kh, uh)
			}
			if kb != ub {
				t.Errorf("bodies differ:\nknown   %q\nunknown %q", kb, ub)
			}
		})
	}
}
