package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/problem"
)

// A path that has routes, asked with another method, is 405 with Allow;
// a path without any route is 404. Both are problem+json.
func TestWrongMethodIs405(t *testing.T) {
	s := newTestServer(t, Config{})
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }
	s.HandleFunc("GET /v1/things/{id}", ok)
	s.HandleFunc("DELETE /v1/things/{id}", ok)
	s.HandleFunc("POST /v1/things", ok)
	s.HandleFunc("GET /static/", ok)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"POST", "/v1/things/a", 405, "method_not_allowed", "GET, HEAD, DELETE"},
		{"GET", "/v1/things", 405, "method_not_allowed", "POST"},
		{"PUT", "/static/app.js", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"TRACE", "/metrics", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/nowhere", 404, "not_found", ""},
		{"POST", "/v1/things/a/b", 404, "not_found", ""},
		{"HEAD", "/v1/things/a", 200, "", ""},
		{"DELETE", "/v1/things/a", 200, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status || res.Header.Get("Allow") != tc.allow {
				t.Fatalf("%d Allow %q, want %d Allow %q", res.StatusCode, res.Header.Get("Allow"), tc.status, tc.allow)
			}
			if tc.code == "" {
				return
			}
			var p struct{ Code, Detail string }
			if err := json.NewDecoder(res.Body).Decode(&p); err != nil || p.Code != tc.code || res.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("body: %v %+v %s", err, p, res.Header.Get("Content-Type"))
			}
		})
	}
}

// Headers over MaxHeaderBytes get a 431 problem from the middleware; only
// headers past net/http's own, higher limit get its plain-text 431.
func TestHeadersTooLarge(t *testing.T) {
	s := newTestServer(t, Config{MaxHeaderBytes: 2048})
	s.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })

	get := func(header int) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/hello", nil)
		req.Header.Set("X-Padding", strings.Repeat("p", header))
		res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, body := get(1000); res.StatusCode != 200 || body != "hi" {
		t.Fatalf("small headers: %d %s", res.StatusCode, body)
	}
	res, body := get(3000)
	if res.StatusCode != 431 || res.Header.Get("Content-Type") != problem.ContentType || !strings.Contains(body, `"code":"headers_too_large"`) {
		t.Fatalf("headers over the limit: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if res, _ := get(20000); res.StatusCode != 431 {
		t.Fatalf("headers far over the limit: %d", res.StatusCode)
	}
}
