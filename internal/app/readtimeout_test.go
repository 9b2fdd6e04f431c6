package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// servedApp runs the demo configuration, changed by edit, on its own
// listener through App.Serve: the server the command runs, timeouts and
// all. It returns the App and its base URL.
func servedApp(t *testing.T, edit func(*config.Config)) (*App, string) {
	t.Helper()
	return servedAppOpts(t, edit)
}

func servedAppOpts(t *testing.T, edit func(*config.Config)) (*App, string) {
	t.Helper()
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg.PublicURL = base
	if edit != nil {
		edit(cfg)
	}
	opts := Options{Config: cfg, Logger: zerolog.Nop()}
	if cfg.RedisURL == "" {
		opts.Store = storetest.Redis(t)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return a, base
}

// With a short read_timeout, a claim whose body trickles in is answered
// 408, while an overlay WebSocket stays open and keeps receiving frames
// long after, and WHIP signaling (a body sent at once) still works.
func TestReadTimeoutSparesWebSocketAndWHIP(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	a, base := servedApp(t, func(c *config.Config) {
		c.ReadTimeout = config.Duration(readTimeout)
		c.RTCLoopback = true
	})
	cfg := a.Config()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	ws, _, err := websocket.DefaultDialer.DialContext(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/overlay/"+config.DemoCreator+"/ws?key="+cfg.Creators[0].OverlayKeys[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	status := func() string {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("overlay socket: %v", err)
			}
			var f struct{ Type, Status string }
			_ = json.Unmarshal(msg, &f)
			if f.Type == "state" {
				return f.Status
			}
		}
	}
	if s := status(); s != "idle" {
		t.Fatalf("first frame: %q", s)
	}

	// A claim body that trickles in: 408, past read_timeout.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /v1/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("slow claim body: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"code":"request_timeout"`) {
		t.Fatalf("slow claim body answered %d %s", res.StatusCode, body)
	}

	// The overlay has been connected for several read timeouts now: a
	// trigger still reaches it.
	time.Sleep(3 * readTimeout)
	src := cfg.Sources[0]
	event, _ := json.Marshal(map[string]any{"type": "drop.trigger", "drop": config.DemoDrop, "moment": "m-1", "occurred_at": time.Now().UTC().Format(time.RFC3339)})
	h, err := sdkhooks.SignRequest(src, "evt-read-timeout", time.Now(), event)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/hooks/"+src.ID, strings.NewReader(string(event)))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	hres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %d", hres.StatusCode)
	}
	if s := status(); s != "open" {
		t.Fatalf("frame after the trigger: %q", s)
	}

	// WHIP: the offer is a body like any other, sent at once.
	tok, err := sdkhooks.MintToken(src, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rtc, err := sdkhooks.DialRTC(ctx, sdkhooks.RTCClientConfig{URL: base + "/v1/rtc/" + src.ID, Token: tok, Loopback: true})
	if err != nil {
		t.Fatalf("WHIP offer with read_timeout %v: %v", readTimeout, err)
	}
	if err := rtc.Close(ctx); err != nil {
		t.Fatalf("WHIP DELETE: %v", err)
	}
}
