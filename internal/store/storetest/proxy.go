package storetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// Proxy relays TCP connections to the test Redis, so that a test can break
// a store's connections as a network failure or a Redis restart would,
// while Redis itself, shared with other tests, keeps running.
type Proxy struct {
	addr string
	ln   net.Listener

	mu    sync.Mutex
	conns []net.Conn
	held  bool
}

// NewProxy starts a proxy to the test Redis on a loopback port; it stops
// when t ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("storetest: REDIS_URL %q: %v", URL(), err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), ln: ln}
	t.Cleanup(func() {
		_ = ln.Close()
		p.Sever()
	})
	go p.serve(u.Host)
	return p
}

func (p *Proxy) serve(target string) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		held := p.held
		p.mu.Unlock()
		if held {
			_ = c.Close() // as a Redis that is down
			continue
		}
		up, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// Redis returns a Redis store through the proxy under prefix, closed when
// t ends. It shares the keys of a store made with RedisWithPrefix, which
// deletes them.
func (p *Proxy) Redis(t testing.TB, prefix string) *store.Redis {
	t.Helper()
	u, _ := url.Parse(URL())
	u.Host = p.addr
	s, err := store.NewRedis(store.RedisConfig{URL: u.String(), Prefix: prefix, DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Sever closes every connection relayed so far.
func (p *Proxy) Sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// Hold makes the proxy close new connections at once, as a Redis that is
// down, until Release.
func (p *Proxy) Hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

// Release relays new connections again.
func (p *Proxy) Release() {
	p.mu.Lock()
	p.held = false
	p.mu.Unlock()
}
