package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// network checks how the HTTP server meets the network: the proxies it
// trusts and how long a request may take to arrive.
func (k *checker) network() {
	c := k.c
	for i, s := range c.TrustedProxies {
		if _, err := ParseProxy(s); err != nil {
			k.add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
	k.positive("read_timeout", c.ReadTimeout)
}

// ParseProxy reads one trusted_proxies entry: a CIDR ("10.0.0.0/8",
// "2001:db8::/32") or a single address, which is its own /32 or /128.
// IPv4-mapped IPv6 forms are read as IPv4, as clients are matched.
func ParseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR, e.g. \"10.0.0.0/8\" or \"2001:db8::/32\"", clip(s))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address, e.g. \"10.0.0.0/8\" or \"10.0.0.5\"", clip(s))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// TrustedProxyPrefixes returns trusted_proxies parsed; entries Validate
// would refuse are left out.
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := ParseProxy(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
