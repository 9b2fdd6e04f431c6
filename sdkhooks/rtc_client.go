package sdkhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// RTCClientConfig configures DialRTC.
type RTCClientConfig struct {
	// URL is the signaling endpoint: https://host/v1/rtc/{source}.
	URL string
	// Token is the bearer token (see MintToken).
	Token string
	// Loopback gathers loopback IPv4 candidates only, without mDNS (tests
	// and a server on the same machine). Ignored when API is set.
	Loopback bool
	// API builds the PeerConnection; nil: one from the settings above.
	// Share one between many clients (the bench does).
	API *webrtc.API
	// HTTPClient does the signaling; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
}

// RTCClient is a capture-SDK side data channel to Dropwire, in Go: it does
// the WHIP-shaped signaling and reads acks. Tests, the bench and vendors'
// Go tools use it. Its methods are safe for concurrent use; Close ends
// every goroutine it started.
type RTCClient struct {
	pc       *webrtc.PeerConnection
	dc       *webrtc.DataChannel
	http     *http.Client
	token    string
	location string // absolute URL of the session

	in        chan received
	closed    chan struct{}
	closeOnce sync.Once
	sendMu    sync.Mutex
}

// received is a message from the server and when it arrived.
type received struct {
	data []byte
	at   time.Time
}

// NewRTCClientAPI returns the webrtc.API DialRTC builds: loopback selects
// loopback candidates only; mDNS is off.
func NewRTCClientAPI(loopback bool) *webrtc.API {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if loopback {
		lo := loopbackInterfaces()
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return lo[name] })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// DialRTC opens a data channel to Dropwire: a complete offer with the
// channel RTCLabel, POSTed with the token; it returns once the channel is
// open. An HTTP refusal is returned as an *RTCRefusedError.
func DialRTC(ctx context.Context, cfg RTCClientConfig) (*RTCClient, error) {
	api := cfg.API
	if api == nil {
		api = NewRTCClientAPI(cfg.Loopback)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	c := &RTCClient{pc: pc, http: hc, token: cfg.Token, in: make(chan received, 1024), closed: make(chan struct{})}
	fail := func(err error) (*RTCClient, error) {
		c.shutdown()
		return nil, err
	}
	ordered := true
	dc, err := pc.CreateDataChannel(RTCLabel, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return fail(err)
	}
	c.dc = dc
	open := make(chan struct{})
	dc.OnOpen(func() { close(open) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case c.in <- received{m.Data, time.Now()}:
		case <-c.closed:
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return fail(err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxOffer))
	_ = resp.Body.Close()
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fail(&RTCRefusedError{Status: resp.StatusCode, Body: string(answer)})
	}
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fail(fmt.Errorf("sdkhooks: bad Location: %w", err))
	}
	c.location = loc.String()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return fail(err)
	}
	select {
	case <-open:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return c, nil
}

// RTCRefusedError is a signaling request answered with an error status.
type RTCRefusedError struct {
	Status int
	Body   string // the problem details
}

func (e *RTCRefusedError) Error() string {
	return fmt.Sprintf("sdkhooks: signaling refused: %d %s", e.Status, strings.TrimSpace(e.Body))
}

// Location returns the session URL (for DELETE).
func (c *RTCClient) Location() string { return c.location }

// Session returns the session id, the last segment of Location.
func (c *RTCClient) Session() string {
	u, err := url.Parse(c.location)
	if err != nil {
		return ""
	}
	return u.Path[strings.LastIndexByte(u.Path, '/')+1:]
}

// Send sends one message (an envelope) as text.
func (c *RTCClient) Send(msg []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.dc.SendText(string(msg))
}

// Ping sends a keepalive; the server answers {"type":"pong"}.
func (c *RTCClient) Ping() error { return c.Send([]byte(`{"type":"ping"}`)) }

// Next returns the next message from the server, raw.
func (c *RTCClient) Next(ctx context.Context) ([]byte, error) {
	m, err := c.next(ctx)
	return m.data, err
}

func (c *RTCClient) next(ctx context.Context) (received, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.closed:
		return received{}, io.ErrClosedPipe
	case <-ctx.Done():
		return received{}, ctx.Err()
	}
}

// NextAck returns the next ack, skipping pongs.
func (c *RTCClient) NextAck(ctx context.Context) (Ack, error) {
	a, _, err := c.NextAckAt(ctx)
	return a, err
}

// NextAckAt is NextAck, with when the ack arrived on the channel (which
// may be before NextAckAt was called): what a latency measurement wants.
func (c *RTCClient) NextAckAt(ctx context.Context) (Ack, time.Time, error) {
	for {
		m, err := c.next(ctx)
		if err != nil {
			return Ack{}, time.Time{}, err
		}
		if bytes.Equal(m.data, []byte(pong)) {
			continue
		}
		var a Ack
		if err := json.Unmarshal(m.data, &a); err != nil {
			return Ack{}, time.Time{}, fmt.Errorf("sdkhooks: ack does not decode: %w", err)
		}
		return a, m.at, nil
	}
}

// Done is closed when the client is closed.
func (c *RTCClient) Done() <-chan struct{} { return c.closed }

// ConnectionState returns the PeerConnection's state.
func (c *RTCClient) ConnectionState() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

// Close ends the session with DELETE (when it was created), then closes
// the PeerConnection and waits for its goroutines. The DELETE's error, if
// any, is returned; the client is closed regardless.
func (c *RTCClient) Close(ctx context.Context) error {
	var err error
	if c.location != "" {
		err = c.delete(ctx)
	}
	c.shutdown()
	return err
}

// Abandon closes the PeerConnection without DELETE.
func (c *RTCClient) Abandon() { c.shutdown() }

func (c *RTCClient) delete(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.location, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return &RTCRefusedError{Status: resp.StatusCode, Body: string(body)}
	}
	return nil
}

func (c *RTCClient) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closed)
		if err := c.pc.GracefulClose(); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			_ = c.pc.Close()
		}
	})
}
