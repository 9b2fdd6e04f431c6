package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
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

// Conn is one keep-alive connection that sends a request and reads its
// response.
type Conn struct {
	c  net.Conn
	r  *bufio.Reader
	rt time.Duration
}

// Dial opens a connection to addr (host:port).
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &Conn{c: c, r: bufio.NewReaderSize(c, 16<<10), rt: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// errClosed is returned when the server closed the connection.
var errClosed = errors.New("connection closed by server")

// Do sends req and returns the response status; the body is discarded.
func (c *Conn) Do(req Request) (int, error) {
	_ = c.c.SetDeadline(time.Now().Add(c.rt))
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, errClosed
		}
		return 0, err
	}
	// "HTTP/1.1 202 Accepted\r\n"
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, closeConn := -1, false
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "content-length":
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		case "connection":
			closeConn = strings.EqualFold(strings.TrimSpace(v), "close")
		case "transfer-encoding":
			return 0, errors.New("chunked responses are not supported by the bench client")
		}
	}
	if length > 0 {
		if _, err := c.r.Discard(length); err != nil {
			return 0, err
		}
	}
	if closeConn {
		return status, errClosed
	}
	return status, nil
}
