package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// A server's responses, captured, are answered again by Replay with the
// same status, headers (but the date) and body.
func TestCaptureAndReplay(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			http.Error(w, "gone", http.StatusGone)
			return
		}
		w.Header().Set("Set-Cookie", "a=b; Path=/")
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<p>" + r.URL.RequestURI() + "</p>"))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	targets := []string{"/c/ABC", "/static/x.css?v=1", "/gone"}
	reqs := make([]Request, len(targets))
	for i, p := range targets {
		reqs[i] = BuildRequest("GET", host, p, nil, nil)
	}
	got, err := Capture(host, reqs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Target != "/c/ABC" || got[0].Status != 200 || string(got[0].Body) != "<p>/c/ABC</p>" ||
		got[1].Target != "/static/x.css?v=1" || got[2].Status != http.StatusGone {
		t.Fatalf("captured %+v", got)
	}

	ref := httptest.NewServer(Replay(got))
	t.Cleanup(ref.Close)
	for _, c := range got {
		res, err := http.Get(ref.URL + c.Target)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.Status || string(body) != string(c.Body) || res.Header.Get("Set-Cookie") != c.Header.Get("Set-Cookie") ||
			res.Header.Get("Content-Type") != c.Header.Get("Content-Type") {
			t.Errorf("replayed %s: %d %v %q", c.Target, res.StatusCode, res.Header, body)
		}
	}
	if res, err := http.Get(ref.URL + "/other"); err != nil || res.StatusCode != 404 {
		t.Fatalf("a target not captured: %v %v", res, err)
	}
}

// Interleave sends each side its share, in slices whose order alternates,
// and combines each side's slices.
func TestInterleave(t *testing.T) {
	var mu sync.Mutex
	var order []string
	server := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if len(order) == 0 || order[len(order)-1] != name {
				order = append(order, name)
			}
			mu.Unlock()
			_, _ = w.Write([]byte(r.URL.Path))
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	a, b := server("a"), server("b")
	sides := []Side{
		{"a", a, []Request{BuildRequest("GET", a, "/1", nil, nil), BuildRequest("GET", a, "/2", nil, nil)}},
		{"b", b, []Request{BuildRequest("GET", b, "/1", nil, nil)}},
	}
	var after []int
	res, err := Interleave(context.Background(), Config{Concurrency: 2}, sides, 4, 50, func(side int) func(Result) {
		after = append(after, side)
		return func(r Result) {
			if r.Sent != 50 {
				t.Errorf("a slice of %d requests", r.Sent)
			}
			after = append(after, side)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	served := strings.Join(order, "") // consecutive runs of one side count once
	mu.Unlock()
	if served != "ababa" || fmt.Sprint(after) != "[0 0 1 1 1 1 0 0 0 0 1 1 1 1 0 0]" {
		t.Fatalf("order of the runs %v, after %v", served, after)
	}
	for i, r := range res {
		if r.Sent != 200 || r.Status[200] != 200 || r.Latency.Count != 200 || r.Throughput <= 0 || r.Elapsed <= 0 {
			t.Errorf("side %d: %+v", i, r)
		}
	}
}
