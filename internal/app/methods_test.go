package app

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Every route, asked with a method it does not serve, answers a 405
// problem whose Allow names the route's method.
func TestEveryRouteAnswers405(t *testing.T) {
	a, srv := adminApp(t, nil, storetest.Memory(t))
	fill := strings.NewReplacer("{id}", "x", "{creator}", "demo", "{source}", "demo-capture", "{session}", "s",
		"{code}", "c", "{claim}", "x", "{node}", "demo-locker", "{campaign}", "x", "{region}", "x")
	routes := a.Server().Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		path := fill.Replace(strings.TrimSuffix(pattern, "{$}"))
		req, _ := http.NewRequest("TRACE", srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Code string }
		_ = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		allow := strings.Split(res.Header.Get("Allow"), ", ")
		if res.StatusCode != 405 || p.Code != "method_not_allowed" || !slices.Contains(allow, method) {
			t.Errorf("TRACE %s (route %q): %d %q Allow %q", path, route, res.StatusCode, p.Code, res.Header.Get("Allow"))
		}
	}

	// The ones users hit: a GET of the claim endpoint, a POST to a page.
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/v1/claims", "POST"},
		{"POST", "/c/abc", "GET, HEAD"},
		{"POST", "/v1/admin/drops/x/stats", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 405 || res.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 with %s", tc.method, tc.path, res.StatusCode, res.Header.Get("Allow"), tc.allow)
		}
	}
}
