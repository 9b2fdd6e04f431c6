package loadgen

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSocketsRead checks the reader against gorilla/websocket: messages of
// each length encoding, a fragmented message, pings answered, and the end
// of every connection ending Read.
func TestSocketsRead(t *testing.T) {
	big := strings.Repeat("x", 70_000) // 64-bit length
	mid := strings.Repeat("y", 300)    // 16-bit length
	want := []string{"hello", mid, big, "fragmented " + strings.Repeat("z", 2000), "bye"}
	const n = 5
	var (
		mu     sync.Mutex
		pongs  int
		start  = make(chan struct{})
		server sync.WaitGroup
	)
	up := websocket.Upgrader{WriteBufferSize: 512} // longer messages go out in fragments
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		server.Add(1)
		defer server.Done()
		defer ws.Close()
		ws.SetPongHandler(func(s string) error {
			if s == "are you there" {
				mu.Lock()
				pongs++
				mu.Unlock()
			}
			return nil
		})
		go func() { // reads, so pongs are handled
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
			}
		}()
		_ = ws.WriteMessage(websocket.TextMessage, []byte(want[0])) // with the handshake
		<-start
		_ = ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		_ = ws.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte("not text"), 300)) // fragmented too
		for _, m := range want[1:] {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Error(err)
			}
		}
		time.Sleep(200 * time.Millisecond) // the pong
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?key=k"

	for _, poll := range []bool{polled, false} {
		t.Run(fmt.Sprintf("polled=%v", poll), func(t *testing.T) {
			mu.Lock()
			pongs = 0
			mu.Unlock()
			start = make(chan struct{})
			s, err := dialWebSockets(url, n, 5*time.Second, poll)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := make([][]string, n)
			done := make(chan error, 1)
			go func() {
				done <- s.Read(func(i int, m []byte, at time.Time) {
					if at.IsZero() {
						t.Error("no time")
					}
					got[i] = append(got[i], string(bytes.Clone(m)))
				})
			}()
			close(start)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Read did not return when the server closed every connection")
			}
			for i := range n {
				if len(got[i]) != len(want) {
					t.Fatalf("socket %d: %d messages, want %d", i, len(got[i]), len(want))
				}
				for j := range want {
					if got[i][j] != want[j] {
						t.Fatalf("socket %d message %d: %d bytes %.20q…, want %d bytes %.20q…", i, j, len(got[i][j]), got[i][j], len(want[j]), want[j])
					}
				}
			}
			server.Wait()
			mu.Lock()
			defer mu.Unlock()
			if pongs != n {
				t.Fatalf("%d pongs, want %d", pongs, n)
			}
		})
	}
}

func TestSocketsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	_, err := DialWebSockets("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", 2, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("got %v, want the 401 of the handshake", err)
	}
}

// A server that answers 101 without proving it read the key is refused.
func TestSocketsWrongAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
	}()
	_, err = DialWebSockets("ws://"+ln.Addr().String()+"/ws", 1, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Fatalf("got %v, want the wrong accept refused", err)
	}
}
