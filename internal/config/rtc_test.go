package config

import (
	"testing"
	"time"
)

func TestRTCDefaults(t *testing.T) {
	c := mustParse(t, base, nil)
	if c.RTCMaxPeers != DefaultRTCMaxPeers || c.RTCMaxPeersPerSource != DefaultRTCMaxPeersPerSource {
		t.Errorf("peer caps = %d/%d", c.RTCMaxPeers, c.RTCMaxPeersPerSource)
	}
	if c.RTCIdleTimeout.D() != DefaultRTCIdleTimeout || c.RTCICEFailedTimeout.D() != DefaultRTCICEFailedTimeout ||
		c.RTCICEDisconnectedTimeout.D() != DefaultRTCICEDisconnectedTimeout || c.RTCICEKeepalive.D() != DefaultRTCICEKeepalive {
		t.Errorf("timeouts = %v %v %v %v", c.RTCIdleTimeout, c.RTCICEDisconnectedTimeout, c.RTCICEFailedTimeout, c.RTCICEKeepalive)
	}
	if c.RTCUDPPort != 0 || c.RTCLoopback || c.RTCPublicIP != "" {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestRTCSettings(t *testing.T) {
	c := mustParse(t, base+`rtc_udp_port: 50000
rtc_public_ip: 203.0.113.7
rtc_loopback: true
rtc_max_peers: 10
rtc_max_peers_per_source: 2
rtc_idle_timeout: 30s
rtc_close_on_token_expiry: true
`, nil)
	if c.RTCUDPPort != 50000 || c.RTCPublicIP != "203.0.113.7" || !c.RTCLoopback || c.RTCMaxPeers != 10 ||
		c.RTCMaxPeersPerSource != 2 || c.RTCIdleTimeout.D() != 30*time.Second || !c.RTCCloseOnTokenExpiry {
		t.Errorf("settings not read: %+v", c)
	}
}

// Line numbers: base has 15 lines; appended settings start at line 16.
func TestRTCProblems(t *testing.T) {
	tests := []struct {
		name, add string
		want      []want
	}{
		{"port out of range", "rtc_udp_port: 70000", []want{{16, "rtc_udp_port", "must be a UDP port"}}},
		{"half a range", "rtc_udp_port_min: 50000", []want{{16, "rtc_udp_port_min", "go together"}}},
		{"inverted range", "rtc_udp_port_min: 50010\nrtc_udp_port_max: 50000", []want{{16, "rtc_udp_port_min", "not be greater"}}},
		{"port and range", "rtc_udp_port: 1\nrtc_udp_port_min: 2\nrtc_udp_port_max: 3", []want{{16, "rtc_udp_port", "not both"}}},
		{"bad public ip", "rtc_public_ip: example.com", []want{{16, "rtc_public_ip", "IPv4 address"}}},
		{"negative cap", "rtc_max_peers: -1", []want{{16, "rtc_max_peers", "greater than 0"}}},
		{"zero idle timeout", "rtc_idle_timeout: 0s", []want{{16, "rtc_idle_timeout", "greater than 0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(base+tt.add+"\n"), envOf(nil))
			checkProblems(t, "test.yaml", problems(t, err), tt.want)
		})
	}
}
