package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/dropwire/dropwire/internal/problem"
)

// methodOrder is the order methods are listed in Allow.
var methodOrder = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// unmatched answers a request no route took: 405 with Allow when the path
// has routes for other methods, 404 otherwise. The mux would work that out
// itself without the catch-all "/", but answer in plain text.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	if allow := s.allowed(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		problem.Respond(w, http.StatusMethodNotAllowed, "method_not_allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.Join(allow, ", "))
		return
	}
	problem.Respond(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path)
}

// allowed returns the methods that have a route for r's path, asking the
// mux as it would route each (so a GET route allows HEAD too). Only misses
// pay for it.
func (s *Server) allowed(r *http.Request) []string {
	methods := s.methods()
	var out []string
	probe := r.WithContext(r.Context())
	for _, m := range methods {
		if m == r.Method {
			continue
		}
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// methods lists every method some route names, GET's HEAD included, in
// methodOrder and then alphabetical order.
func (s *Server) methods() []string {
	s.mu.Lock()
	seen := map[string]bool{}
	for _, p := range s.routes {
		if m, _, ok := strings.Cut(p, " "); ok {
			seen[m] = true
			if m == http.MethodGet {
				seen[http.MethodHead] = true
			}
		}
	}
	s.mu.Unlock()
	out := make([]string, 0, len(seen))
	for _, m := range methodOrder {
		if seen[m] {
			out = append(out, m)
			delete(seen, m)
		}
	}
	rest := make([]string, 0, len(seen))
	for m := range seen {
		rest = append(rest, m)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// headerSize is about the bytes r's request line and headers took on the
// wire, as net/http counts them against MaxHeaderBytes.
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// writeHeadersTooLarge answers 431 and closes the connection.
func writeHeadersTooLarge(w http.ResponseWriter, limit int) {
	w.Header().Set("Connection", "close")
	problem.Respond(w, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
		"the request line and headers are over "+strconv.Itoa(limit)+" bytes")
}
