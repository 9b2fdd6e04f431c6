package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Logger = zerolog.Nop()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOperatorEndpoints(t *testing.T) {
	var storeDown atomic.Bool
	s := newTestServer(t, Config{Ready: func(context.Context) error {
		if storeDown.Load() {
			return errors.New("connection refused")
		}
		return nil
	}})
	s.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.PathValue("id"))
	})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if resp, _ := get("/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	if resp, _ := get("/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz = %d", resp.StatusCode)
	}
	storeDown.Store(true)
	resp, body := get("/readyz")
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("readyz with store down = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `"code":"store_unavailable"`) || !strings.Contains(body, "connection refused") {
		t.Fatalf("readyz body = %s", body)
	}

	for _, id := range []string{"a", "b", "c"} {
		if resp, body := get("/v1/things/" + id); resp.StatusCode != 200 || body != id {
			t.Fatalf("thing %s = %d %q", id, resp.StatusCode, body)
		}
	}
	resp, body = get("/nowhere")
	if resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Fatalf("unknown path = %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get(RequestIDHeader) == "" {
		t.Fatal("no request id on the response")
	}

	_, metrics := get("/metrics")
	// Labelled by pattern, never by raw path.
	want := `dropwire_http_requests_total{code="200",method="GET",route="GET /v1/things/{id}"} 3`
	if !strings.Contains(metrics, want) {
		t.Fatalf("metrics lack %q", want)
	}
	if strings.Contains(metrics, `route="/v1/things/a"`) {
		t.Fatal("metrics labelled by raw path")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "dropwire_http_request_duration_seconds_bucket"} {
		if !strings.Contains(metrics, name) {
			t.Fatalf("metrics lack %s", name)
		}
	}
}

func TestRequestIDAndPanic(t *testing.T) {
	s := newTestServer(t, Config{})
	s.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	req, _ := http.NewRequest("GET", ts.URL+"/boom", nil)
	req.Header.Set(RequestIDHeader, "vendor-req-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || p["code"] != "internal" {
		t.Fatalf("panic answered %d %v", resp.StatusCode, p)
	}
	if got := resp.Header.Get(RequestIDHeader); got != "vendor-req-1" {
		t.Fatalf("request id = %q, want the caller's", got)
	}
	if !validRequestID(nextRequestID()) || validRequestID("has space") || validRequestID(strings.Repeat("x", 65)) {
		t.Fatal("request id validation")
	}
}

// Shutdown lets a slow in-flight request finish, then stops components in
// reverse order of registration.
func TestShutdownDrainsThenClosesInReverse(t *testing.T) {
	s := newTestServer(t, Config{})
	started := make(chan struct{})
	s.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	var mu sync.Mutex
	var order []string
	for _, name := range []string{"store", "workers", "hub"} {
		s.OnShutdown(name, func(context.Context) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if strings.Join(order, ",") != "hub,workers,store" {
		t.Fatalf("close order = %v", order)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// A handler's log lines carry the request id, as does the access line.
func TestRequestLogger(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	s, err := New(Config{Logger: zerolog.New(lockedWriter{&mu, &buf}).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	s.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).Info().Msg("inside")
		if RequestID(r.Context()) != "req-42" {
			t.Errorf("RequestID = %q", RequestID(r.Context()))
		}
	})
	req := httptest.NewRequest("GET", "/hello", nil)
	req.Header.Set(RequestIDHeader, "req-42")
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines: %q", buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["request_id"] != "req-42" || m["client"] != "192.0.2.1" {
			t.Fatalf("line without the request id and client: %s", l)
		}
	}
	if Logger(context.Background()).GetLevel() != zerolog.Disabled {
		t.Fatal("Logger outside a request should be disabled")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
