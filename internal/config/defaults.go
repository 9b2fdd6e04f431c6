package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults. See the package documentation for the full list, including the
// ones derived from other settings.
const (
	DefaultListen          = ":8080"
	DefaultKeyPrefix       = "dw:"
	DefaultLogLevel        = "info"
	DefaultMaxBody         = 64 << 10
	DefaultDedupeTTL       = 72 * time.Hour
	DefaultShutdownTimeout = 10 * time.Second
	DefaultReadTimeout     = 10 * time.Second

	DefaultRTCMaxPeers               = 1000
	DefaultRTCMaxPeersPerSource      = 16
	DefaultRTCIdleTimeout            = 2 * time.Minute
	DefaultRTCICEDisconnectedTimeout = 5 * time.Second
	DefaultRTCICEFailedTimeout       = 15 * time.Second
	DefaultRTCICEKeepalive           = 2 * time.Second

	DefaultTolerance       = 5 * time.Minute
	DefaultTwitchTolerance = 10 * time.Minute
	DefaultRate            = 50

	DefaultPickupSLA = 4 * time.Hour

	DefaultNodeTimeout     = 10 * time.Second
	DefaultRetryBase       = time.Second
	DefaultRetryMax        = 10 * time.Minute
	DefaultRetryHorizon    = 24 * time.Hour
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
	DefaultForwardWorkers  = 16
	DefaultForwardTick     = 250 * time.Millisecond
	DefaultForwardTakeover = 30 * time.Second
	DefaultSLATick         = time.Second

	DefaultReceiptTTL       = 7 * 24 * time.Hour
	DefaultReceiptKeyRotate = 24 * time.Hour
	DefaultClaimRateIP      = 20
	DefaultClaimRateDevice  = 2

	DefaultWindow       = 2 * time.Hour
	DefaultQRRotate     = 20 * time.Second
	DefaultScanGrace    = 40 * time.Second
	DefaultQuorum       = 1
	DefaultQuorumWindow = 10 * time.Second
	DefaultPerViewer    = 1
	// MaxShards bounds drops[].shards: each claim that finds its shard
	// sold out may ask every other shard for a unit.
	MaxShards       = 64
	DefaultIdentity = IdentityDevice
	DefaultTier     = "standard"
)

// Compensation kinds.
const (
	CompensationNone    = "none"
	CompensationCode    = "code"
	CompensationWebhook = "webhook"
)

// JWT algorithms a jwt source may pin.
const (
	AlgHS256 = "HS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// ApplyDefaults fills every setting that was left out. It only fills zero
// values, so it is idempotent and keeps what the file or code set. A
// duration written explicitly as zero is not defaulted: Validate reports it.
// Parse and Demo call it; call it yourself on a Config built in code.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PublicURL == "" {
		c.PublicURL = publicURLFor(c.Listen)
		c.derivedPublicURL = true
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.PubSubPartitions == 0 {
		c.PubSubPartitions = DefaultPubSubPartitions
	}
	c.fill(&c.RedisWaitTimeout, "redis_wait_timeout", DefaultRedisWaitTimeout)
	c.fill(&c.DedupeTTL, "dedupe_ttl", DefaultDedupeTTL)
	c.fill(&c.ShutdownTimeout, "shutdown_timeout", DefaultShutdownTimeout)
	c.fill(&c.ReadTimeout, "read_timeout", DefaultReadTimeout)
	if c.RTCMaxPeers == 0 {
		c.RTCMaxPeers = DefaultRTCMaxPeers
	}
	if c.RTCMaxPeersPerSource == 0 {
		c.RTCMaxPeersPerSource = DefaultRTCMaxPeersPerSource
	}
	c.fill(&c.RTCIdleTimeout, "rtc_idle_timeout", DefaultRTCIdleTimeout)
	c.fill(&c.RTCICEDisconnectedTimeout, "rtc_ice_disconnected_timeout", DefaultRTCICEDisconnectedTimeout)
	c.fill(&c.RTCICEFailedTimeout, "rtc_ice_failed_timeout", DefaultRTCICEFailedTimeout)
	c.fill(&c.RTCICEKeepalive, "rtc_ice_keepalive", DefaultRTCICEKeepalive)
	c.fill(&c.ReceiptTTL, "receipt_ttl", DefaultReceiptTTL)
	c.fill(&c.ReceiptKeyRotate, "receipt_key_rotate", DefaultReceiptKeyRotate)
	if c.ClaimRateIP == 0 {
		c.ClaimRateIP = DefaultClaimRateIP
	}
	if c.ClaimRateDevice == 0 {
		c.ClaimRateDevice = DefaultClaimRateDevice
	}

	for i := range c.Sources {
		c.Sources[i].applyDefaults(c, "sources["+strconv.Itoa(i)+"]")
	}
	if c.ForwardWorkers == 0 {
		c.ForwardWorkers = DefaultForwardWorkers
	}
	c.fill(&c.ForwardTick, "forward_tick", DefaultForwardTick)
	c.fill(&c.ForwardTakeover, "forward_takeover", DefaultForwardTakeover)
	c.fill(&c.SLATick, "sla_tick", DefaultSLATick)
	for i := range c.Nodes {
		n, path := &c.Nodes[i], "nodes["+strconv.Itoa(i)+"]"
		c.fill(&n.PickupSLA, path+".pickup_sla", DefaultPickupSLA)
		c.fill(&n.Timeout, path+".timeout", DefaultNodeTimeout)
		c.fill(&n.RetryBase, path+".retry_base", DefaultRetryBase)
		c.fill(&n.RetryMax, path+".retry_max", DefaultRetryMax)
		c.fill(&n.RetryHorizon, path+".retry_horizon", DefaultRetryHorizon)
		c.fill(&n.BreakerCooldown, path+".breaker_cooldown", DefaultBreakerCooldown)
		if n.BreakerFailures == 0 {
			n.BreakerFailures = DefaultBreakerFailures
		}
	}
	for i := range c.Drops {
		c.Drops[i].applyDefaults(c, "drops["+strconv.Itoa(i)+"]")
	}
}

func (s *Source) applyDefaults(c *Config, path string) {
	tolerance := DefaultTolerance
	if s.Scheme == SchemeTwitch {
		tolerance = DefaultTwitchTolerance
	}
	c.fill(&s.Tolerance, path+".tolerance", tolerance)
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if s.Burst == 0 && s.Rate > 0 {
		s.Burst = 2 * s.Rate
	}
	if s.Scheme != SchemeJWT {
		return
	}
	// The documented form also allows a jwt source's JWKS location in
	// public_keys; keep one place for it.
	if s.JWKS == "" {
		var loc []int
		for i, k := range s.PublicKeys {
			if k != "" && !strings.HasPrefix(k, "whpk_") {
				loc = append(loc, i)
			}
		}
		if len(loc) == 1 {
			i := loc[0]
			s.JWKS = s.PublicKeys[i]
			s.PublicKeys = append(s.PublicKeys[:i:i], s.PublicKeys[i+1:]...)
			key := func(j int) string { return path + ".public_keys[" + strconv.Itoa(j) + "]" }
			if p, ok := c.pos[key(i)]; ok {
				c.pos[path+".jwks"] = p
				for j := i; j < len(s.PublicKeys); j++ {
					c.pos[key(j)] = c.pos[key(j+1)]
				}
				delete(c.pos, key(len(s.PublicKeys)))
			}
		}
	}
	if len(s.Algorithms) == 0 {
		if len(s.Secrets) > 0 {
			s.Algorithms = append(s.Algorithms, AlgHS256)
		}
		if s.JWKS != "" || len(s.PublicKeys) > 0 || len(s.Secrets) == 0 {
			s.Algorithms = append(s.Algorithms, AlgES256, AlgEdDSA)
		}
	}
}

// ApplyDefaults fills a drop's unset settings. It is what Parse does for
// the drops of a file; drops created through the admin API get the same.
func (d *Drop) ApplyDefaults() { d.applyDefaults(nil, "") }

func (d *Drop) applyDefaults(c *Config, path string) {
	c.fill(&d.Window, path+".window", DefaultWindow)
	c.fill(&d.QRRotate, path+".qr_rotate", DefaultQRRotate)
	c.fill(&d.ScanGrace, path+".scan_grace", DefaultScanGrace)
	c.fill(&d.QuorumWindow, path+".quorum_window", DefaultQuorumWindow)
	if d.Quorum == 0 {
		d.Quorum = DefaultQuorum
	}
	if d.PerViewer == 0 {
		d.PerViewer = DefaultPerViewer
	}
	if d.Identity == "" {
		d.Identity = DefaultIdentity
	}
	if d.Compensation.Kind == "" {
		d.Compensation.Kind = CompensationNone
	}
	for i := range d.Stock {
		if d.Stock[i].Tier == "" {
			d.Stock[i].Tier = DefaultTier
		}
	}
}

// fill sets *d to def when it is zero and was not written explicitly.
// c may be nil (no file positions).
func (c *Config) fill(d *Duration, path string, def time.Duration) {
	if *d == 0 && !c.written(path) {
		*d = Duration(def)
	}
}

// written reports whether the file (or an override) set a value at path.
func (c *Config) written(path string) bool {
	if c == nil {
		return false
	}
	return c.pos[path].set
}

// publicURLFor derives a base URL from a listen address: ":8080" and
// "0.0.0.0:8080" become "http://localhost:8080".
func publicURLFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return "http://localhost" + DefaultListen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
