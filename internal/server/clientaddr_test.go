package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

func prefixes(t testing.TB, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

func TestClientAddr(t *testing.T) {
	lb := prefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		peer    string
		trusted []netip.Prefix
		xff     []string // X-Forwarded-For lines
		fwd     []string // Forwarded lines
		want    string
	}{
		{"no proxies: the peer", "203.0.113.9:5000", nil, nil, nil, "203.0.113.9"},
		{"no proxies: headers ignored", "203.0.113.9:5000", nil, []string{"198.51.100.1"}, []string{"for=198.51.100.2"}, "203.0.113.9"},
		{"IPv6 peer", "[2001:db8::7]:443", nil, nil, nil, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.9]:5000", nil, nil, nil, "203.0.113.9"},
		{"peer without a port", "203.0.113.9", nil, nil, nil, "203.0.113.9"},
		{"unparsable peer kept as is", "@unix", lb, []string{"198.51.100.1"}, nil, "@unix"},

		// Spoofing: only a trusted peer's headers count.
		{"untrusted peer sending XFF", "203.0.113.9:5000", lb, []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"untrusted peer sending Forwarded", "203.0.113.9:5000", lb, nil, []string{"for=198.51.100.1"}, "203.0.113.9"},
		{"client prepends a fake address", "10.0.0.2:80", lb, []string{"1.2.3.4, 198.51.100.1"}, nil, "198.51.100.1"},
		{"client sends a fake trusted address", "10.0.0.2:80", lb, []string{"10.9.9.9, 198.51.100.1"}, nil, "198.51.100.1"},
		{"client's own XFF line before the proxy's", "10.0.0.2:80", lb, []string{"1.2.3.4", "198.51.100.1"}, nil, "198.51.100.1"},
		{"XFF wins over a client's Forwarded", "10.0.0.2:80", lb, []string{"198.51.100.1"}, []string{"for=1.2.3.4"}, "198.51.100.1"},

		// Chains of trusted hops.
		{"one trusted hop", "10.0.0.2:80", lb, []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"several trusted hops", "10.0.0.2:80", lb, []string{"198.51.100.1, 10.1.1.1, 10.2.2.2"}, nil, "198.51.100.1"},
		{"hops over several lines", "10.0.0.2:80", lb, []string{"198.51.100.1", "10.1.1.1", " 10.2.2.2 "}, nil, "198.51.100.1"},
		{"spaces and empty elements", "10.0.0.2:80", lb, []string{" , 198.51.100.1 ,, 10.1.1.1,"}, nil, "198.51.100.1"},
		{"every hop trusted: the left-most", "10.0.0.2:80", lb, []string{"10.5.5.5, 10.1.1.1"}, nil, "10.5.5.5"},
		{"trusted peer without headers", "10.0.0.2:80", lb, nil, nil, "10.0.0.2"},
		{"IPv6 proxy and client", "[2001:db8:ffff::1]:80", lb, []string{"2001:db8:1::42"}, nil, "2001:db8:1::42"},
		{"XFF entry with a port", "10.0.0.2:80", lb, []string{"198.51.100.1:4711"}, nil, "198.51.100.1"},
		{"XFF bracketed IPv6", "10.0.0.2:80", lb, []string{"[2001:db8:1::42]"}, nil, "2001:db8:1::42"},
		{"XFF bracketed IPv6 with a port", "10.0.0.2:80", lb, []string{"[2001:db8:1::42]:4711"}, nil, "2001:db8:1::42"},
		{"XFF IPv4-mapped", "10.0.0.2:80", lb, []string{"::ffff:198.51.100.1"}, nil, "198.51.100.1"},
		{"trusted IPv4-mapped peer", "[::ffff:10.0.0.2]:80", lb, []string{"198.51.100.1"}, nil, "198.51.100.1"},

		// Garbage right of the client: the peer.
		{"XFF garbage", "10.0.0.2:80", lb, []string{"not-an-ip"}, nil, "10.0.0.2"},
		{"XFF unknown", "10.0.0.2:80", lb, []string{"unknown"}, nil, "10.0.0.2"},
		{"garbage between the client and the proxy", "10.0.0.2:80", lb, []string{"198.51.100.1, bogus, 10.1.1.1"}, nil, "10.0.0.2"},
		{"garbage left of the client is never read", "10.0.0.2:80", lb, []string{"bogus, 198.51.100.1"}, nil, "198.51.100.1"},
		{"XFF with a zone", "10.0.0.2:80", lb, []string{"fe80::1%eth0"}, nil, "fe80::1"},

		// Forwarded (RFC 7239).
		{"Forwarded for", "10.0.0.2:80", lb, nil, []string{"for=198.51.100.1"}, "198.51.100.1"},
		{"Forwarded quoted IPv6 with port", "10.0.0.2:80", lb, nil, []string{`for="[2001:db8:1::42]:4711"`}, "2001:db8:1::42"},
		{"Forwarded quoted IPv6", "10.0.0.2:80", lb, nil, []string{`For="[2001:db8:1::42]"`}, "2001:db8:1::42"},
		{"Forwarded other parameters", "10.0.0.2:80", lb, nil, []string{`proto=https;for=198.51.100.1;by=10.0.0.2;host="a;b,c"`}, "198.51.100.1"},
		{"Forwarded chain", "10.0.0.2:80", lb, nil, []string{"for=1.2.3.4, for=198.51.100.1", "for=10.1.1.1"}, "198.51.100.1"},
		{"Forwarded obfuscated port", "10.0.0.2:80", lb, nil, []string{`for="198.51.100.1:_p1"`}, "198.51.100.1"},
		{"Forwarded unknown", "10.0.0.2:80", lb, nil, []string{"for=unknown"}, "10.0.0.2"},
		{"Forwarded obfuscated node", "10.0.0.2:80", lb, nil, []string{"for=_hidden"}, "10.0.0.2"},
		{"Forwarded element without for", "10.0.0.2:80", lb, nil, []string{"for=198.51.100.1, proto=https"}, "10.0.0.2"},
		{"Forwarded unbalanced quote", "10.0.0.2:80", lb, nil, []string{`for="198.51.100.1`}, "10.0.0.2"},
		{"Forwarded escaped quote", "10.0.0.2:80", lb, nil, []string{`host="a\"b", for=198.51.100.1`}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.fwd {
				h.Add("Forwarded", v)
			}
			if got := clientAddr(tc.peer, h, tc.trusted); got != tc.want {
				t.Fatalf("client = %q, want %q", got, tc.want)
			}
		})
	}
}

// The middleware resolves the client once: handlers read it with ClientIP,
// and the access line carries it.
func TestClientIPThroughMiddleware(t *testing.T) {
	var mu sync.Mutex
	var buf strings.Builder
	s, err := New(Config{
		Logger:         zerolog.New(lockedWriter{&mu, &buf}).Level(zerolog.DebugLevel),
		TrustedProxies: prefixes(t, "10.0.0.0/8"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	s.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) { seen = ClientIP(r) })

	req := httptest.NewRequest("GET", "/who", nil)
	req.RemoteAddr = "10.0.0.2:4000"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if seen != "198.51.100.1" {
		t.Fatalf("ClientIP = %q, want the forwarded client", seen)
	}
	mu.Lock()
	line := buf.String()
	mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil || m["client"] != "198.51.100.1" {
		t.Fatalf("access line without the client address: %s", line)
	}

	// Outside the middleware: the peer.
	if got := ClientIP(httptest.NewRequest("GET", "/", nil)); got != "192.0.2.1" {
		t.Fatalf("ClientIP outside the middleware = %q", got)
	}
}

func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{
		"198.51.100.1", "198.51.100.1, 10.1.1.1", "[2001:db8::1]:4711", `for="[2001:db8::1]:4711"`,
		"for=192.0.2.60;proto=http;by=203.0.113.43", `for=unknown, for="_hidden"`, `for="a\"b`, ",,", "::ffff:1.2.3.4",
	} {
		f.Add(s, s)
	}
	trusted := prefixes(f, "10.0.0.0/8", "2001:db8::/32")
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		h.Set("Forwarded", fwd)
		got := clientAddr("10.0.0.2:80", h, trusted)
		a, err := netip.ParseAddr(got)
		if err != nil || a.String() != got || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("client %q is not a normalised address", got)
		}
		// An untrusted peer's headers never count.
		if got := clientAddr("203.0.113.9:80", h, trusted); got != "203.0.113.9" {
			t.Fatalf("untrusted peer's headers used: %q", got)
		}
	})
}
