package overlay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// leakCheck fails t if goroutines started during the test outlive its
// cleanups. Call it first, so its cleanup runs last.
func leakCheck(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// Many overlays of one creator: each gets idle on connect, the same open
// state with the current claim code when the drop opens, then closed, then
// idle again after the linger.
func TestHubManyClients(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		leakCheck(t)
		e := newEnv(t, st, func(c *HubConfig) { c.Linger = 300 * time.Millisecond }, testDrop("spring"), testDrop("other"))
		const n = 50
		clients := make([]*client, n)
		for i := range clients {
			clients[i] = e.dial(t)
			if s := clients[i].next(); s.Status != StatusIdle || s.V != ProtocolVersion || s.Drop != nil || s.QR != nil {
				t.Fatalf("client %d first state: %+v", i, s)
			}
		}
		if got := e.hub.Connected("ava"); got != n {
			t.Fatalf("Connected = %d, want %d", got, n)
		}
		if got := e.hub.Overlays(); len(got) != 1 || got["ava"] != n {
			t.Fatalf("Overlays = %v, want ava: %d", got, n)
		}
		if got := testutil.ToFloat64(e.hub.metrics.connected.WithLabelValues("ava")); got != n {
			t.Fatalf("connections gauge = %v", got)
		}
		triggered := time.Now()
		e.trigger(t, "spring", "e1")
		d, _ := e.cat.Drop(context.Background(), "spring")
		var first State
		for i, c := range clients {
			s := c.until(func(s State) bool { return s.Status != StatusIdle })
			if s.Status != StatusOpen || s.Drop.ID != "spring" || s.Drop.Title != "Drop spring" ||
				*s.Stock != (Stock{Left: 42, Total: 42}) || s.QR == nil || s.ClosesAt == nil {
				t.Fatalf("client %d open state: %+v", i, s)
			}
			// Codes rotate on the wall clock; one may have rotated in
			// since the trigger.
			then, _, err := e.codes.Current(context.Background(), d, triggered)
			if err != nil {
				t.Fatal(err)
			}
			code, _, err := e.codes.Current(context.Background(), d, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			url := qrText(t, s.QR)
			if got := strings.TrimPrefix(url, "https://drops.example.com/c/"); got != code && got != then {
				t.Fatalf("client %d QR %q, want code %s", i, url, code)
			}
			if i == 0 {
				first = s
			} else if s.Seq != first.Seq || *s.QR != *first.QR {
				t.Fatalf("client %d got seq %d %+v, client 0 %d %+v", i, s.Seq, s.QR, first.Seq, first.QR)
			}
		}
		e.close(t, "spring", "e2")
		for _, c := range clients {
			if s := c.until(func(s State) bool { return s.Status != StatusOpen }); s.Status != StatusClosed || s.Drop.ID != "spring" || s.Seq <= first.Seq {
				t.Fatalf("after close: %+v", s)
			}
			if s := c.next(); s.Status != StatusIdle {
				t.Fatalf("after linger: %+v", s)
			}
		}
		if testutil.ToFloat64(e.hub.metrics.frames) < 3*n {
			t.Fatalf("frames counter %v", testutil.ToFloat64(e.hub.metrics.frames))
		}
	})
}

// The most recently opened open drop is shown; stock comes from the stock
// hash; left 0 is sold out.
func TestHubChoosesDropAndStock(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) { c.Linger = time.Hour }, testDrop("a"), testDrop("b"))
	c := e.dial(t)
	c.next()
	e.trigger(t, "a", "e1")
	if s := c.until(func(s State) bool { return s.Status == StatusOpen }); s.Drop.ID != "a" {
		t.Fatalf("%+v", s)
	}
	time.Sleep(5 * time.Millisecond) // opened_at has millisecond resolution
	e.trigger(t, "b", "e2")
	c.until(func(s State) bool { return s.Drop != nil && s.Drop.ID == "b" })

	ctx := context.Background()
	if err := e.st.HSet(ctx, store.DropKey("b", "stock"), map[string]string{"n1:s": "3", "n2:s": "4"}); err != nil {
		t.Fatal(err)
	}
	_ = e.st.Publish(ctx, "drop-state", []byte("b 2"))
	if s := c.until(func(s State) bool { return s.Stock.Left != 42 }); *s.Stock != (Stock{Left: 7, Total: 42}) || s.Status != StatusOpen {
		t.Fatalf("%+v", s)
	}
	if err := e.st.HSet(ctx, store.DropKey("b", "stock"), map[string]string{"n1:s": "0", "n2:s": "0"}); err != nil {
		t.Fatal(err)
	}
	_ = e.st.Publish(ctx, "drop-state", []byte("b 3"))
	// b sold out: a, still open, is shown again.
	if s := c.until(func(s State) bool { return s.Drop.ID != "b" || s.Status != StatusOpen }); s.Drop.ID != "a" || s.Status != StatusOpen {
		t.Fatalf("after b sold out: %+v", s)
	}
	time.Sleep(5 * time.Millisecond)
	e.close(t, "a", "e3")
	// Now the most recent ending (a closed, after b sold out) is shown.
	if s := c.until(func(s State) bool { return s.Status != StatusOpen }); s.Status != StatusClosed || s.Drop.ID != "a" {
		t.Fatalf("after a closed: %+v", s)
	}
}

// Frames reach a client in the order they were broadcast: seq strictly
// increases and the last one arrives.
func TestHubOrdering(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), nil, testDrop("a"))
	c := e.dial(t)
	c.next()
	const n = 2000
	go func() {
		for i := 1; i <= n; i++ {
			e.hub.broadcast("ava", fmt.Appendf(nil, `{"type":"state","seq":%d}`, i))
		}
	}()
	last := int64(0)
	for last < n {
		s := c.next()
		if s.Seq <= last {
			t.Fatalf("seq %d after %d", s.Seq, last)
		}
		last = s.Seq
	}
}

// An overlay that stops reading gets, when it reads again, the latest state
// and not the backlog: queued frames were replaced.
func TestHubConflation(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) { c.WriteTimeout = 10 * time.Second }, testDrop("a"))
	c := e.dial(t)
	c.next()
	const n = 200
	pad := strings.Repeat("x", 256<<10) // fills the socket buffers fast
	for i := 1; i <= n; i++ {
		e.hub.broadcast("ava", fmt.Appendf(nil, `{"type":"state","seq":%d,"status":"%s"}`, i, pad))
	}
	got := 0
	last := int64(0)
	for last < n {
		s := c.next()
		if s.Seq <= last {
			t.Fatalf("seq %d after %d", s.Seq, last)
		}
		last = s.Seq
		got++
	}
	if got > n/2 {
		t.Fatalf("received %d of %d frames: no conflation", got, n)
	}
	t.Logf("received %d of %d frames", got, n)
}

// A client that never reads is dropped after the write timeout, counted,
// and the others keep receiving every state, including after the drop.
func TestHubSlowClientDropped(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) { c.WriteTimeout = time.Second }, testDrop("a"))
	// The slow client: tiny receive buffer, never reads after the handshake.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		nc, err := net.Dial(network, addr)
		if err == nil {
			_ = nc.(*net.TCPConn).SetReadBuffer(4096)
		}
		return nc, err
	}}
	slow, _, err := d.Dial(e.wsURL("ava", testKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	const fast = 10
	var wg sync.WaitGroup
	lasts := make([]int64, fast)
	clients := make([]*client, fast)
	for i := range clients {
		clients[i] = e.dial(t)
		clients[i].next()
	}
	const n = 400
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lasts[i] < n+1 {
				_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, b, err := c.ws.ReadMessage()
				if err != nil {
					t.Errorf("fast client %d: %v", i, err)
					return
				}
				// Only the head: a fast client must be cheap under -race.
				var seq int64
				if _, err := fmt.Sscanf(string(b[:min(len(b), 40)]), `{"type":"state","seq":%d`, &seq); err == nil {
					lasts[i] = seq
				}
			}
		}()
	}
	pad := strings.Repeat("x", 32<<10)
	start := time.Now()
	for i := 1; i <= n; i++ {
		e.hub.broadcast("ava", fmt.Appendf(nil, `{"type":"state","seq":%d,"status":"%s"}`, i, pad))
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.hub.Connected("ava") != fast {
		if time.Now().After(deadline) {
			t.Fatalf("slow client not dropped: %d connected", e.hub.Connected("ava"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("broadcast of %d frames took %v; slow client dropped", n, time.Since(start))
	// After the drop, the others still get new states.
	e.hub.broadcast("ava", []byte(`{"type":"state","seq":401}`))
	wg.Wait()
	for i, l := range lasts {
		if l != n+1 {
			t.Fatalf("fast client %d last seq %d", i, l)
		}
	}
	if got := testutil.ToFloat64(e.hub.metrics.slow); got != 1 {
		t.Fatalf("slow clients counter = %v", got)
	}
}

// Shutdown closes every socket with 1001 and waits for every goroutine
// (leakCheck); it is idempotent; later connections are refused.
func TestHubShutdown(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), nil, testDrop("a"))
	var cs []*client
	for range 20 {
		c := e.dial(t)
		c.next()
		cs = append(cs, c)
	}
	for range 2 {
		if err := e.hub.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cs {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, _, err := c.ws.ReadMessage()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Fatalf("want close 1001, got %v", err)
				}
				break
			}
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL("ava", testKey), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v %v", err, resp)
	}
}

// Wrong key and unknown creator get the same 401 (problem JSON on the
// socket, a visible message on the page); old keys still work (rotation);
// foreign origins are refused.
func TestHubAuth(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), nil, testDrop("a"))
	bodyOf := func(creator, key string) (int, string) {
		_, resp, err := websocket.DefaultDialer.Dial(e.wsURL(creator, key), nil)
		if err == nil {
			t.Fatalf("%s/%s: connected", creator, key)
		}
		var p struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type") + " " + p.Code
	}
	s1, b1 := bodyOf("ava", "nope")
	s2, b2 := bodyOf("nobody", "nope")
	s3, b3 := bodyOf("ava", "")
	if s1 != 401 || s1 != s2 || b1 != b2 || s3 != 401 || b1 != "application/problem+json wrong_overlay_key" || b3 != b1 {
		t.Fatalf("wrong key %d %q, unknown creator %d %q, empty %d %q", s1, b1, s2, b2, s3, b3)
	}
	ws, _, err := websocket.DefaultDialer.Dial(e.wsURL("ava", "old-key"), nil)
	if err != nil {
		t.Fatalf("rotated key refused: %v", err)
	}
	ws.Close()

	for origin, ok := range map[string]bool{
		"": true, "null": true, "file://": true, e.srv.URL: true,
		"https://drops.example.com": true, "https://evil.example": false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL("ava", testKey), h)
		if (err == nil) != ok {
			t.Errorf("origin %q: err %v, want allowed=%v", origin, err, ok)
		}
		if err == nil {
			ws.Close()
		} else if resp.StatusCode != 403 {
			t.Errorf("origin %q: status %d", origin, resp.StatusCode)
		}
	}

	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/overlay/ava?key=" + testKey, 200, "<p>overlay</p>"},
		{"/overlay/ava?key=old-key", 200, "<p>overlay</p>"},
		{"/overlay/ava?key=bad", 401, "wrong overlay key"},
		{"/overlay/ghost?key=bad", 401, "wrong overlay key"},
	} {
		resp, err := http.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		_, _ = fmt.Fprint(&sb, readAll(resp))
		if resp.StatusCode != tc.code || !strings.Contains(sb.String(), tc.want) {
			t.Errorf("%s: %d %q", tc.path, resp.StatusCode, sb.String())
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

var _ = config.Drop{}

// Openings and claims are drawn from their announcements, without reading
// the drop back; stale and claim-state announcements change nothing; any
// other announcement re-reads the drop.
func TestHubAppliesAnnouncements(t *testing.T) {
	leakCheck(t)
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil, testDrop("a"))
		ctx := context.Background()
		c := e.dial(t)
		c.next()
		// Units already counted before the opening (stock added): the
		// opening carries what is left.
		if err := st.HSet(ctx, store.DropKey("a", "stock"), map[string]string{"n1:s": "20", "n2:s": "12"}); err != nil {
			t.Fatal(err)
		}
		e.trigger(t, "a", "e1")
		s := c.until(func(s State) bool { return s.Status == StatusOpen })
		if *s.Stock != (Stock{Left: 32, Total: 42}) || s.QR == nil {
			t.Fatalf("opened: %+v", s)
		}
		seq, err := e.v.State(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		publish := func(msg string) {
			t.Helper()
			if err := st.Publish(ctx, "drop-state", []byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
		// The store still says 32: the frame can only come from the message.
		publish(fmt.Sprintf("a %d 9", seq.Seq+1))
		if s := c.next(); s.Stock.Left != 9 {
			t.Fatalf("after a claim announcement: %+v", s.Stock)
		}
		publish(fmt.Sprintf("a %d 5", seq.Seq)) // older than what is shown
		publish(fmt.Sprintf("a %d claim delivered", seq.Seq+2))
		publish(fmt.Sprintf("a %d 8", seq.Seq+3))
		if s := c.next(); s.Stock.Left != 8 {
			t.Fatalf("a stale or claim-state announcement was drawn: %+v", s.Stock)
		}
		// Anything else is read back: the store's 32.
		publish(fmt.Sprintf("a %d", seq.Seq+4))
		if s := c.next(); s.Stock.Left != 32 {
			t.Fatalf("after a plain announcement: %+v", s.Stock)
		}
	})
}

// Announcements that queue up while the hub is busy with a creator (a
// fan-out to many overlays takes milliseconds; a claim rush announces
// every claim) are taken together: the overlays get the latest state in
// one frame, not one frame per announcement after a growing delay.
func TestHubCoalescesQueuedAnnouncements(t *testing.T) {
	leakCheck(t)
	st := storetest.Memory(t) // Publish has queued a message when it returns
	e := newEnv(t, st, nil, testDrop("a"))
	ctx := context.Background()
	c := e.dial(t)
	c.next()
	e.trigger(t, "a", "e1")
	c.until(func(s State) bool { return s.Status == StatusOpen })
	seq, err := e.v.State(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// The hub is busy with the creator while the claims of a rush are
	// announced.
	ch := e.hub.creator("ava")
	ch.mu.Lock()
	const claims = 20
	for i := 1; i <= claims; i++ {
		msg := fmt.Sprintf("a %d %d", seq.Seq+int64(i), 42-i)
		if err := st.Publish(ctx, verifier.StateChannel, []byte(msg)); err != nil {
			ch.mu.Unlock()
			t.Fatal(err)
		}
	}
	ch.mu.Unlock()
	// The first announcement may have been taken alone, before the others
	// were queued; every other one comes with the last.
	frames, last := 0, int64(0)
	for {
		s := c.next()
		if s.Seq <= last {
			t.Fatalf("seq %d after %d", s.Seq, last)
		}
		last = s.Seq
		frames++
		if s.Stock.Left == 42-claims {
			break
		}
	}
	if frames > 2 {
		t.Fatalf("%d frames for %d queued announcements; want the latest state in at most 2", frames, claims)
	}
}

// An overlay is not left stale by a break in the hub's subscription: a
// drop closed while the hub could not hear its announcement is shown
// closed as soon as the hub has subscribed again, long before the
// periodic resync.
func TestHubCatchesUpAfterSubscriptionBreak(t *testing.T) {
	leakCheck(t)
	direct := storetest.Redis(t)
	proxy := storetest.NewProxy(t)
	e := newEnv(t, proxy.Redis(t, direct.Prefix()), func(c *HubConfig) { c.Resync = time.Hour }, testDrop("a"))
	c := e.dial(t)
	c.next()
	// The opening reaches the overlay through the hub's subscription, so
	// the subscription stands.
	e.trigger(t, "a", "e1")
	c.until(func(s State) bool { return s.Status == StatusOpen })

	// Redis "restarts" for the hub; another replica closes the drop
	// meanwhile, and its announcement is lost to the hub.
	proxy.Hold()
	proxy.Sever()
	other, err := verifier.New(verifier.Config{Store: direct, Drops: e.cat, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Ingest(context.Background(), testSource, verifier.Event{
		Source: testSource.ID, Channel: verifier.ChannelWebhook, ID: "e2", Type: verifier.TypeDropClose, Drop: "a",
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the hub keeps trying meanwhile
	proxy.Release()
	if s := c.until(func(s State) bool { return s.Status != StatusOpen }); s.Status != StatusClosed {
		t.Fatalf("after the break: %+v", s)
	}
}

// Frames are built by the hub, not by gorilla: every length encoding
// (7, 16 and 64 bits, and their edges) reads back whole with a standard
// client, and a ping from the client is answered between frames.
func TestHubFrameLengths(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), nil, testDrop("a"))
	c := e.dial(t)
	c.next()
	pongs := make(chan string, 1)
	c.ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 300_000} {
		want := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		e.hub.broadcast("ava", want)
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		kind, got, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
		if kind != websocket.TextMessage || !bytes.Equal(got, want) {
			t.Fatalf("length %d: got kind %d, %d bytes", n, kind, len(got))
		}
	}
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The pong is handled while reading; frames keep coming meanwhile.
	for i := 1; ; i++ {
		e.hub.broadcast("ava", fmt.Appendf(nil, `{"type":"state","seq":%d}`, i))
		if s := c.next(); s.Seq != int64(i) {
			t.Fatalf("seq %d, want %d", s.Seq, i)
		}
		select {
		case s := <-pongs:
			if s != "hi" {
				t.Fatalf("pong %q", s)
			}
			return
		default:
		}
		if i == 100 {
			t.Fatal("no pong")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every PingInterval an overlay gets a protocol ping and a {"type":"ping"}
// message; one that answers pings stays past PongWait, one that stays
// silent is closed once PongWait has passed.
func TestHubPings(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) {
		c.PingInterval = 100 * time.Millisecond
		c.PongWait = 600 * time.Millisecond
	}, testDrop("a"))

	good := e.dial(t)
	pings := make(chan struct{}, 100)
	good.ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return good.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	silent := e.dial(t)
	silent.ws.SetPingHandler(func(string) error { return nil }) // no pong

	silentDone := make(chan error, 1)
	go func() {
		for {
			_ = silent.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := silent.ws.ReadMessage(); err != nil {
				silentDone <- err
				return
			}
		}
	}()

	start := time.Now()
	appPings := 0
	for time.Since(start) < 1500*time.Millisecond {
		_ = good.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, b, err := good.ws.ReadMessage()
		if err != nil {
			t.Fatalf("the answering overlay was closed after %v: %v", time.Since(start), err)
		}
		if string(b) == `{"type":"ping"}` {
			appPings++
		}
	}
	if appPings < 3 || len(pings) < 3 {
		t.Fatalf("in 1.5 s at a 100 ms interval: %d ping messages, %d protocol pings", appPings, len(pings))
	}
	select {
	case err := <-silentDone:
		// Dropped, not closed politely: gorilla reports the EOF as 1006.
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("silent overlay got a close frame %v; want the connection dropped", ce)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the silent overlay is still connected")
	}
	if n := e.hub.Connected("ava"); n != 1 {
		t.Fatalf("connected %d, want 1", n)
	}
}

// Behind TLS terminated by Dropwire itself there is no raw socket to write
// to: every frame goes through the connection's writer, in order, with
// conflation as usual.
func TestHubOverTLS(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, storetest.Memory(t), nil, testDrop("a"))
	srv := httptest.NewTLSServer(e.srv.Config.Handler)
	defer srv.Close()
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	ws, resp, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"/v1/overlay/ava/ws?key="+testKey, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws}
	if s := c.next(); s.Status != StatusIdle {
		t.Fatalf("first state %q", s.Status)
	}
	for i := 1; i <= 50; i++ {
		e.hub.broadcast("ava", fmt.Appendf(nil, `{"type":"state","seq":%d}`, i))
	}
	last := int64(0)
	for last < 50 {
		s := c.next()
		if s.Seq <= last {
			t.Fatalf("seq %d after %d", s.Seq, last)
		}
		last = s.Seq
	}
}
