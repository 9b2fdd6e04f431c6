package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsEveryRequest(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := got.Add(1)
		if n%10 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		_, _ = w.Write([]byte(`{"status":"accepted"}`))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	req := BuildRequest("POST", host, "/v1/hooks/x", http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))

	for _, tc := range []struct {
		rate       int
		goroutines bool
	}{{0, false}, {500, false}, {0, true}, {500, true}} {
		rate := tc.rate
		got.Store(0)
		res, err := Run(context.Background(), Config{
			Addr: host, Request: func(int) Request { return req }, Rate: rate, Concurrency: 4, Max: 200, Duration: 30 * time.Second,
			goroutines: tc.goroutines,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 200 || got.Load() != 200 || res.Status[200] != 180 || res.Status[429] != 20 || len(res.Errors) != 0 {
			t.Fatalf("%+v: sent %d, server saw %d, status %v, errors %v", tc, res.Sent, got.Load(), res.Status, res.Errors)
		}
		l := res.Latency
		if l.Count != 200 || l.Min <= 0 || l.Min > l.P50 || l.P50 > l.P99 || l.P99 > l.Max {
			t.Fatalf("%+v: latency summary %+v", tc, l)
		}
	}
}

func TestSummarize(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	s := l.Summarize()
	if s.Min != time.Millisecond || s.Max != 100*time.Millisecond || s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond || s.Mean != 50500*time.Microsecond {
		t.Fatalf("%+v", s)
	}
}

func TestRunRedialsClosedConnections(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1)%3 == 0 {
			w.Header().Set("Connection", "close")
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	req := BuildRequest("GET", host, "/", nil, nil)
	for _, goroutines := range []bool{false, true} {
		got.Store(0)
		res, err := Run(context.Background(), Config{Addr: host, Request: func(int) Request { return req },
			Concurrency: 3, Max: 90, goroutines: goroutines})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status[200] != 90 || got.Load() != 90 || len(res.Errors) != 0 {
			t.Fatalf("goroutines %v: status %v, server saw %d, errors %v", goroutines, res.Status, got.Load(), res.Errors)
		}
	}
}

func TestRunAgainstNoServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there now
	for _, goroutines := range []bool{false, true} {
		res, err := Run(context.Background(), Config{Addr: host, Request: func(int) Request { return nil },
			Rate: 100, Concurrency: 2, Duration: 300 * time.Millisecond, goroutines: goroutines})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 0 || len(res.Errors) == 0 {
			t.Fatalf("goroutines %v: sent %d, errors %v", goroutines, res.Sent, res.Errors)
		}
	}
}

// parseResponse reads a response only once it is whole, whatever the
// pieces it arrives in.
func TestParseResponse(t *testing.T) {
	whole := "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\ncontent-length: 21\r\n\r\n{\"status\":\"accepted\"}"
	for cut := range len(whole) {
		if _, n, _, err := parseResponse([]byte(whole[:cut])); n != 0 || err != nil {
			t.Fatalf("%d of %d bytes: n %d, err %v", cut, len(whole), n, err)
		}
	}
	status, n, closeConn, err := parseResponse([]byte(whole + "HTTP/1.1 200"))
	if status != 202 || n != len(whole) || closeConn || err != nil {
		t.Fatalf("whole: %d %d %v %v", status, n, closeConn, err)
	}
	if _, _, closeConn, _ := parseResponse([]byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")); !closeConn {
		t.Fatal("Connection: close not seen")
	}
	for _, bad := range []string{
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"SMTP ready\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	} {
		if _, _, _, err := parseResponse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Each whole response reaches OnResponse with the index of its request,
// in both engines: what lets a run keep the cookie each request was set.
func TestRunHandsEachResponseToItsRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "n="+r.URL.Query().Get("n"))
		_, _ = w.Write([]byte("body-" + r.URL.Query().Get("n")))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	const n = 120
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = BuildRequest("GET", host, "/?n="+strconv.Itoa(i), nil, nil)
	}
	for _, goroutines := range []bool{false, true} {
		var mu sync.Mutex
		seen := map[int]string{}
		res, err := Run(context.Background(), Config{Addr: host, Request: func(i int) Request { return reqs[i] },
			Concurrency: 5, Max: n, goroutines: goroutines,
			OnResponse: func(i int, resp []byte) {
				mu.Lock()
				seen[i] = string(resp)
				mu.Unlock()
			}})
		if err != nil || res.Status[200] != n {
			t.Fatalf("goroutines %v: %v %v", goroutines, res.Status, err)
		}
		for i := range n {
			r := seen[i]
			if SetCookie([]byte(r), "n") != "n="+strconv.Itoa(i) || SetCookie([]byte(r), "m") != "" || !strings.HasSuffix(r, "\r\n\r\nbody-"+strconv.Itoa(i)) {
				t.Fatalf("goroutines %v: response %d: %q", goroutines, i, r)
			}
		}
	}
}
