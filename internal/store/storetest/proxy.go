package storetest

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
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
	links []*link
	held  bool
}

// link is one relayed connection.
type link struct {
	client, upstream net.Conn
	frozen           atomic.Bool // bytes are dropped, as by a vanished peer
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
		l := &link{client: c, upstream: up}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		go l.relay(up, c)
		go l.relay(c, up)
	}
}

// relay copies src to dst until either fails, dropping what it reads while
// the link is frozen.
func (l *link) relay(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// URL is the test Redis's URL through the proxy.
func (p *Proxy) URL() string {
	u, _ := url.Parse(URL())
	u.Host = p.addr
	return u.String()
}

// Redis returns a Redis store through the proxy under prefix, closed when
// t ends. It shares the keys of a store made with RedisWithPrefix, which
// deletes them.
func (p *Proxy) Redis(t testing.TB, prefix string) *store.Redis {
	t.Helper()
	s, err := store.NewRedis(store.RedisConfig{URL: p.URL(), Prefix: prefix, DialTimeout: time.Second})
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
	for _, l := range p.links {
		_ = l.client.Close()
		_ = l.upstream.Close()
	}
	p.links = nil
}

// Freeze makes every connection relayed so far drop what it carries,
// without closing, as when a peer vanishes from the network. New
// connections are relayed as before.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.frozen.Store(true)
	}
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
