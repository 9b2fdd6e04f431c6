package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
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

	for _, rate := range []int{0, 500} {
		got.Store(0)
		res, err := Run(context.Background(), Config{
			Addr: host, Request: func(int) Request { return req }, Rate: rate, Concurrency: 4, Max: 200, Duration: 30 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 200 || got.Load() != 200 || res.Status[200] != 180 || res.Status[429] != 20 || len(res.Errors) != 0 {
			t.Fatalf("rate %d: sent %d, server saw %d, status %v, errors %v", rate, res.Sent, got.Load(), res.Status, res.Errors)
		}
		l := res.Latency
		if l.Count != 200 || l.Min <= 0 || l.Min > l.P50 || l.P50 > l.P99 || l.P99 > l.Max {
			t.Fatalf("rate %d: latency summary %+v", rate, l)
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
