package loadgen

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Sockets is a set of WebSocket client connections whose messages are read
// by one reader, light enough that a thousand sockets watched on the
// machine under test leave its cores to the server: on Linux one thread
// over epoll, as for HTTP, elsewhere a goroutine per socket.
type Sockets struct {
	conns   []*wsConn
	polled  bool // read by the poller
	closed  atomic.Bool
	mu      sync.Mutex   // guards reading and the closing of descriptors
	reading bool         // the poller runs and owns the descriptors
	tid     atomic.Int64 // the poller's thread, for ReaderCPU
	cb      sync.Mutex   // serialises onMessage on the portable reader
}

// wsConn is one client connection.
type wsConn struct {
	nc     net.Conn // nil once the poller owns the socket
	fd     int
	buf    []byte // bytes read and not yet parsed
	msg    []byte // a fragmented text message being assembled
	binary bool   // the message being read is binary, and skipped
}

// DialWebSockets opens n connections to rawURL (ws://host/path?query),
// each with its own handshake. The server's first messages are kept for
// Read.
func DialWebSockets(rawURL string, n int, timeout time.Duration) (*Sockets, error) {
	return dialWebSockets(rawURL, n, timeout, polled)
}

// DialWebSocketURLs opens one connection to each of urls, as
// DialWebSockets does: socket i is urls[i]'s.
func DialWebSocketURLs(urls []string, timeout time.Duration) (*Sockets, error) {
	us := make([]*url.URL, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "ws" || u.Host == "" {
			return nil, fmt.Errorf("loadgen: %q is not a ws:// URL", raw)
		}
		us[i] = u
	}
	return dialURLs(us, timeout, polled)
}

func dialWebSockets(rawURL string, n int, timeout time.Duration, poll bool) (*Sockets, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: %q is not a ws:// URL", rawURL)
	}
	us := make([]*url.URL, n)
	for i := range us {
		us[i] = u
	}
	return dialURLs(us, timeout, poll)
}

func dialURLs(us []*url.URL, timeout time.Duration, poll bool) (*Sockets, error) {
	s := &Sockets{polled: poll}
	for i, u := range us {
		c, err := dialWebSocket(u, timeout, poll)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("socket %d: %w", i, err)
		}
		s.conns = append(s.conns, c)
	}
	return s, nil
}

func dialWebSocket(u *url.URL, timeout time.Duration, poll bool) (*wsConn, error) {
	nc, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		nc.Close()
		return nil, err
	}
	buf := make([]byte, 0, 4<<10) // a state message with its QR fits
	end := -1
	for end < 0 {
		if len(buf) == cap(buf) {
			nc.Close()
			return nil, errors.New("handshake response too large")
		}
		k, err := nc.Read(buf[len(buf):cap(buf)])
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		buf = buf[:len(buf)+k]
		end = bytes.Index(buf, []byte("\r\n\r\n"))
	}
	head := buf[:end]
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		nc.Close()
		return nil, fmt.Errorf("handshake: %s", line)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if headerValue(head, "Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		nc.Close()
		return nil, errors.New("handshake: wrong Sec-WebSocket-Accept")
	}
	_ = nc.SetDeadline(time.Time{})
	c := &wsConn{nc: nc, fd: -1, buf: buf[:copy(buf, buf[end+4:])]}
	if poll {
		if c.fd, err = takeFD(nc); err != nil {
			return nil, err
		}
		c.nc = nil
	}
	return c, nil
}

// headerValue returns the value of header name in an HTTP head.
func headerValue(head []byte, name string) string {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte(name)) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// Close closes every connection; Read returns.
func (s *Sockets) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed.Store(true)
	for _, c := range s.conns {
		if c.nc != nil {
			_ = c.nc.Close()
		}
	}
	if !s.reading {
		s.closeFDs()
	}
}

// Read calls onMessage with each text message of connection i and when it
// was read, one call at a time, until every connection has ended or Close
// is called. A message is only valid during the call. Pings are answered.
func (s *Sockets) Read(onMessage func(i int, msg []byte, at time.Time)) error {
	if s.polled {
		return s.readPolled(onMessage)
	}
	s.readConns(onMessage)
	return nil
}

// readConns is the portable reader: a goroutine per connection.
func (s *Sockets) readConns(onMessage func(int, []byte, time.Time)) {
	var wg sync.WaitGroup
	for i, c := range s.conns {
		if c.nc == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serial := func(m []byte, at time.Time) {
				s.cb.Lock()
				defer s.cb.Unlock()
				onMessage(i, m, at)
			}
			for c.parse(serial, time.Now()) == nil {
				if len(c.buf) == cap(c.buf) {
					c.buf = slices.Grow(c.buf, cap(c.buf))
				}
				k, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
				if err != nil {
					return
				}
				c.buf = c.buf[:len(c.buf)+k]
			}
		}()
	}
	wg.Wait()
}

// parse delivers every complete message in c.buf and keeps the rest. It
// answers pings and returns an error when the server closes or breaks the
// protocol.
func (c *wsConn) parse(onMessage func([]byte, time.Time), at time.Time) error {
	b := c.buf
frames:
	for len(b) >= 2 {
		fin, op, n := b[0]&0x80 != 0, b[0]&0x0f, int(b[1]&0x7f)
		if b[1]&0x80 != 0 {
			return errors.New("masked frame from the server")
		}
		hl := 2
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if len(b) < hl {
			break frames
		}
		switch hl {
		case 4:
			n = int(binary.BigEndian.Uint16(b[2:]))
		case 10:
			l := binary.BigEndian.Uint64(b[2:])
			if l > 64<<20 {
				return fmt.Errorf("frame of %d bytes", l)
			}
			n = int(l)
		}
		if len(b) < hl+n {
			if hl+n > cap(c.buf) {
				// Room for the whole frame; parsing resumes once it is read.
				c.buf = append(make([]byte, 0, hl+n), b...)
				return nil
			}
			break frames
		}
		payload := b[hl : hl+n]
		b = b[hl+n:]
		switch op {
		case 0x8:
			return errors.New("closed by the server")
		case 0x9:
			if err := c.write(0xA, payload); err != nil {
				return err
			}
		case 0x1, 0x2:
			c.binary = op == 0x2 // binary messages are not read
			if fin && !c.binary {
				onMessage(payload, at)
			} else if !c.binary {
				c.msg = append(c.msg[:0], payload...)
			}
		case 0x0:
			if !c.binary {
				c.msg = append(c.msg, payload...)
				if fin {
					onMessage(c.msg, at)
				}
			}
		}
	}
	c.buf = c.buf[:copy(c.buf, b)]
	return nil
}

// write sends a short masked control frame.
func (c *wsConn) write(op byte, payload []byte) error {
	if len(payload) > 125 {
		return errors.New("control frame too long")
	}
	f := make([]byte, 6+len(payload))
	f[0], f[1] = 0x80|op, 0x80|byte(len(payload))
	_, _ = rand.Read(f[2:6])
	for i, p := range payload {
		f[6+i] = p ^ f[2+i%4]
	}
	if c.nc != nil {
		_, err := c.nc.Write(f)
		return err
	}
	return writeFD(c.fd, f)
}
