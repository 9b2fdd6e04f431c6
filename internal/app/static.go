package app

import (
	"bytes"
	"io/fs"
	"net/http"

	"github.com/dropwire/dropwire/web"
)

// keptStatic answers a plain GET of a static file (as every phone
// opening a claim page makes for its stylesheet and script) from memory,
// with the response files (staticHandler) gives it, recorded once here;
// anything else (a range, a revalidation, another query string, a file
// not in web.FS) goes to files.
func keptStatic(files http.Handler) http.Handler {
	type variant struct {
		header http.Header
		body   []byte
	}
	type kept struct {
		query         string // "v=<version>"
		plain, pinned variant
	}
	known := map[string]*kept{}
	record := func(target string) (variant, bool) {
		rec := &recorder{header: http.Header{}}
		files.ServeHTTP(rec, internalGet(target))
		rec.header.Del("Date")
		return variant{rec.header, rec.body.Bytes()}, rec.status == http.StatusOK
	}
	entries, _ := fs.ReadDir(web.FS, ".")
	for _, e := range entries {
		v := web.Version(e.Name())
		if e.IsDir() || v == "" {
			continue
		}
		k := &kept{query: "v=" + v}
		var ok1, ok2 bool
		k.plain, ok1 = record("/static/" + e.Name())
		k.pinned, ok2 = record("/static/" + e.Name() + "?" + k.query)
		if ok1 && ok2 {
			known["/static/"+e.Name()] = k
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := known[r.URL.Path]
		if k == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) || conditional(r.Header) {
			files.ServeHTTP(w, r)
			return
		}
		var v *variant
		switch r.URL.RawQuery {
		case "":
			v = &k.plain
		case k.query:
			v = &k.pinned
		default:
			files.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		for name, values := range v.header {
			h[name] = values
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(v.body)
		}
	})
}

// conditional reports whether a request asks for part of a file or
// only for a change: what http.ServeContent decides.
func conditional(h http.Header) bool {
	for _, name := range [...]string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if _, ok := h[name]; ok {
			return true
		}
	}
	return false
}

// internalGet is a GET of target as the server would hand it to a handler.
func internalGet(target string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		panic(err) // targets are built from embedded file names
	}
	r.RequestURI = target
	return r
}

// recorder keeps a response in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
