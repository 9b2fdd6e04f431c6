package app

import (
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/dropwire/dropwire/web"
)

// The static files kept in memory are answered exactly as the file
// server answers them, headers and bodies, for every kind of request;
// the kept answer is the file's bytes.
func TestKeptStaticAnswersAsTheFileServer(t *testing.T) {
	files := staticHandler()
	kept := keptStatic(files)
	css := web.Version("claim.css")
	tag := `"` + css + `"`
	for _, tc := range []struct {
		method, target string
		header         map[string]string
		status         int
	}{
		{"GET", web.AssetURL("claim.css"), nil, 200},
		{"GET", web.AssetURL("claim.js"), nil, 200},
		{"GET", web.AssetURL("overlay.html"), nil, 200},
		{"GET", "/static/claim.css", nil, 200},
		{"GET", "/static/claim.css?v=0000", nil, 200},
		{"GET", "/static/claim.css?v=" + css + "&x=1", nil, 200},
		{"HEAD", web.AssetURL("claim.css"), nil, 200},
		{"GET", web.AssetURL("claim.css"), map[string]string{"If-None-Match": tag}, 304},
		{"GET", web.AssetURL("claim.css"), map[string]string{"Range": "bytes=0-9"}, 206},
		{"GET", "/static/nope.css", nil, 404},
		{"GET", "/static/", nil, 404},
	} {
		do := func(h http.Handler) *httptest.ResponseRecorder {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			rec.Header().Del("Date")
			return rec
		}
		want, got := do(files), do(kept)
		if got.Code != tc.status || want.Code != tc.status {
			t.Errorf("%s %s: %d from memory, %d from the file server, want %d", tc.method, tc.target, got.Code, want.Code, tc.status)
		}
		if !maps.EqualFunc(got.Header(), want.Header(), slices.Equal) {
			t.Errorf("%s %s: headers\nfrom memory      %v\nfrom file server %v", tc.method, tc.target, got.Header(), want.Header())
		}
		if got.Body.String() != want.Body.String() {
			t.Errorf("%s %s: bodies differ", tc.method, tc.target)
		}
	}
	for _, name := range []string{"claim.css", "claim.js"} {
		b, _ := fs.ReadFile(web.FS, name)
		rec := httptest.NewRecorder()
		kept.ServeHTTP(rec, httptest.NewRequest("GET", web.AssetURL(name), nil))
		if rec.Body.String() != string(b) || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d bytes, %v", name, rec.Body.Len(), rec.Header())
		}
	}
}
