package verifier_test

import (
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

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
)

// serveApp runs the whole app for cfg on a loopback port of base.
func serveApp(t *testing.T, ln net.Listener, cfg *config.Config) {
	t.Helper()
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop(), Store: storetest.Redis(t)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-done })
}

// hook posts a signed capture event.
func hook(t *testing.T, base, id, body string) {
	t.Helper()
	s, err := sdkhooks.NewSigner(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/v1/hooks/capture", strings.NewReader(body))
	req.Header = s.Headers(id, time.Now(), []byte(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("webhook %s: %d %s", id, res.StatusCode, b)
	}
}

// shownCode returns the claim URL the overlay shows.
func shownCode(t *testing.T, base string) string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/overlay/ava/ws?key="+overlayKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Status string
			QR     *overlay.QR
		}
		if json.Unmarshal(msg, &st) == nil && st.Status == "open" && st.QR != nil {
			// The claim URL is in the symbol, as a phone reads it.
			u, err := st.QR.Text()
			if err != nil {
				t.Fatalf("the overlay's QR does not decode: %v", err)
			}
			return u
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// A code the overlay showed answers for what it is however long ago it
// rotated out: expired while the drop is open (scan the current QR), ended
// once the drop has closed; and only a code never shown is unknown.
func TestShownCodeExpiresThenEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := browserConfig(t, base)
	cfg.Drops[0].QRRotate = config.Duration(time.Second)
	cfg.Drops[0].ScanGrace = config.Duration(time.Second)
	serveApp(t, ln, cfg)
	hook(t, base, "evt-open", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)

	url := shownCode(t, base)
	if status, _ := get(t, url); status != 200 {
		t.Fatalf("current code: %d", status)
	}
	// Rotation and grace are a second each: within a few the code expires.
	deadline := time.Now().Add(20 * time.Second)
	status, page := get(t, url)
	for status == 200 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		status, page = get(t, url)
	}
	if status != 403 || !strings.Contains(page, "expired") || strings.Contains(page, "<form") {
		t.Fatalf("rotated-out code: %d %s", status, page)
	}
	// Several rotations later it is still expired, not unknown.
	time.Sleep(3 * time.Second)
	if status, page = get(t, url); status != 403 || !strings.Contains(page, "expired") {
		t.Fatalf("code rotated out long ago: %d %s", status, page)
	}
	claim := func(code string) map[string]any {
		res, err := http.Post(base+"/v1/claims", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p map[string]any
		_ = json.NewDecoder(res.Body).Decode(&p)
		return p
	}
	code := url[strings.LastIndex(url, "/")+1:]
	if p := claim(code); p["code"] != "code_expired" {
		t.Fatalf("claim with a code rotated out long ago: %v", p)
	}
	if status, _ := get(t, base+"/c/ZZZZZZZZZZ"); status != 404 {
		t.Fatalf("a code never shown: %d", status)
	}

	hook(t, base, "evt-close", `{"type":"drop.close","drop":"spring"}`)
	if status, page = get(t, url); status != 410 || !strings.Contains(page, "ended") {
		t.Fatalf("code of an ended drop: %d %s", status, page)
	}
	if p := claim(code); p["code"] != "closed" {
		t.Fatalf("claim with a code of an ended drop: %v", p)
	}
}
