package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The Bearer scheme is case-insensitive (RFC 9110) on every endpoint that
// takes a bearer token, and the spaces around the token do not matter.
func TestBearerSchemeAnyCase(t *testing.T) {
	a, srv := adminApp(t, nil, storetest.Redis(t))
	tok := a.Config().AdminToken
	for _, path := range []string{"/v1/admin/drops", "/v1/admin/dlq"} {
		for _, auth := range []string{"Bearer " + tok, "bearer " + tok, "BEARER  " + tok + " ", "Bearer\t" + tok} {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Header.Set("Authorization", auth)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("GET %s with Authorization %q: %d, want 200", path, strings.Replace(auth, tok, "<token>", 1), res.StatusCode)
			}
		}
	}
}
