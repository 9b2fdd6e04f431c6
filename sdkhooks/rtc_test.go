package sdkhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

const rtcSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// rtcSources: two data-channel sources of creator ava, a slow one, and a
// webhook-only one.
func rtcSources() []config.Source {
	return []config.Source{
		{ID: "cap", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{rtcSecret}, WebRTC: true},
		{ID: "cap2", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{"whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="}, WebRTC: true},
		{ID: "slow", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{rtcSecret}, WebRTC: true, Rate: 1, Burst: 1},
		{ID: "hooks", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{rtcSecret}},
	}
}

type rtcEnv struct {
	rtc *RTC
	v   *verifier.Verifier
	url string // base URL of the test server
}

// newRTCEnv serves an RTC on 127.0.0.1 over st, loopback candidates only.
func newRTCEnv(t *testing.T, st store.Store, mod func(*RTCConfig)) *rtcEnv {
	t.Helper()
	spring := config.Drop{ID: "spring", Creator: "ava", Stock: []config.StockLine{{Node: "shop", SKU: "s", Qty: 5}}}
	spring.ApplyDefaults()
	v, err := verifier.New(verifier.Config{Store: st, Drops: verifier.NewCatalog([]config.Drop{spring})})
	if err != nil {
		t.Fatal(err)
	}
	cfg := RTCConfig{
		Sources:  rtcSources(),
		Ingester: v,
		Logger:   zerolog.New(zerolog.NewTestWriter(t)),
		Loopback: true,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewRTC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux.Handle)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &rtcEnv{rtc: s, v: v, url: ts.URL}
}

func rtcToken(t testing.TB, source string, ttl time.Duration) string {
	t.Helper()
	for _, s := range rtcSources() {
		if s.ID == source {
			tok, err := MintToken(s, ttl, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	t.Fatalf("no source %q", source)
	return ""
}

// noKeepAlive keeps signaling connections from outliving their request,
// so goroutine counts return to the baseline.
var noKeepAlive = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (e *rtcEnv) dial(t *testing.T, source string) *RTCClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialRTC(ctx, RTCClientConfig{URL: e.url + "/v1/rtc/" + source, Token: rtcToken(t, source, time.Hour), Loopback: true, HTTPClient: noKeepAlive})
	if err != nil {
		t.Fatalf("DialRTC: %v", err)
	}
	t.Cleanup(c.Abandon)
	return c
}

func sendAck(t *testing.T, c *RTCClient, msg string) Ack {
	t.Helper()
	if err := c.Send([]byte(msg)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := c.NextAck(ctx)
	if err != nil {
		t.Fatalf("NextAck: %v", err)
	}
	return a
}

func rtcTrigger(id, moment string) string {
	return fmt.Sprintf(`{"id":%q,"type":"drop.trigger","drop":"spring","moment":%q}`, id, moment)
}

// The whole exchange over a pion-to-pion loopback channel: accepted (and
// the drop opens), duplicate, malformed, oversize, unknown drop, a
// keepalive; the peer stays up through all of them.
func TestRTCIngest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newRTCEnv(t, st, nil)
		c := e.dial(t, "cap")
		if e.rtc.Peers() != 1 || e.rtc.PeersOf("cap") != 1 {
			t.Fatalf("peers = %d, of cap %d", e.rtc.Peers(), e.rtc.PeersOf("cap"))
		}

		a := sendAck(t, c, rtcTrigger("evt-1", "m-1"))
		if a.Ack != "evt-1" || a.Status != verifier.StatusAccepted || a.Moment == nil || a.Moment.State != verifier.MomentOpened {
			t.Fatalf("first trigger: %+v", a)
		}
		state, err := e.v.State(context.Background(), "spring")
		if err != nil || state.Status != verifier.StatusOpen || state.Moment != "m-1" || state.Channel != verifier.ChannelDataChannel {
			t.Fatalf("state = %+v, %v", state, err)
		}

		tests := []struct {
			name, msg      string
			id, status, rs string
		}{
			{"duplicate", rtcTrigger("evt-1", "m-1"), "evt-1", verifier.StatusDuplicate, ""},
			{"not JSON", `{"id":"evt-2",`, "", StatusRejected, "malformed_event"},
			{"missing drop", `{"id":"evt-3","type":"drop.trigger"}`, "evt-3", StatusRejected, "malformed_event"},
			{"oversize", `{"id":"evt-4","type":"drop.trigger","drop":"spring","data":"` + strings.Repeat("x", MaxRTCMessage) + `"}`, "evt-4", StatusRejected, "payload_too_large"},
			{"unknown drop", `{"id":"evt-5","type":"drop.trigger","drop":"autumn"}`, "evt-5", StatusRejected, "unknown_drop"},
			{"corroboration", rtcTrigger("evt-6", "m-1"), "evt-6", verifier.StatusAccepted, ""},
		}
		for _, tt := range tests {
			a := sendAck(t, c, tt.msg)
			if a.Ack != tt.id || a.Status != tt.status || a.Reason != tt.rs {
				t.Errorf("%s: ack %+v, want id %q status %q reason %q", tt.name, a, tt.id, tt.status, tt.rs)
			}
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if m, err := c.Next(ctx); err != nil || string(m) != `{"type":"pong"}` {
			t.Fatalf("ping: %q, %v", m, err)
		}
		if c.ConnectionState() != webrtc.PeerConnectionStateConnected || e.rtc.Peers() != 1 {
			t.Fatalf("peer did not survive bad messages: %v, %d peers", c.ConnectionState(), e.rtc.Peers())
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("Close (DELETE): %v", err)
		}
		if n := e.rtc.Peers(); n != 0 {
			t.Fatalf("%d peers after DELETE", n)
		}
	})
}

// NextAckAt gives the ack (past a pong) and when it arrived on the
// channel: after the event was sent, and no later than it is read.
func TestRTCNextAckAt(t *testing.T) {
	e := newRTCEnv(t, storetest.Redis(t), nil)
	c := e.dial(t, "cap")
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := c.Send([]byte(rtcTrigger("evt-at", "m-at"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, at, err := c.NextAckAt(ctx)
	read := time.Now()
	if err != nil || a.Ack != "evt-at" || a.Status != verifier.StatusAccepted {
		t.Fatalf("ack %+v, %v", a, err)
	}
	if at.Before(sent) || at.After(read) {
		t.Fatalf("arrived at %v: sent %v, read %v", at, sent, read)
	}
}

// Over the source's rate: rejected with rate_limited and a retry hint.
func TestRTCRateLimit(t *testing.T) {
	e := newRTCEnv(t, storetest.Redis(t), nil)
	c := e.dial(t, "slow")
	if a := sendAck(t, c, rtcTrigger("r-1", "m-1")); a.Status != verifier.StatusAccepted {
		t.Fatalf("first: %+v", a)
	}
	a := sendAck(t, c, rtcTrigger("r-2", "m-1"))
	if a.Status != StatusRejected || a.Reason != "rate_limited" || a.Ack != "r-2" || a.RetryAfterMS <= 0 {
		t.Fatalf("second: %+v", a)
	}
	if c.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Fatal("rate limit closed the peer")
	}
}

func rtcPost(t *testing.T, url, ctype, auth, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(b)
}

// a real offer with a data channel, from a pion client that is then closed.
func rtcOffer(t *testing.T) string {
	t.Helper()
	pc, err := NewRTCClientAPI(true).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.GracefulClose() }()
	if _, err := pc.CreateDataChannel(RTCLabel, nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// Every refusal happens before a PeerConnection exists.
func TestRTCSignalingRefusals(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), nil)
	offer := rtcOffer(t)
	good := "Bearer " + rtcToken(t, "cap", time.Hour)
	expired, err := MintToken(rtcSources()[0], time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other := rtcToken(t, "cap2", time.Hour) // valid, for another source
	audioOnly := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"

	tests := []struct {
		name, source, ctype, auth, body string
		status                          int
		code                            string
	}{
		{"unknown source", "nobody", "application/sdp", good, offer, 404, CodeUnknownSource},
		{"webrtc disabled", "hooks", "application/sdp", good, offer, 403, CodeWebRTCDisabled},
		{"no token", "cap", "application/sdp", "", offer, 401, CodeMissingToken},
		{"not bearer", "cap", "application/sdp", "Basic abc", offer, 401, CodeMissingToken},
		{"garbage token", "cap", "application/sdp", "Bearer not-a-jwt", offer, 401, CodeBadToken},
		{"token of another source", "cap", "application/sdp", "Bearer " + other, offer, 401, CodeBadToken},
		{"tampered token", "cap", "application/sdp", good[:len(good)-4] + "AAAA", offer, 401, CodeBadToken},
		{"expired token", "cap", "application/sdp", "Bearer " + expired, offer, 401, CodeExpiredToken},
		{"bad token wins over bad content", "cap", "text/plain", "Bearer x.y.z", "hello", 401, CodeBadToken},
		{"content type", "cap", "application/json", good, offer, 415, CodeUnsupportedMediaType},
		{"not SDP", "cap", "application/sdp", good, "hello", 400, CodeBadSDP},
		{"no data channel", "cap", "application/sdp", good, audioOnly, 400, CodeBadSDP},
		{"too large", "cap", "application/sdp", good, offer + strings.Repeat("a=x\r\n", DefaultMaxOffer/5), 413, CodePayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rtcPost(t, e.url+"/v1/rtc/"+tt.source, tt.ctype, tt.auth, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if n := e.rtc.created.Load(); n != 0 {
		t.Errorf("%d PeerConnections created by refused offers", n)
	}
	if n := e.rtc.Peers(); n != 0 {
		t.Errorf("%d peers registered by refused offers", n)
	}
}

// PATCH is 405, OPTIONS is a CORS preflight, DELETE checks the token and
// that the session belongs to the source.
func TestRTCSignalingVerbs(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), nil)
	do := func(method, path, auth string) *http.Response {
		req, _ := http.NewRequest(method, e.url+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := noKeepAlive.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	if r := do(http.MethodPatch, "/v1/rtc/cap/abc", ""); r.StatusCode != 405 || r.Header.Get("Allow") == "" {
		t.Errorf("PATCH: %d, Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
	r := do(http.MethodOptions, "/v1/rtc/cap", "")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("OPTIONS: %d %v", r.StatusCode, r.Header)
	}

	c := e.dial(t, "cap")
	path := "/v1/rtc/cap/" + c.Session()
	if r := do(http.MethodDelete, "/v1/rtc/cap/nope", rtcToken(t, "cap", time.Hour)); r.StatusCode != 404 {
		t.Errorf("DELETE unknown session: %d", r.StatusCode)
	}
	if r := do(http.MethodDelete, path, ""); r.StatusCode != 401 {
		t.Errorf("DELETE without token: %d", r.StatusCode)
	}
	if r := do(http.MethodDelete, "/v1/rtc/cap2/"+c.Session(), rtcToken(t, "cap2", time.Hour)); r.StatusCode != 404 {
		t.Errorf("DELETE through another source: %d", r.StatusCode)
	}
	if e.rtc.Peers() != 1 {
		t.Fatal("peer closed by a refused DELETE")
	}
	if r := do(http.MethodDelete, path, rtcToken(t, "cap", time.Hour)); r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("DELETE: %d", r.StatusCode)
	}
	if e.rtc.Peers() != 0 {
		t.Fatal("peer open after DELETE")
	}
	if r := do(http.MethodDelete, path, rtcToken(t, "cap", time.Hour)); r.StatusCode != 404 {
		t.Errorf("second DELETE: %d", r.StatusCode)
	}
}

// The per-source and the global caps answer 503 before creating anything.
func TestRTCPeerCap(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), func(c *RTCConfig) { c.MaxPeers = 2; c.MaxPeersPerSource = 1 })
	e.dial(t, "cap")
	offer := rtcOffer(t)
	created := e.rtc.created.Load()
	resp, body := rtcPost(t, e.url+"/v1/rtc/cap", "application/sdp", "Bearer "+rtcToken(t, "cap", time.Hour), offer)
	if resp.StatusCode != 503 || !strings.Contains(body, CodePeerCap) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("per-source cap: %d %s", resp.StatusCode, body)
	}
	e.dial(t, "cap2")
	resp, body = rtcPost(t, e.url+"/v1/rtc/slow", "application/sdp", "Bearer "+rtcToken(t, "slow", time.Hour), offer)
	if resp.StatusCode != 503 || !strings.Contains(body, CodePeerCap) {
		t.Fatalf("global cap: %d %s", resp.StatusCode, body)
	}
	if got := e.rtc.created.Load(); got != created+1 {
		t.Fatalf("created %d PeerConnections, want %d", got, created+1)
	}
}

// leakOptions ignore what was running before the test's peers.
func leakOptions() []goleak.Option { return []goleak.Option{goleak.IgnoreCurrent()} }

// findLeaks is goleak.Find retried for up to 5 s: pion's timers and
// readers end shortly after GracefulClose returns.
func findLeaks(base []goleak.Option) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := goleak.Find(base...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// After DELETE every goroutine of the peer, on both sides, has ended.
func TestRTCNoLeakAfterDelete(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), nil)
	base := leakOptions()
	c := e.dial(t, "cap")
	if a := sendAck(t, c, rtcTrigger("l-1", "m-1")); a.Status != verifier.StatusAccepted {
		t.Fatalf("ack %+v", a)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := findLeaks(base); err != nil {
		t.Fatal(err)
	}
}

// vanishingConn drops every packet it is asked to send once gone is set:
// a client that vanishes without a word.
type vanishingConn struct {
	net.PacketConn
	gone atomic.Bool
}

func (c *vanishingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.gone.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// A client that vanishes (no DTLS close, no DELETE) is closed by ICE
// failure; one that stays connected but silent, by the idle timeout.
// Either way the server's goroutines end.
func TestRTCNoLeakAfterVanish(t *testing.T) {
	t.Run("ice failure", func(t *testing.T) {
		e := newRTCEnv(t, storetest.Memory(t), func(c *RTCConfig) {
			c.ICEDisconnectedTimeout, c.ICEFailedTimeout, c.ICEKeepalive = 300*time.Millisecond, 600*time.Millisecond, 100*time.Millisecond
		})
		base := leakOptions()
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		vc := &vanishingConn{PacketConn: udp}
		var se webrtc.SettingEngine
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		mux := webrtc.NewICEUDPMux(nil, vc)
		se.SetICEUDPMux(mux)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := DialRTC(ctx, RTCClientConfig{URL: e.url + "/v1/rtc/cap", Token: rtcToken(t, "cap", time.Hour),
			API: webrtc.NewAPI(webrtc.WithSettingEngine(se)), HTTPClient: noKeepAlive})
		if err != nil {
			t.Fatal(err)
		}
		if a := sendAck(t, c, rtcTrigger("v-1", "m-1")); a.Status != verifier.StatusAccepted {
			t.Fatalf("ack %+v", a)
		}
		vc.gone.Store(true)
		waitPeers(t, e.rtc, 0, 10*time.Second)
		c.Abandon()
		_ = mux.Close()
		_ = udp.Close()
		if err := findLeaks(base); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		e := newRTCEnv(t, storetest.Memory(t), func(c *RTCConfig) { c.IdleTimeout = 500 * time.Millisecond })
		base := leakOptions()
		c := e.dial(t, "cap")
		waitPeers(t, e.rtc, 0, 10*time.Second)
		c.Abandon()
		if err := findLeaks(base); err != nil {
			t.Fatal(err)
		}
	})
}

func waitPeers(t *testing.T, s *RTC, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.Peers() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d peers after %v, want %d", s.Peers(), within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close (shutdown) closes every peer, waits for them and refuses new ones.
func TestRTCClose(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), nil)
	base := leakOptions()
	c1, c2 := e.dial(t, "cap"), e.dial(t, "cap2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.rtc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if e.rtc.Peers() != 0 {
		t.Fatal("peers open after Close")
	}
	resp, body := rtcPost(t, e.url+"/v1/rtc/cap", "application/sdp", "Bearer "+rtcToken(t, "cap", time.Hour), rtcOffer(t))
	if resp.StatusCode != 503 || !strings.Contains(body, CodeShuttingDown) {
		t.Fatalf("offer after Close: %d %s", resp.StatusCode, body)
	}
	c1.Abandon()
	c2.Abandon()
	if err := findLeaks(base); err != nil {
		t.Fatal(err)
	}
}

func TestMintToken(t *testing.T) {
	src := rtcSources()[0]
	tv, err := newTokenVerifier(src)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := MintToken(src, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := tv.verify("Bearer "+tok, now)
	if err != nil || exp.Unix() != now.Add(time.Hour).Unix() {
		t.Fatalf("verify: %v, %v", exp, err)
	}
	if _, err := tv.verify("Bearer "+tok, now.Add(time.Hour+TokenLeeway+time.Second)); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("after exp: %v", err)
	}
	if _, err := MintToken(config.Source{ID: "k", JWKS: "keys.json"}, time.Hour, now); !errors.Is(err, ErrNoTokenKey) {
		t.Fatalf("no secret: %v", err)
	}
	// A jwt source's raw secret keys HS256 as it is.
	jsrc := config.Source{ID: "j", Scheme: config.SchemeJWT, Secrets: []string{"jwt-shared-secret-for-tests-0123456789"}, WebRTC: true}
	jtv, err := newTokenVerifier(jsrc)
	if err != nil {
		t.Fatal(err)
	}
	jtok, _ := MintToken(jsrc, time.Hour, now)
	if _, err := jtv.verify("Bearer "+jtok, now); err != nil {
		t.Fatalf("jwt source: %v", err)
	}
	if _, err := jtv.verify("Bearer "+tok, now); !errors.Is(err, ErrBadToken) {
		t.Fatalf("token of another key: %v", err)
	}
}

// With Loopback the answer offers loopback candidates only.
func TestRTCAnswerLoopbackOnly(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), nil)
	tok := rtcToken(t, "cap", time.Hour)
	resp, answer := rtcPost(t, e.url+"/v1/rtc/cap", "application/sdp", "Bearer "+tok, rtcOffer(t))
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/sdp" ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/v1/rtc/cap/") {
		t.Fatalf("offer: %d %v", resp.StatusCode, resp.Header)
	}
	var n int
	for _, line := range strings.Split(answer, "\r\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		n++
		if f := strings.Fields(line); len(f) < 8 || f[2] != "udp" || f[4] != "127.0.0.1" {
			t.Errorf("candidate %q is not udp on 127.0.0.1", line)
		}
	}
	if n == 0 || !strings.Contains(answer, "a=end-of-candidates") {
		t.Errorf("answer is not complete (%d candidates):\n%s", n, answer)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.url+resp.Header.Get("Location"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if r, err := noKeepAlive.Do(req); err != nil || r.StatusCode != 204 {
		t.Fatalf("DELETE: %v %v", r, err)
	}
}

// rtc_udp_port: every peer on one UDP port; the answer names that port.
func TestRTCSingleUDPPort(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	e := newRTCEnv(t, storetest.Memory(t), func(c *RTCConfig) { c.UDPPort = port })
	c1, c2 := e.dial(t, "cap"), e.dial(t, "cap2")
	for i, c := range []*RTCClient{c1, c2} {
		if a := sendAck(t, c, rtcTrigger(fmt.Sprintf("p-%d", i), "m-p")); a.Status != verifier.StatusAccepted {
			t.Fatalf("peer %d: %+v", i, a)
		}
	}
	resp, answer := rtcPost(t, e.url+"/v1/rtc/slow", "application/sdp", "Bearer "+rtcToken(t, "slow", time.Hour), rtcOffer(t))
	if resp.StatusCode != 201 || !strings.Contains(answer, fmt.Sprintf(" 127.0.0.1 %d typ host", port)) {
		t.Fatalf("answer does not use port %d: %d\n%s", port, resp.StatusCode, answer)
	}
}

// rtc_close_on_token_expiry: the peer closes when its token expires.
func TestRTCTokenExpiry(t *testing.T) {
	e := newRTCEnv(t, storetest.Memory(t), func(c *RTCConfig) { c.CloseOnTokenExpiry = true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialRTC(ctx, RTCClientConfig{URL: e.url + "/v1/rtc/cap", Token: rtcToken(t, "cap", 2*time.Second), Loopback: true, HTTPClient: noKeepAlive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Abandon)
	waitPeers(t, e.rtc, 0, 10*time.Second)
}
