package config

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestNetworkSettings(t *testing.T) {
	c := mustParse(t, base+"trusted_proxies:\n  - 10.0.0.0/8\n  - \"10.1.2.3/8\"\n  - 192.0.2.7\n  - \"2001:db8::/32\"\n  - \"::ffff:172.16.0.0/108\"\nread_timeout: 3s\n", nil)
	wantPrefixes := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("172.16.0.0/12"),
	}
	if got := c.TrustedProxyPrefixes(); !slices.Equal(got, wantPrefixes) {
		t.Fatalf("trusted proxies = %v, want %v", got, wantPrefixes)
	}
	if c.ReadTimeout.D() != 3*time.Second {
		t.Fatalf("read_timeout = %v", c.ReadTimeout)
	}

	d := mustParse(t, base, nil)
	if len(d.TrustedProxyPrefixes()) != 0 || d.ReadTimeout.D() != DefaultReadTimeout {
		t.Fatalf("defaults: trusted %v, read_timeout %v", d.TrustedProxies, d.ReadTimeout)
	}

	for _, tc := range []struct {
		name, add string
		want      []want
	}{
		{"not a CIDR", "trusted_proxies: [10.0.0.0/8, \"10.0.0.0/33\"]", []want{{16, "trusted_proxies[1]", `"10.0.0.0/33" is not a CIDR`}}},
		{"not an address", "trusted_proxies:\n  - 10.0.0.1\n  - loadbalancer.internal", []want{{18, "trusted_proxies[1]", `"loadbalancer.internal" is not a CIDR or an IP address`}}},
		{"zone", "trusted_proxies: [\"fe80::1%eth0\"]", []want{{16, "trusted_proxies[0]", "is not a CIDR or an IP address"}}},
		{"not a list", "trusted_proxies: 10.0.0.0/8", []want{{16, "trusted_proxies", "expected a list"}}},
		{"zero read_timeout", "read_timeout: 0s", []want{{16, "read_timeout", "must be greater than 0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(base+tc.add+"\n"), nil)
			checkProblems(t, "test.yaml", problems(t, err), tc.want)
		})
	}
}
