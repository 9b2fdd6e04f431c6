package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Request is one pre-serialised HTTP/1.1 request.
type Request []byte

// BuildRequest serialises a request for host with a keep-alive connection.
func BuildRequest(method, host, path string, h http.Header, body []byte) Request {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

// conn is one keep-alive connection of the portable engine: it sends a
// request and reads its response.
type conn struct {
	c    net.Conn
	buf  []byte
	rt   time.Duration
	last []byte // the last whole response, until the next request
}

func dial(addr string, timeout time.Duration) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{c: c, buf: make([]byte, 0, 4<<10), rt: timeout}, nil
}

func (c *conn) Close() error { return c.c.Close() }

// errClosed is returned when the server closed the connection.
var errClosed = errors.New("connection closed by server")

// do sends req and returns the response status; the body is discarded.
func (c *conn) do(req Request) (int, error) {
	_ = c.c.SetDeadline(time.Now().Add(c.rt))
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	c.buf = c.buf[:0] // one request at a time: nothing is left over
	for {
		status, n, closeConn, err := parseResponse(c.buf)
		switch {
		case err != nil:
			return 0, err
		case n > 0 && closeConn:
			c.last = c.buf[:n]
			return status, errClosed
		case n > 0:
			c.last = c.buf[:n]
			return status, nil
		}
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, cap(c.buf))
		}
		k, err := c.c.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+k]
		if err != nil && k == 0 {
			if errors.Is(err, io.EOF) {
				return 0, errClosed
			}
			return 0, err
		}
	}
}

// parseResponse reads one HTTP/1.1 response from the start of b: its
// status, its length in bytes (0 while incomplete) and whether the server
// closes the connection after it.
func parseResponse(b []byte) (status, n int, closeConn bool, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 64<<10 {
			return 0, 0, false, errors.New("response header too large")
		}
		return 0, 0, false, nil
	}
	head := b[:end+2]
	// "HTTP/1.1 202 Accepted\r\n"
	if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) {
		return 0, 0, false, fmt.Errorf("bad status line %q", head[:min(len(head), 40)])
	}
	if status, err = strconv.Atoi(string(head[9:12])); err != nil {
		return 0, 0, false, fmt.Errorf("bad status line %q", head[:min(len(head), 40)])
	}
	length := 0
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("content-length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, 0, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("connection")):
			closeConn = bytes.EqualFold(v, []byte("close"))
		case bytes.EqualFold(k, []byte("transfer-encoding")):
			return 0, 0, false, errors.New("chunked responses are not supported by the bench client")
		}
	}
	if total := end + 4 + length; len(b) >= total {
		return status, total, closeConn, nil
	}
	return 0, 0, false, nil
}

// SetCookie returns the "name=value" of the cookie called name that a
// whole response (as Config.OnResponse gets it) sets, or "".
func SetCookie(resp []byte, name string) string {
	head, _, _ := bytes.Cut(resp, []byte("\r\n\r\n"))
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(k, []byte("Set-Cookie")) {
			continue
		}
		v, _, _ = bytes.Cut(bytes.TrimSpace(v), []byte(";"))
		if n, _, ok := bytes.Cut(v, []byte("=")); ok && string(n) == name {
			return string(v)
		}
	}
	return ""
}
