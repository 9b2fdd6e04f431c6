package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Validate checks the whole configuration and returns an *Error listing
// every problem, each located at the file line (or override) its value came
// from. Defaults must have been applied (Parse and Demo do). On success it
// builds the id lookups used by Creator, Source, Node and Drop.
//
// Validate writes to c: do not call it while other goroutines read c.
func (c *Config) Validate() error {
	if ps := c.check(); len(ps) > 0 {
		sortProblems(ps)
		return &Error{Problems: ps}
	}
	c.index()
	return nil
}

// CheckDrop fills d's defaults and validates it against c's creators, nodes
// and sources, as Validate would a drop of the file: for drops created
// through the admin API. Problems have Path "drop…" and no line. It does not
// check that d.ID is unused.
func (c *Config) CheckDrop(d *Drop) error {
	d.ApplyDefaults()
	k := &checker{c: &Config{Creators: c.Creators, Sources: c.Sources, Nodes: c.Nodes, Tiers: c.Tiers}, api: true}
	k.drop("drop", d)
	k.stockTiers("drop", d)
	if len(k.problems) > 0 {
		return &Error{Problems: k.problems}
	}
	return nil
}

// checker collects problems, locating each by its path.
type checker struct {
	c        *Config
	problems []Problem
	// api is set while checking a drop created through the admin API.
	api bool
}

func (k *checker) add(path, format string, args ...any) {
	file, line := k.c.at(path)
	k.problems = append(k.problems, Problem{File: file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// at is where the value at path came from: the path itself, else its
// closest recorded parent (a missing key is reported at its mapping).
func (c *Config) at(path string) (string, int) {
	for p := path; ; {
		if pos, ok := c.pos[p]; ok {
			return pos.file, pos.line
		}
		if p == "" {
			return c.File, 0
		}
		p = parent(p)
	}
}

func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func (c *Config) check() []Problem {
	k := &checker{c: c}
	k.process()

	creators := k.ids("creators", len(c.Creators), func(i int) string { return c.Creators[i].ID })
	for i := range c.Creators {
		k.creator(fmt.Sprintf("creators[%d]", i), &c.Creators[i])
	}
	k.ids("sources", len(c.Sources), func(i int) string { return c.Sources[i].ID })
	for i := range c.Sources {
		k.source(fmt.Sprintf("sources[%d]", i), &c.Sources[i], creators)
	}
	k.ids("nodes", len(c.Nodes), func(i int) string { return c.Nodes[i].ID })
	for i := range c.Nodes {
		k.node(fmt.Sprintf("nodes[%d]", i), &c.Nodes[i])
	}
	k.ids("drops", len(c.Drops), func(i int) string { return c.Drops[i].ID })
	for i := range c.Drops {
		k.drop(fmt.Sprintf("drops[%d]", i), &c.Drops[i])
	}
	k.tiers()
	for i := range c.Drops {
		k.stockTiers(fmt.Sprintf("drops[%d]", i), &c.Drops[i])
	}
	k.campaigns(creators)
	return k.problems
}

var logLevels = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"}

// process checks the settings of the process (the ones DROPWIRE_*
// variables and flags override).
func (k *checker) process() {
	c := k.c
	if host, port, err := net.SplitHostPort(c.Listen); err != nil || !validPort(port) {
		k.add("listen", "must be host:port, e.g. \":8080\" or \"127.0.0.1:8080\"")
	} else if strings.ContainsAny(host, "/ ") {
		k.add("listen", "must be host:port, e.g. \":8080\" or \"127.0.0.1:8080\"")
	}
	if c.MetricsListen != "" {
		if host, port, err := net.SplitHostPort(c.MetricsListen); err != nil || !validPort(port) || strings.ContainsAny(host, "/ ") {
			k.add("metrics_listen", "must be host:port, e.g. \"127.0.0.1:9090\"")
		} else if c.MetricsListen == c.Listen {
			k.add("metrics_listen", "must differ from listen: it keeps /metrics off the public listener")
		}
	}
	k.httpURL("public_url", c.PublicURL)
	if u, err := url.Parse(c.PublicURL); err == nil && (u.RawQuery != "" || u.Fragment != "") {
		k.add("public_url", "must not have a query or fragment: it is the base of QR and receipt URLs")
	}
	k.redis()
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		k.add("key_prefix", "must not contain { or }: they would break the per-drop Redis Cluster hash tags")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		k.add("admin_token", "is too short: use at least 16 characters")
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		k.add("log_level", "unknown level %q: use one of %s", clip(c.LogLevel), strings.Join(logLevels, ", "))
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "console" {
		k.add("log_format", "unknown format %q: use json or console (or leave it out: console on a terminal, json otherwise)", clip(c.LogFormat))
	}
	if c.MaxBody <= 0 {
		k.add("max_body", "must be greater than 0")
	}
	k.positive("dedupe_ttl", c.DedupeTTL)
	k.positive("shutdown_timeout", c.ShutdownTimeout)
	k.network()
	k.rtc()
	k.claims()
	k.forwarding()
}

// forwarding checks the settings of the fulfillment forwarder.
func (k *checker) forwarding() {
	c := k.c
	if c.ForwardWorkers < 1 {
		k.add("forward_workers", "must be at least 1")
	}
	k.positive("forward_tick", c.ForwardTick)
	k.positive("forward_takeover", c.ForwardTakeover)
	k.positive("sla_tick", c.SLATick)
}

// claims checks the settings of viewer claims and receipts.
func (k *checker) claims() {
	c := k.c
	if c.ViewerSecret != "" && len(c.ViewerSecret) < 32 {
		k.add("viewer_secret", "is too short: use at least 32 characters")
	}
	if c.ViewerJWKS != "" {
		k.jwks("viewer_jwks", c.ViewerJWKS)
	}
	k.positive("receipt_ttl", c.ReceiptTTL)
	k.positive("receipt_key_rotate", c.ReceiptKeyRotate)
	if c.ClaimRateIP < -1 {
		k.add("claim_rate_ip", "must be a rate per second, or -1 for no limit")
	}
	if c.ClaimRateDevice < -1 {
		k.add("claim_rate_device", "must be a rate per second, or -1 for no limit")
	}
	if c.ClaimPowBits < 0 || c.ClaimPowBits > maxPowBits {
		k.add("claim_pow_bits", "must be 0 (none) to %d bits", maxPowBits)
	}
}

// maxPowBits is verifier.MaxPowBits (config imports no domain package).
const maxPowBits = 24

// rtc checks the WebRTC data-channel settings.
func (k *checker) rtc() {
	c := k.c
	for _, p := range []struct {
		path string
		v    int
	}{{"rtc_udp_port", c.RTCUDPPort}, {"rtc_udp_port_min", c.RTCUDPPortMin}, {"rtc_udp_port_max", c.RTCUDPPortMax}} {
		if p.v < 0 || p.v > 65535 {
			k.add(p.path, "must be a UDP port, 1 to 65535 (0: unset)")
		}
	}
	if (c.RTCUDPPortMin == 0) != (c.RTCUDPPortMax == 0) {
		k.add("rtc_udp_port_min", "rtc_udp_port_min and rtc_udp_port_max go together")
	} else if c.RTCUDPPortMin > c.RTCUDPPortMax {
		k.add("rtc_udp_port_min", "must not be greater than rtc_udp_port_max")
	}
	if c.RTCUDPPort != 0 && c.RTCUDPPortMin != 0 {
		k.add("rtc_udp_port", "use either one port (rtc_udp_port) or a range (rtc_udp_port_min/max), not both")
	}
	if c.RTCPublicIP != "" {
		if ip := net.ParseIP(c.RTCPublicIP); ip == nil || ip.To4() == nil || ip.IsUnspecified() {
			k.add("rtc_public_ip", "must be an IPv4 address, e.g. \"203.0.113.7\"")
		}
	}
	if c.RTCMaxPeers <= 0 {
		k.add("rtc_max_peers", "must be greater than 0")
	}
	if c.RTCMaxPeersPerSource <= 0 {
		k.add("rtc_max_peers_per_source", "must be greater than 0")
	}
	k.positive("rtc_idle_timeout", c.RTCIdleTimeout)
	k.positive("rtc_ice_disconnected_timeout", c.RTCICEDisconnectedTimeout)
	k.positive("rtc_ice_failed_timeout", c.RTCICEFailedTimeout)
	k.positive("rtc_ice_keepalive", c.RTCICEKeepalive)
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// ids checks the ids of one section: present, well-formed, unique. It
// returns the set of valid ids.
func (k *checker) ids(section string, n int, id func(int) string) map[string]bool {
	first := make(map[string]string, n)
	set := make(map[string]bool, n)
	for i := range n {
		path := fmt.Sprintf("%s[%d].id", section, i)
		v := id(i)
		if !k.id(path, v) {
			continue
		}
		if p, dup := first[v]; dup {
			_, line := k.c.at(p)
			k.add(path, "duplicate id %q (first at line %d)", v, line)
			continue
		}
		first[v] = path
		set[v] = true
	}
	return set
}

// id checks one id. Ids appear in URLs and in Redis hash tags, so they are
// kept to a safe alphabet.
func (k *checker) id(path, v string) bool {
	if v == "" {
		k.add(path, "is required")
		return false
	}
	if !validID(v) {
		k.add(path, "%q is not a valid id: use at most 64 letters, digits, '.', '_' and '-', starting with a letter or digit", clip(v))
		return false
	}
	return true
}

// ValidID reports whether s is a usable id of a creator, source, node or
// drop: 1 to 64 letters, digits, '.', '_' and '-', starting with a letter
// or digit, so that it is safe in URLs and Redis hash tags.
func ValidID(s string) bool { return s != "" && validID(s) }

func validID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (k *checker) creator(path string, cr *Creator) {
	if len(cr.OverlayKeys) == 0 {
		k.add(path+".overlay_keys", "at least one overlay key is required")
	}
	for i, key := range cr.OverlayKeys {
		p := fmt.Sprintf("%s.overlay_keys[%d]", path, i)
		switch {
		case key == "":
			k.add(p, "is empty")
		case len(key) < 16:
			k.add(p, "is too short: use at least 16 characters")
		}
	}
}

// creatorRef checks a reference to a creator.
func (k *checker) creatorRef(path, id string, creators map[string]bool) {
	switch {
	case id == "":
		k.add(path, "is required")
	case creators != nil && !creators[id]:
		k.add(path, "unknown creator %q", clip(id))
	case creators == nil && !k.hasCreator(id):
		k.add(path, "unknown creator %q", clip(id))
	}
}

func (k *checker) hasCreator(id string) bool {
	return slices.ContainsFunc(k.c.Creators, func(c Creator) bool { return c.ID == id })
}

func (k *checker) source(path string, s *Source, creators map[string]bool) {
	k.creatorRef(path+".creator", s.Creator, creators)
	for i, v := range s.Secrets {
		if v == "" {
			k.add(fmt.Sprintf("%s.secrets[%d]", path, i), "is empty")
		}
	}
	for i, v := range s.PublicKeys {
		if v == "" {
			k.add(fmt.Sprintf("%s.public_keys[%d]", path, i), "is empty")
		}
	}
	k.positive(path+".tolerance", s.Tolerance)
	if s.Rate < 0 {
		k.add(path+".rate", "must not be negative")
	}
	if s.Burst < 0 {
		k.add(path+".burst", "must not be negative")
	}
	if s.Scheme != SchemeTwitch && len(s.Triggers) > 0 {
		k.add(path+".triggers", "only applies to scheme twitch-eventsub")
	}
	if s.Scheme != SchemeJWT {
		if s.JWKS != "" {
			k.add(path+".jwks", "only applies to scheme jwt")
		}
		if len(s.Algorithms) > 0 {
			k.add(path+".algorithms", "only applies to scheme jwt")
		}
	}

	switch s.Scheme {
	case SchemeStandard:
		for i, v := range s.Secrets {
			if v != "" {
				k.whsec(fmt.Sprintf("%s.secrets[%d]", path, i), v)
			}
		}
		k.whpks(path, s.PublicKeys, false)
		if len(s.Secrets) == 0 && len(s.PublicKeys) == 0 {
			k.add(path+".secrets", "a standard source needs at least one whsec_ secret or whpk_ public key")
		}
	case SchemeJWT:
		k.jwt(path, s)
	case SchemeTwitch:
		for i, v := range s.Secrets {
			if v != "" && (len(v) < 10 || len(v) > 100) {
				k.add(fmt.Sprintf("%s.secrets[%d]", path, i), "must be 10 to 100 characters (Twitch's limit for EventSub secrets)")
			}
		}
		if len(s.Secrets) == 0 {
			k.add(path+".secrets", "a twitch-eventsub source needs at least one secret")
		}
		if len(s.PublicKeys) > 0 {
			k.add(path+".public_keys", "do not apply to scheme twitch-eventsub")
		}
		for i := range s.Triggers {
			k.trigger(fmt.Sprintf("%s.triggers[%d]", path, i), &s.Triggers[i], s)
		}
	case "":
		k.add(path+".scheme", "is required: standard, jwt or twitch-eventsub")
	default:
		k.add(path+".scheme", "unknown scheme %q: use standard, jwt or twitch-eventsub", clip(s.Scheme))
	}
}

// jwtSecretMin is RFC 7518 §3.2: an HS256 key must be at least as long as
// the hash output.
const jwtSecretMin = 32

func (k *checker) jwt(path string, s *Source) {
	for i, v := range s.Secrets {
		if v != "" && len(v) < jwtSecretMin {
			k.add(fmt.Sprintf("%s.secrets[%d]", path, i), "is too short for HS256: use at least %d bytes (RFC 7518)", jwtSecretMin)
		}
	}
	var locations int
	for i, v := range s.PublicKeys {
		if v != "" && !strings.HasPrefix(v, "whpk_") {
			locations++
			if locations > 1 || s.JWKS != "" {
				k.add(fmt.Sprintf("%s.public_keys[%d]", path, i), "a jwt source has one JWKS file or URL, in jwks")
			}
		}
	}
	k.whpks(path, s.PublicKeys, true)
	if s.JWKS != "" {
		k.jwks(path+".jwks", s.JWKS)
	}
	hasKeys := s.JWKS != "" || len(s.PublicKeys) > 0
	if len(s.Secrets) == 0 && !hasKeys {
		k.add(path+".secrets", "a jwt source needs secrets (HS256) or jwks (ES256, EdDSA)")
		return
	}
	for i, a := range s.Algorithms {
		p := fmt.Sprintf("%s.algorithms[%d]", path, i)
		switch a {
		case AlgHS256:
			if len(s.Secrets) == 0 {
				k.add(p, "HS256 needs secrets")
			}
		case AlgES256:
			if s.JWKS == "" {
				k.add(p, "ES256 needs jwks")
			}
		case AlgEdDSA:
			if !hasKeys {
				k.add(p, "EdDSA needs jwks or whpk_ public_keys")
			}
		default:
			k.add(p, "unknown algorithm %q: use HS256, ES256 or EdDSA", clip(a))
		}
	}
}

// jwks checks a JWKS location: a file path, or a URL. Keys fetched over
// plain http could be swapped on the way, so http is for loopback only.
func (k *checker) jwks(path, loc string) {
	if !strings.Contains(loc, "://") {
		return
	}
	u, err := url.Parse(loc)
	switch {
	case err != nil:
		k.add(path, "is not a valid URL")
	case u.Scheme != "https" && u.Scheme != "http":
		k.add(path, "must be a file path or an https URL")
	case u.Host == "":
		k.add(path, "has no host")
	case u.Scheme == "http" && u.Hostname() != "localhost" && !isLoopback(u.Hostname()):
		k.add(path, "must use https (http only for localhost)")
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (k *checker) trigger(path string, t *Trigger, s *Source) {
	if t.Subscription == "" {
		k.add(path+".subscription", "is required, e.g. channel.channel_points_custom_reward_redemption.add")
	}
	for key := range t.Match {
		if key == "" {
			k.add(path+".match", "has an empty path")
		}
	}
	if t.Drop == "" {
		k.add(path+".drop", "is required")
		return
	}
	d, ok := k.c.dropByScan(t.Drop)
	switch {
	case !ok:
		k.add(path+".drop", "unknown drop %q", clip(t.Drop))
	case s.Creator != "" && d.Creator != "" && d.Creator != s.Creator:
		k.add(path+".drop", "drop %q belongs to creator %q, not to this source's creator %q", t.Drop, d.Creator, s.Creator)
	}
}

func (k *checker) node(path string, n *Node) {
	switch {
	case n.Secret == "" && n.Hosted():
		// A hosted node is sent nothing and calls nothing back.
	case n.Secret == "":
		k.add(path+".secret", "is required: a whsec_ secret that signs claim webhooks and verifies callbacks")
	default:
		k.whsec(path+".secret", n.Secret)
	}
	if n.URL != "" {
		k.httpURL(path+".url", n.URL)
		if len(n.ConsoleKeys) > 0 {
			k.add(path+".console_keys", "is for hosted nodes (no url): a node with a url takes its claims over HTTP, not in the pickup console")
		}
	}
	for i, key := range n.ConsoleKeys {
		p := fmt.Sprintf("%s.console_keys[%d]", path, i)
		switch {
		case key == "":
			k.add(p, "is empty")
		case len(key) < MinConsoleKey:
			k.add(p, "is too short: use at least %d characters", MinConsoleKey)
		}
	}
	k.positive(path+".pickup_sla", n.PickupSLA)
	if n.BaselineSalesPerDay < 0 || math.IsNaN(n.BaselineSalesPerDay) || math.IsInf(n.BaselineSalesPerDay, 0) {
		k.add(path+".baseline_sales_per_day", "must be a number of sales a day, 0 or more")
	}
	k.nodeHours(path, n)
	k.positive(path+".timeout", n.Timeout)
	k.positive(path+".retry_base", n.RetryBase)
	k.positive(path+".retry_max", n.RetryMax)
	k.positive(path+".retry_horizon", n.RetryHorizon)
	k.positive(path+".breaker_cooldown", n.BreakerCooldown)
	if n.RetryMax > 0 && n.RetryMax < n.RetryBase {
		k.add(path+".retry_max", "must not be shorter than retry_base")
	}
	if n.BreakerFailures < 1 {
		k.add(path+".breaker_failures", "must be at least 1")
	}
	if t := k.c.ForwardTakeover; t > 0 && n.Timeout >= t {
		k.add(path+".timeout", "must be shorter than forward_takeover (%s), or other replicas take over deliveries still in flight", t.D())
	}
}

var identities = []string{IdentityDevice, IdentityEmail, IdentityToken}

func (k *checker) drop(path string, d *Drop) {
	k.creatorRef(path+".creator", d.Creator, nil)
	k.positive(path+".window", d.Window)
	k.positive(path+".qr_rotate", d.QRRotate)
	k.positive(path+".scan_grace", d.ScanGrace)
	k.positive(path+".quorum_window", d.QuorumWindow)
	if d.Quorum < 1 {
		k.add(path+".quorum", "must be at least 1")
	} else if d.Creator != "" && k.hasCreator(d.Creator) {
		var n int
		for _, s := range k.c.Sources {
			if s.Creator == d.Creator {
				n++
			}
		}
		if d.Quorum > 1 && d.Quorum > n {
			k.add(path+".quorum", "is %d but creator %q has %d source(s): the drop could never open", d.Quorum, d.Creator, n)
		}
	}
	if d.PerViewer < 1 {
		k.add(path+".per_viewer", "must be at least 1")
	}
	if d.Shards != nil && (*d.Shards < 1 || *d.Shards > MaxShards) {
		k.add(path+".shards", "is %d: use 1 to %d (1: the drop's keys in one Redis Cluster slot)", *d.Shards, MaxShards)
	}
	if !slices.Contains(identities, d.Identity) {
		k.add(path+".identity", "unknown identity %q: use device, email or token", clip(d.Identity))
	} else if d.Identity == IdentityToken && k.c.ViewerJWKS == "" && path != "drop" {
		k.add(path+".identity", "identity token needs viewer_jwks: the keys viewer JWTs are checked with")
	}
	if len(d.Stock) == 0 {
		k.add(path+".stock", "at least one stock line is required")
	}
	first := make(map[[2]string]string)
	for i := range d.Stock {
		p := fmt.Sprintf("%s.stock[%d]", path, i)
		l := &d.Stock[i]
		switch {
		case l.Node == "":
			k.add(p+".node", "is required")
		case !slices.ContainsFunc(k.c.Nodes, func(n Node) bool { return n.ID == l.Node }):
			k.add(p+".node", "unknown node %q", clip(l.Node))
		}
		if l.SKU == "" {
			k.add(p+".sku", "is required")
		}
		if l.Qty < 0 {
			k.add(p+".qty", "must not be negative")
		}
		if l.Node != "" && l.SKU != "" {
			key := [2]string{l.Node, l.SKU}
			if f, dup := first[key]; dup {
				_, line := k.c.at(f)
				k.add(p, "duplicate stock line for node %q and sku %q (first at line %d)", l.Node, l.SKU, line)
			} else {
				first[key] = p
			}
		}
	}
	if msg := DescriptionProblem(d.Description); msg != "" {
		k.add(path+".description", "%s", msg)
	}
	if msg := ImageProblem(d.Image); msg != "" {
		k.add(path+".image", "%s", msg)
	}
	k.compensation(path+".compensation", &d.Compensation)
}

func (k *checker) compensation(path string, c *Compensation) {
	only := func(field, kind string) {
		k.add(path+"."+field, "only applies to kind %s", kind)
	}
	switch c.Kind {
	case CompensationNone:
	case CompensationCode:
		// A drop of the API may start without: its codes are uploaded.
		if c.CodesFile == "" && !k.api {
			k.add(path+".codes_file", "is required for kind code")
		}
	case CompensationWebhook:
		if c.URL == "" {
			k.add(path+".url", "is required for kind webhook")
		} else {
			k.httpURL(path+".url", c.URL)
		}
		if c.Secret == "" {
			k.add(path+".secret", "is required for kind webhook")
		} else {
			k.whsec(path+".secret", c.Secret)
		}
	default:
		k.add(path+".kind", "unknown kind %q: use code, webhook or none", clip(c.Kind))
		return
	}
	if c.Kind != CompensationCode && c.CodesFile != "" {
		only("codes_file", CompensationCode)
	}
	if c.Kind == CompensationNone && !c.Value.IsZero() {
		k.add(path+".value", "only applies to kinds code and webhook: kind none gives nothing")
	} else {
		k.money(path+".value", c.Value)
	}
	if c.Kind != CompensationWebhook {
		if c.URL != "" {
			only("url", CompensationWebhook)
		}
		if c.Secret != "" {
			only("secret", CompensationWebhook)
		}
	}
}

// money checks an amount of money that may be left out: when either of
// amount and currency is written, both must read.
func (k *checker) money(path string, m Money) {
	if m.IsZero() {
		return
	}
	switch _, ok := m.Minor(); {
	case m.Amount == "":
		k.add(path+".amount", "is required with currency: the amount, e.g. \"2.50\"")
	case strings.HasPrefix(m.Amount, "-"):
		k.add(path+".amount", "%q must not be negative", clip(m.Amount))
	case !ok:
		k.add(path+".amount", "%q must be a decimal with at most 2 decimals, e.g. \"2.50\"", clip(m.Amount))
	}
	switch {
	case m.Currency == "":
		k.add(path+".currency", "is required with amount: an ISO 4217 code such as EUR")
	case !ValidCurrency(m.Currency):
		k.add(path+".currency", "%q must be an ISO 4217 code (three capital letters, e.g. \"EUR\")", clip(m.Currency))
	}
}

// positive checks a duration: zero is only ever left by an explicit value,
// since defaults fill the absent ones.
func (k *checker) positive(path string, d Duration) {
	if d <= 0 {
		k.add(path, "must be greater than 0")
	}
}

// httpURL checks an absolute http(s) URL. URLs are not secrets, but may be
// long: they are not echoed.
func (k *checker) httpURL(path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		k.add(path, "must be an absolute http(s) URL")
	}
}

// whsec checks a Standard Webhooks secret: "whsec_" and base64 of 24 to 64
// bytes. The prefix is optional: the spec uses an unprefixed secret as base64
// as is. The message names the field only, never the secret.
func (k *checker) whsec(path, s string) {
	raw, prefixed := strings.CutPrefix(s, "whsec_")
	b, err := base64.StdEncoding.DecodeString(raw)
	switch {
	case err != nil && prefixed:
		k.add(path, "whsec_ secret does not decode: %v", err)
	case err != nil:
		k.add(path, "secret is neither whsec_<base64> nor base64: %v", err)
	case len(b) < 24 || len(b) > 64:
		k.add(path, "secret decodes to %d bytes; use 24 to 64", len(b))
	}
}

// whpks checks Standard Webhooks ed25519 public keys (whpk_<base64>); in a
// jwt source, an entry without the prefix is its JWKS location.
func (k *checker) whpks(path string, keys []string, jwt bool) {
	for i, v := range keys {
		p := fmt.Sprintf("%s.public_keys[%d]", path, i)
		raw, prefixed := strings.CutPrefix(v, "whpk_")
		if v == "" {
			continue
		}
		if !prefixed {
			if !jwt {
				k.add(p, "public key must start with whpk_")
			}
			continue
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		switch {
		case err != nil:
			k.add(p, "whpk_ key does not decode: %v", err)
		case len(b) != ed25519.PublicKeySize:
			k.add(p, "whpk_ key decodes to %d bytes; an ed25519 public key has %d", len(b), ed25519.PublicKeySize)
		}
	}
}
