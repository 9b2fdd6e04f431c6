package sdkhooks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/verifier"
)

// RTCLabel is the label of the one data channel a peer sends events on;
// it must be ordered and reliable.
const RTCLabel = "dropwire-events"

// Defaults and limits of the data-channel ingest.
const (
	// MaxRTCMessage is the largest envelope a data-channel message may
	// carry; a larger one is acked "rejected" (payload_too_large).
	MaxRTCMessage = 16 << 10
	// DefaultMaxOffer limits the body of a signaling POST.
	DefaultMaxOffer = 64 << 10
	// DefaultRTCMaxPeers and DefaultRTCMaxPeersPerSource cap open peers.
	DefaultRTCMaxPeers          = 1000
	DefaultRTCMaxPeersPerSource = 16
	// DefaultRTCIdleTimeout closes a silent peer.
	DefaultRTCIdleTimeout = 2 * time.Minute
	// DefaultGatherTimeout bounds ICE gathering of one answer.
	DefaultGatherTimeout = 5 * time.Second

	// transportMaxMessage is the SCTP message limit advertised in the
	// answer (a=max-message-size): above MaxRTCMessage so that an oversize
	// envelope reaches us and gets a rejection instead of a dead channel.
	transportMaxMessage = 64 << 10
	// sctpReceiveBuffer bounds the SCTP receive window of one peer.
	sctpReceiveBuffer = 256 << 10
	// ingestTimeout bounds the store work of one message.
	ingestTimeout = 5 * time.Second
)

// RTCConfig configures the data-channel ingest. Zero values get the
// defaults noted.
type RTCConfig struct {
	// Sources are every configured source; only those with WebRTC set may
	// open peers.
	Sources  []config.Source
	Ingester Ingester
	Logger   zerolog.Logger
	// Registerer receives the metrics; nil: not registered.
	Registerer prometheus.Registerer

	// UDPPort, when set, carries every peer on this one UDP port.
	// Otherwise each peer gets an ephemeral port, within
	// UDPPortMin..UDPPortMax when both are set.
	UDPPort                int
	UDPPortMin, UDPPortMax int
	// PublicIP is advertised instead of the host address (1:1 NAT).
	PublicIP string
	// Loopback gathers loopback candidates only (tests, one machine).
	Loopback bool

	// MaxPeers and MaxPeersPerSource cap open peers: default
	// DefaultRTCMaxPeers and DefaultRTCMaxPeersPerSource.
	MaxPeers, MaxPeersPerSource int
	// IdleTimeout closes a peer that sent no message for that long (a
	// {"type":"ping"} keepalive counts); default DefaultRTCIdleTimeout.
	IdleTimeout time.Duration
	// ICE timeouts; zero keeps pion's defaults.
	ICEDisconnectedTimeout, ICEFailedTimeout, ICEKeepalive time.Duration
	// CloseOnTokenExpiry closes a peer when its token's exp passes.
	CloseOnTokenExpiry bool
	// MaxOffer limits the offer body; default DefaultMaxOffer.
	MaxOffer int64
	// GatherTimeout bounds ICE gathering; default DefaultGatherTimeout.
	GatherTimeout time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// RTCConfigFrom returns the process settings of cfg as an RTCConfig;
// Ingester, Logger and Registerer are left for the caller.
func RTCConfigFrom(cfg *config.Config) RTCConfig {
	return RTCConfig{
		Sources:                cfg.Sources,
		UDPPort:                cfg.RTCUDPPort,
		UDPPortMin:             cfg.RTCUDPPortMin,
		UDPPortMax:             cfg.RTCUDPPortMax,
		PublicIP:               cfg.RTCPublicIP,
		Loopback:               cfg.RTCLoopback,
		MaxPeers:               cfg.RTCMaxPeers,
		MaxPeersPerSource:      cfg.RTCMaxPeersPerSource,
		IdleTimeout:            cfg.RTCIdleTimeout.D(),
		ICEDisconnectedTimeout: cfg.RTCICEDisconnectedTimeout.D(),
		ICEFailedTimeout:       cfg.RTCICEFailedTimeout.D(),
		ICEKeepalive:           cfg.RTCICEKeepalive.D(),
		CloseOnTokenExpiry:     cfg.RTCCloseOnTokenExpiry,
	}
}

// RTC is the WebRTC data-channel ingest: the signaling endpoints (see
// Register) and the registry that owns every peer. Each peer has one
// goroutine that handles its messages in order and closes it; Close stops
// them all and waits.
type RTC struct {
	cfg     RTCConfig
	log     zerolog.Logger
	ingest  Ingester
	api     *webrtc.API
	cert    webrtc.Certificate
	udpMux  ice.UDPMux // nil without UDPPort
	sources map[string]*rtcSource
	metrics *rtcMetrics

	// created counts PeerConnections ever created (tests check that a
	// refused offer created none).
	created atomic.Int64
	// acked, when set (by benchmarks, before any peer), is told of each
	// ack: its message's arrival, when the ingest returned and when the
	// ack was handed to SCTP.
	acked func(ack Ack, in, ingested, out time.Time)

	mu       sync.Mutex
	peers    map[string]*rtcPeer
	bySource map[string]int
	closed   bool
	wg       sync.WaitGroup // one per peer goroutine

	closeOnce sync.Once
	closeErr  error
}

type rtcSource struct {
	cfg    config.Source
	src    verifier.Source
	tokens *tokenVerifier // nil when WebRTC is off
}

// NewRTC builds the ingest: one certificate shared by all peers, one
// webrtc.API from the settings, the token verifiers of the sources with
// WebRTC enabled.
func NewRTC(cfg RTCConfig) (*RTC, error) {
	if cfg.Ingester == nil {
		return nil, errors.New("sdkhooks: RTCConfig.Ingester is required")
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultRTCMaxPeers
	}
	if cfg.MaxPeersPerSource <= 0 {
		cfg.MaxPeersPerSource = DefaultRTCMaxPeersPerSource
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultRTCIdleTimeout
	}
	if cfg.MaxOffer <= 0 {
		cfg.MaxOffer = DefaultMaxOffer
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = DefaultGatherTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &RTC{
		cfg:      cfg,
		log:      cfg.Logger,
		ingest:   cfg.Ingester,
		sources:  make(map[string]*rtcSource, len(cfg.Sources)),
		peers:    make(map[string]*rtcPeer),
		bySource: make(map[string]int),
	}
	for _, src := range cfg.Sources {
		rs := &rtcSource{cfg: src, src: verifier.Source{ID: src.ID, Creator: src.Creator, Rate: src.Rate, Burst: src.Burst}}
		if src.WebRTC {
			tv, err := newTokenVerifier(src)
			if err != nil {
				return nil, fmt.Errorf("sdkhooks: rtc: %w", err)
			}
			rs.tokens = tv
		}
		s.sources[src.ID] = rs
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: rtc certificate key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("sdkhooks: rtc certificate: %w", err)
	}
	s.cert = *cert

	se, mux, err := s.settingEngine()
	if err != nil {
		return nil, err
	}
	s.udpMux = mux
	s.api = webrtc.NewAPI(webrtc.WithSettingEngine(se))

	if s.metrics, err = newRTCMetrics(cfg.Registerer); err != nil {
		if mux != nil {
			_ = mux.Close()
		}
		return nil, err
	}
	return s, nil
}

// settingEngine builds the ICE/DTLS/SCTP settings shared by every peer.
func (s *RTC) settingEngine() (webrtc.SettingEngine, ice.UDPMux, error) {
	cfg := s.cfg
	var se webrtc.SettingEngine
	// IPv4 host candidates only, and no mDNS: a server has a real address
	// and must not send multicast.
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSCTPMaxMessageSize(transportMaxMessage)
	se.SetSCTPMaxReceiveBufferSize(sctpReceiveBuffer)
	if cfg.ICEDisconnectedTimeout > 0 || cfg.ICEFailedTimeout > 0 || cfg.ICEKeepalive > 0 {
		se.SetICETimeouts(cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, cfg.ICEKeepalive)
	}

	var loopIfaces map[string]bool
	if cfg.Loopback {
		loopIfaces = loopbackInterfaces()
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return loopIfaces[name] })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		// And never send a check to a non-loopback address an offer lists.
		se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if cfg.PublicIP != "" {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{cfg.PublicIP},
			AsCandidateType: webrtc.ICECandidateTypeHost,
		})
		if err != nil {
			return se, nil, fmt.Errorf("sdkhooks: rtc_public_ip: %w", err)
		}
	}
	if cfg.UDPPortMin > 0 && cfg.UDPPortMax > 0 && cfg.UDPPort == 0 {
		if err := se.SetEphemeralUDPPortRange(uint16(cfg.UDPPortMin), uint16(cfg.UDPPortMax)); err != nil {
			return se, nil, fmt.Errorf("sdkhooks: rtc port range: %w", err)
		}
	}
	if cfg.UDPPort == 0 {
		return se, nil, nil
	}
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4)}
	if cfg.Loopback {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback(),
			ice.UDPMuxFromPortWithInterfaceFilter(func(name string) bool { return loopIfaces[name] }),
			ice.UDPMuxFromPortWithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }))
	}
	mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
	if err != nil {
		return se, nil, fmt.Errorf("sdkhooks: rtc_udp_port %d: %w", cfg.UDPPort, err)
	}
	se.SetICEUDPMux(mux)
	return se, mux, nil
}

// loopbackInterfaces names the loopback interfaces ("lo" on Linux).
func loopbackInterfaces() map[string]bool {
	out := map[string]bool{}
	ifs, err := net.Interfaces()
	if err == nil {
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback != 0 {
				out[i.Name] = true
			}
		}
	}
	if len(out) == 0 {
		out["lo"] = true
	}
	return out
}

// Peers returns the number of open peers.
func (s *RTC) Peers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// PeersOf returns the number of open peers of a source.
func (s *RTC) PeersOf(source string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bySource[source]
}

// reserve registers a new peer of src if the caps allow, before any
// PeerConnection exists. The caller must start p.run or call s.release.
func (s *RTC) reserve(src *rtcSource, exp time.Time) (*rtcPeer, error) {
	id, err := newSessionID()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ErrRTCClosed
	case len(s.peers) >= s.cfg.MaxPeers:
		return nil, fmt.Errorf("%w: %d peers open on this instance", ErrPeerCap, len(s.peers))
	case s.bySource[src.cfg.ID] >= s.cfg.MaxPeersPerSource:
		return nil, fmt.Errorf("%w: %d peers open for source %q", ErrPeerCap, s.bySource[src.cfg.ID], src.cfg.ID)
	}
	p := newPeer(s, id, src, exp)
	s.peers[id] = p
	s.bySource[src.cfg.ID]++
	s.metrics.peers.WithLabelValues(src.cfg.ID).Inc()
	s.wg.Add(1)
	return p, nil
}

// release unregisters p; its goroutine (or the handler that reserved it
// and never started one) calls it exactly once.
func (s *RTC) release(p *rtcPeer) {
	s.mu.Lock()
	if s.peers[p.id] == p {
		delete(s.peers, p.id)
		s.bySource[p.src.cfg.ID]--
		if s.bySource[p.src.cfg.ID] == 0 {
			delete(s.bySource, p.src.cfg.ID)
		}
		s.metrics.peers.WithLabelValues(p.src.cfg.ID).Dec()
	}
	s.mu.Unlock()
	s.wg.Done()
}

// peer returns the open peer with id.
func (s *RTC) peer(id string) *rtcPeer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[id]
}

// Close refuses new peers, closes every open one and waits for their
// goroutines (or ctx), then releases the shared UDP port. It is
// idempotent: later calls return the first one's result.
func (s *RTC) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		peers := make([]*rtcPeer, 0, len(s.peers))
		for _, p := range s.peers {
			peers = append(peers, p)
		}
		s.mu.Unlock()
		for _, p := range peers {
			p.close("shutdown")
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.closeErr = fmt.Errorf("sdkhooks: rtc: %d peers still closing: %w", s.Peers(), ctx.Err())
		}
		if s.udpMux != nil {
			if err := s.udpMux.Close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
		if len(peers) > 0 {
			s.log.Info().Int("peers", len(peers)).Msg("data-channel peers closed")
		}
	})
	return s.closeErr
}

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// rtcMetrics are the ingest's Prometheus metrics.
type rtcMetrics struct {
	peers    *prometheus.GaugeVec
	messages *prometheus.CounterVec
	ack      prometheus.Histogram
	setup    prometheus.Histogram
	offers   *prometheus.CounterVec
}

func newRTCMetrics(reg prometheus.Registerer) (*rtcMetrics, error) {
	m := &rtcMetrics{
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_rtc_peers",
			Help: "Open WebRTC data-channel peers, by source.",
		}, []string{"source"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_rtc_messages_total",
			Help: "Data-channel messages by ack status (accepted, duplicate, rejected) and rejection reason.",
		}, []string{"status", "reason"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dropwire_rtc_ack_seconds",
			Help:    "Time from a data-channel message's arrival to its ack being sent.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dropwire_rtc_setup_seconds",
			Help:    "Time to answer a signaling offer (ICE gathering included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_rtc_offers_total",
			Help: "Signaling offers by outcome: created or the problem code.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.peers, m.messages, m.ack, m.setup, m.offers} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
