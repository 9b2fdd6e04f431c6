package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/problem"
)

// readTimeoutServer serves POST /echo (reads the body, answers 400 as the
// real handlers do when the read fails) and GET|POST /linger (answers once
// its request has outlived the read timeout three times over).
func readTimeoutServer(t *testing.T, d time.Duration) *httptest.Server {
	t.Helper()
	s := newTestServer(t, Config{ReadTimeout: d})
	s.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			problem.Respond(w, http.StatusBadRequest, "malformed", "the body could not be read")
			return
		}
		_, _ = w.Write(b)
	})
	linger := func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			problem.Respond(w, http.StatusBadRequest, "malformed", "the body could not be read")
			return
		}
		select {
		case <-time.After(3 * d):
			_, _ = io.WriteString(w, "alive")
		case <-r.Context().Done():
			// The client is still there: only the server can have
			// cancelled the request.
			problem.Respond(w, http.StatusInternalServerError, "cancelled", r.Context().Err().Error())
		}
	}
	s.HandleFunc("GET /linger", linger)
	s.HandleFunc("POST /linger", linger)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// dribble sends head, then the body one byte every 20 ms until the
// connection fails or stop closes; it returns the connection's reader.
func dribble(t *testing.T, addr, head string, stop <-chan struct{}) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("7")); err != nil {
					return
				}
			}
		}
	}()
	return c, bufio.NewReader(c)
}

// A body that trickles in is cut off at read_timeout and answered 408
// problem+json; the connection then closes. The client's own 5 s deadline
// only keeps a broken server from hanging the test: without the read
// timeout the 60 KB body would take 20 minutes.
func TestSlowBodyIsAnswered408(t *testing.T) {
	ts := readTimeoutServer(t, 300*time.Millisecond)
	addr := ts.Listener.Addr().String()
	for _, tc := range []struct{ name, head string }{
		{"content-length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"},
		{"chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nEA60\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stop := make(chan struct{})
			defer close(stop)
			c, br := dribble(t, addr, tc.head, stop)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a slow body: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var p struct{ Code string }
			_ = json.Unmarshal(body, &p)
			if res.StatusCode != http.StatusRequestTimeout || p.Code != "request_timeout" || res.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("slow body answered %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			if !res.Close {
				t.Fatal("408 without Connection: close")
			}
			// The server hangs up: nothing more is read from this client.
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				var ne net.Error
				if !errors.As(err, &ne) || ne.Timeout() {
					t.Fatalf("connection still open after the 408: %v", err)
				}
			}
		})
	}
}

// Requests whose body arrived in time, and requests without a body, keep
// their context and connection well past read_timeout: the deadline binds
// the body, not the handler, so long requests and upgraded connections
// are not cut.
func TestReadTimeoutSparesFinishedBodies(t *testing.T) {
	ts := readTimeoutServer(t, 100*time.Millisecond)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	for i, req := range []func() (*http.Request, error){
		func() (*http.Request, error) { return http.NewRequest("GET", ts.URL+"/linger", nil) },
		func() (*http.Request, error) {
			return http.NewRequest("POST", ts.URL+"/linger", strings.NewReader(`{"ok":true}`))
		},
		// Again on the same kept-alive connection, after it sat idle
		// past the read timeout.
		func() (*http.Request, error) {
			return http.NewRequest("POST", ts.URL+"/linger", strings.NewReader(`{"ok":true}`))
		},
	} {
		r, err := req()
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Do(r)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "alive" {
			t.Fatalf("request %d answered %d %s", i, res.StatusCode, body)
		}
	}
	// A fast body still gets through whole.
	res, err := client.Post(ts.URL+"/echo", "application/json", strings.NewReader(strings.Repeat("x", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(body) != 100<<10 {
		t.Fatalf("echo answered %d with %d bytes", res.StatusCode, len(body))
	}
}
