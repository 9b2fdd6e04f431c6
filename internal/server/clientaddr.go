package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address of the client a request came from. It is
// the TCP peer, unless the peer is one of trusted (the reverse proxies in
// front of Dropwire); then it is the right-most address of the proxies'
// forwarding header that is not itself trusted: every address right of it
// was written by a trusted proxy, and anything left of it the client may
// have made up.
//
// X-Forwarded-For is read when present, else Forwarded (RFC 7239):
// proxies (nginx, Caddy, HAProxy, cloud balancers) append to
// X-Forwarded-For and pass Forwarded through as the client sent it, so
// preferring Forwarded would let a client choose its own address.
//
// An entry that is not an address ("unknown", an obfuscated identifier,
// garbage) right of the client's ends the walk: the proxy that wrote it did
// not know, and the peer is answered, which is safe if coarse. When every
// address is trusted, the client is inside a trusted network and the
// left-most one is answered.
func clientAddr(remoteAddr string, h http.Header, trusted []netip.Prefix) string {
	peer, ok := peerAddr(remoteAddr)
	if !ok {
		return remoteAddr
	}
	if len(trusted) == 0 || !isTrusted(peer, trusted) {
		return peer.String()
	}
	var chain []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		chain = splitXFF(xff)
	} else if fwd := h.Values("Forwarded"); len(fwd) > 0 {
		chain = forwardedFor(fwd)
	}
	client := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseNode(chain[i])
		if !ok {
			return peer.String()
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr parses http.Request.RemoteAddr ("ip:port", or an address alone
// as some tests set it).
func peerAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	return netip.Addr{}, false
}

// normalize unmaps IPv4-mapped IPv6 addresses (a dual-stack listener's
// view of an IPv4 client) and drops zones, so one client has one key.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// splitXFF returns the entries of every X-Forwarded-For line, in order: a
// request may carry the header several times, and each line is a comma
// list.
func splitXFF(lines []string) []string {
	var out []string
	for _, l := range lines {
		for e := range strings.SplitSeq(l, ",") {
			// Empty list elements are allowed (RFC 9110, 5.6.1) and say
			// nothing.
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// forwardedFor returns the "for" node of every element of the Forwarded
// lines, in order; an element without one gives "" (not an address).
func forwardedFor(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, elem := range splitQuoted(l, ',') {
			if strings.TrimSpace(elem) == "" {
				continue
			}
			node := ""
			for _, pair := range splitQuoted(elem, ';') {
				name, value, ok := strings.Cut(pair, "=")
				if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
					node = unquote(strings.TrimSpace(value))
					break
				}
			}
			out = append(out, node)
		}
	}
	return out
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes the quotes (and quoted-pair escapes) of an RFC 9110
// quoted-string; a token is returned as it is.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseNode reads one forwarded address: "192.0.2.7", "192.0.2.7:4711",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711". Anything else
// ("unknown", "_hidden", garbage) is not an address.
func parseNode(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return normalize(a), true
		}
	}
	// RFC 7239 allows an obfuscated port ("[2001:db8::1]:_abc",
	// "192.0.2.7:_abc"): the address still counts.
	if host, port, err := net.SplitHostPort(s); err == nil && strings.HasPrefix(port, "_") {
		if a, err := netip.ParseAddr(host); err == nil {
			return normalize(a), true
		}
	}
	return netip.Addr{}, false
}

// ClientIP returns the address of the client r came from, as the server's
// middleware resolved it (see Config.TrustedProxies); outside the
// middleware, the host of r.RemoteAddr.
func ClientIP(r *http.Request) string {
	if a := ClientAddr(r.Context()); a != "" {
		return a
	}
	return clientAddr(r.RemoteAddr, nil, nil)
}

// ClientAddr returns the client address of the request ctx belongs to, or
// "" outside a request.
func ClientAddr(ctx context.Context) string {
	if rc, ok := ctx.Value(requestContextKey{}).(*requestContext); ok {
		return rc.client
	}
	return ""
}
