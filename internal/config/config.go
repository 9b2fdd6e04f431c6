package config

import (
	"time"

	"github.com/dropwire/dropwire/internal/schedule"
)

// Config is the whole Dropwire configuration: the process settings (which
// flags and DROPWIRE_* variables override) and the creators, sources, nodes
// and drops. Key names are part of the public contract: add, never rename.
type Config struct {
	Listen     string `yaml:"listen"`
	PublicURL  string `yaml:"public_url"`
	RedisURL   string `yaml:"redis_url"`
	KeyPrefix  string `yaml:"key_prefix"`
	AdminToken string `yaml:"admin_token"`
	LogLevel   string `yaml:"log_level"`
	LogFormat  string `yaml:"log_format"` // json | console
	// MetricsListen, when set, serves /metrics and Go's pprof profiles on
	// their own listener, for operators only; /metrics then leaves the
	// public one.
	MetricsListen string `yaml:"metrics_listen"`

	// Redis beyond one URL (checked in redis.go): a Redis Cluster by its
	// seed nodes, ACL credentials and TLS for any Redis, and how many
	// shard channels carry each announcement channel on a cluster.
	RedisCluster     []string `yaml:"redis_cluster"`
	RedisUsername    string   `yaml:"redis_username"`
	RedisPassword    string   `yaml:"redis_password"`
	RedisTLS         bool     `yaml:"redis_tls"`
	RedisTLSCA       string   `yaml:"redis_tls_ca"`
	RedisTLSCert     string   `yaml:"redis_tls_cert"`
	RedisTLSKey      string   `yaml:"redis_tls_key"`
	PubSubPartitions int      `yaml:"pubsub_partitions"`
	// RedisWaitReplicas, when above zero, is how many Redis replicas must
	// hold a claim or an event before it is acknowledged (WAIT after the
	// script); RedisWaitTimeout bounds that wait.
	RedisWaitReplicas int      `yaml:"redis_wait_replicas"`
	RedisWaitTimeout  Duration `yaml:"redis_wait_timeout"`

	// MaxBody limits webhook and API request bodies, in bytes.
	MaxBody int64 `yaml:"max_body"`
	// DedupeTTL is how long an event id is remembered: the senders' retry
	// horizon, not the signature freshness window.
	DedupeTTL Duration `yaml:"dedupe_ttl"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For or Forwarded header names the client; the client
	// address of any other peer is the peer itself.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ReadTimeout bounds how long a request body may take to arrive after
	// its headers; a slower one is answered 408.
	ReadTimeout Duration `yaml:"read_timeout"`

	// WebRTC data-channel ingest (sdkhooks.RTC). RTCUDPPort, when set,
	// carries every peer on one UDP port (ICE UDP mux); otherwise each
	// peer gets an ephemeral port, within RTCUDPPortMin..RTCUDPPortMax when
	// both are set.
	RTCUDPPort    int `yaml:"rtc_udp_port"`
	RTCUDPPortMin int `yaml:"rtc_udp_port_min"`
	RTCUDPPortMax int `yaml:"rtc_udp_port_max"`
	// RTCPublicIP is the address advertised in host candidates by a server
	// behind a 1:1 NAT.
	RTCPublicIP string `yaml:"rtc_public_ip"`
	// RTCLoopback gathers loopback candidates only: tests and
	// single-machine setups.
	RTCLoopback bool `yaml:"rtc_loopback"`
	// RTCMaxPeers and RTCMaxPeersPerSource cap open data-channel peers.
	RTCMaxPeers          int `yaml:"rtc_max_peers"`
	RTCMaxPeersPerSource int `yaml:"rtc_max_peers_per_source"`
	// RTCIdleTimeout closes a peer that sent no message (keepalive
	// included) for this long.
	RTCIdleTimeout Duration `yaml:"rtc_idle_timeout"`
	// ICE timeouts: disconnected after RTCICEDisconnectedTimeout without
	// traffic, failed (and closed) after RTCICEFailedTimeout; keepalives
	// every RTCICEKeepalive.
	RTCICEDisconnectedTimeout Duration `yaml:"rtc_ice_disconnected_timeout"`
	RTCICEFailedTimeout       Duration `yaml:"rtc_ice_failed_timeout"`
	RTCICEKeepalive           Duration `yaml:"rtc_ice_keepalive"`
	// RTCCloseOnTokenExpiry closes a peer when its bearer token expires.
	RTCCloseOnTokenExpiry bool `yaml:"rtc_close_on_token_expiry"`

	// Viewer claims (verifier.Claims). ViewerSecret keys the device cookie
	// signature and the hashes viewers are stored under; absent, one is
	// generated and kept in the store, shared by every replica.
	ViewerSecret string `yaml:"viewer_secret"`
	// ViewerJWKS is a file path or https URL with the keys of the viewer
	// JWTs that drops with identity "token" accept; ViewerIssuer and
	// ViewerAudience, when set, are required of those tokens.
	ViewerJWKS     string `yaml:"viewer_jwks"`
	ViewerIssuer   string `yaml:"viewer_issuer"`
	ViewerAudience string `yaml:"viewer_audience"`
	// ReceiptTTL is how long a claim receipt is valid after it is issued;
	// ReceiptKeyRotate is how often the receipt signing key is replaced.
	ReceiptTTL       Duration `yaml:"receipt_ttl"`
	ReceiptKeyRotate Duration `yaml:"receipt_key_rotate"`
	// ClaimRateIP and ClaimRateDevice limit claim attempts per second from
	// one IP address and from one device (bursts of three times the rate);
	// -1 turns a limit off.
	ClaimRateIP     int `yaml:"claim_rate_ip"`
	ClaimRateDevice int `yaml:"claim_rate_device"`
	// ClaimPowBits, when above zero, makes the claim page solve a proof of
	// work of that many bits before a claim of a device or email drop is
	// taken: a few hundred milliseconds on a phone at 16, a real cost per
	// device to a scalper. 0 (default): none.
	ClaimPowBits int `yaml:"claim_pow_bits"`

	// Forwarding to fulfillment nodes (package fulfillment).
	// ForwardWorkers is the number of concurrent deliveries per replica;
	// ForwardTick how often outboxes and retries are polled when no claim
	// announcement comes first; ForwardTakeover how long an entry may stay
	// unacknowledged by a replica (or a retry leased) before another replica
	// takes it over: longer than any node timeout. SLATick is how often
	// pickup deadlines are checked.
	ForwardWorkers  int      `yaml:"forward_workers"`
	ForwardTick     Duration `yaml:"forward_tick"`
	ForwardTakeover Duration `yaml:"forward_takeover"`
	SLATick         Duration `yaml:"sla_tick"`

	Creators []Creator `yaml:"creators"`
	Sources  []Source  `yaml:"sources"`
	Nodes    []Node    `yaml:"nodes"`
	Drops    []Drop    `yaml:"drops"`
	// Tiers give stock lines of a tier their own pickup SLA and pace;
	// Campaigns group drops under announced, regional schedules.
	Tiers     []Tier     `yaml:"tiers"`
	Campaigns []Campaign `yaml:"campaigns"`

	// File is the path the configuration was read from ("" when built in).
	File string `yaml:"-"`

	// pos is where each setting came from, by path ("sources[0].secrets[1]"):
	// a file line, or an override such as "$DROPWIRE_LISTEN".
	pos map[string]position
	// idx maps ids to slice positions; built by Validate.
	idx *index
	// derivedPublicURL is set while PublicURL is the default derived from
	// Listen, so that overriding Listen moves it along.
	derivedPublicURL bool
}

// Creator is a streamer with one or more overlays.
type Creator struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	OverlayKeys []string `yaml:"overlay_keys"` // several: rotation
}

// Scheme names a webhook signature scheme.
const (
	SchemeStandard = "standard"
	SchemeJWT      = "jwt"
	SchemeTwitch   = "twitch-eventsub"
)

// Source is a capture-SDK integration that sends events for one creator.
type Source struct {
	ID      string `yaml:"id"`
	Creator string `yaml:"creator"`
	Scheme  string `yaml:"scheme"`
	// Secrets are HMAC secrets, newest first: whsec_<base64> for standard,
	// the raw shared secret for jwt (HS256) and twitch-eventsub.
	Secrets []string `yaml:"secrets"`
	// PublicKeys are whpk_<base64> ed25519 keys (standard, v1a).
	PublicKeys []string `yaml:"public_keys"`
	// JWKS is a file path or http(s) URL with the keys of a jwt source.
	JWKS string `yaml:"jwks"`
	// Algorithms pins the JWT algorithms a jwt source may use.
	Algorithms []string `yaml:"algorithms"`
	// Tolerance is the allowed clock skew of signed timestamps.
	Tolerance Duration `yaml:"tolerance"`
	// WebRTC allows the source to open data channels.
	WebRTC bool `yaml:"webrtc"`
	// Rate limits events per second from this source (burst: Burst).
	Rate  int `yaml:"rate"`
	Burst int `yaml:"burst"`
	// Triggers map twitch-eventsub notifications to drop triggers.
	Triggers []Trigger `yaml:"triggers"`
}

// Trigger turns a matching notification into a drop.trigger for Drop.
type Trigger struct {
	// Subscription is the EventSub subscription type, e.g.
	// "channel.channel_points_custom_reward_redemption.add".
	Subscription string `yaml:"subscription"`
	// Match lists dotted paths into the notification's event object and the
	// string each must equal, e.g. {"reward.title": "Sticker drop"}.
	Match map[string]string `yaml:"match"`
	Drop  string            `yaml:"drop"`
}

// Node is a fulfillment node: a shop, pop-up or locker.
type Node struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	Region  string `yaml:"region"`
	Address string `yaml:"address"`
	Hours   string `yaml:"hours"`
	// URL is where claims are delivered. A node without one is hosted:
	// Dropwire is its system, and its operator works in the pickup
	// console (/n/<id>) with one of ConsoleKeys.
	URL string `yaml:"url"`
	// Secret (whsec_…) signs outbound webhooks and verifies callbacks;
	// optional for a hosted node, which takes neither.
	Secret    string   `yaml:"secret"`
	PickupSLA Duration `yaml:"pickup_sla"`
	// ConsoleKeys open a hosted node's pickup console; several: rotation.
	ConsoleKeys []string `yaml:"console_keys"`
	// Open are the node's opening hours in Timezone ("Mon-Fri 09:00-18:00",
	// or dated pop-up windows "2026-12-06T10:00/2026-12-06T16:00"): the
	// pickup SLA clock runs only while the node is open, and a node with
	// dated windows only takes claims only inside them. Hours stays the
	// free text shown to viewers.
	Open     []string `yaml:"open"`
	Timezone string   `yaml:"timezone"`
	// BaselineSalesPerDay is how many sales the node makes on an ordinary
	// day: a campaign report's uplift is measured against it. 0: none.
	BaselineSalesPerDay float64 `yaml:"baseline_sales_per_day"`
	// hours is Open, parsed once by Validate.
	hours *schedule.Hours
	// Outbound delivery: the request timeout; retries back off
	// exponentially from RetryBase up to RetryMax (full jitter) until
	// RetryHorizon after the claim, then dead-letter. The circuit breaker
	// opens after BreakerFailures consecutive failures for BreakerCooldown.
	Timeout         Duration `yaml:"timeout"`
	RetryBase       Duration `yaml:"retry_base"`
	RetryMax        Duration `yaml:"retry_max"`
	RetryHorizon    Duration `yaml:"retry_horizon"`
	BreakerFailures int      `yaml:"breaker_failures"`
	BreakerCooldown Duration `yaml:"breaker_cooldown"`
}

// MinConsoleKey is the shortest console key accepted, as for overlay keys.
const MinConsoleKey = 16

// Hosted reports whether the node is hosted: it has no URL, so nothing
// is sent to it over HTTP and its operator uses the pickup console.
func (n *Node) Hosted() bool { return n.URL == "" }

// Identity names how a drop identifies viewers.
const (
	IdentityDevice = "device"
	IdentityEmail  = "email"
	IdentityToken  = "token"
)

// Drop is a limited reward a creator triggers on stream.
type Drop struct {
	ID      string `yaml:"id"`
	Creator string `yaml:"creator"`
	Title   string `yaml:"title"`
	// Description is what the claim page says of the reward: plain text
	// (no markup is interpreted), at most MaxDescription characters.
	Description string `yaml:"description"`
	// Image is the reward's picture on the claim page: an https URL, or
	// the /i/<hash>.<ext> path of an image uploaded through the admin API.
	Image        string   `yaml:"image"`
	Window       Duration `yaml:"window"`
	QRRotate     Duration `yaml:"qr_rotate"`
	ScanGrace    Duration `yaml:"scan_grace"`
	Quorum       int      `yaml:"quorum"`
	QuorumWindow Duration `yaml:"quorum_window"`
	PerViewer    int      `yaml:"per_viewer"`
	Identity     string   `yaml:"identity"`
	// Shards splits the drop's stock and viewers across this many Redis
	// Cluster hash slots (1..MaxShards), for a rush one slot cannot take;
	// unset: 1, one slot as before. Read it with ShardCount.
	Shards       *int         `yaml:"shards"`
	Stock        []StockLine  `yaml:"stock"`
	Compensation Compensation `yaml:"compensation"`
	// Sandbox marks a test drop made through the admin API: its claims are
	// labelled as tests for nodes, and on stream it never hides a real
	// drop. A file cannot set it.
	Sandbox bool `yaml:"-"`
}

// ShardCount is how many hash slots hold the drop's stock: Shards, or 1.
func (d *Drop) ShardCount() int {
	if d.Shards == nil || *d.Shards < 1 {
		return 1
	}
	return *d.Shards
}

// StockLine is the stock of one SKU at one node.
type StockLine struct {
	Node string `yaml:"node"`
	SKU  string `yaml:"sku"`
	Tier string `yaml:"tier"`
	Qty  int    `yaml:"qty"`
}

// Compensation is a drop's policy for failed pickups.
type Compensation struct {
	Kind      string `yaml:"kind"` // code | webhook | none
	CodesFile string `yaml:"codes_file"`
	URL       string `yaml:"url"`
	Secret    string `yaml:"secret"`
	// Value is what one compensation costs the creator (kinds code and
	// webhook; zero: not known): the campaign report sums it over the
	// claims compensated.
	Value Money `yaml:"value"`
}

// Duration is a time.Duration written as "20s", "2h", "1h30m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
