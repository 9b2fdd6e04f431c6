package overlay

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// readLimit bounds what an overlay may send: it sends nothing but control
// frames, so anything bigger is an abuse.
const readLimit = 512

// conn is one overlay WebSocket. Its queue is one state frame (a newer one
// replaces it) and one pending ping, so it is bounded and a slow overlay
// gets the latest state.
//
// A frame goes out on the goroutine that publishes it when the socket
// takes it at once: one non-blocking write, no wake-up of another
// goroutine. That is most of the cost of a fan-out to a thousand overlays.
// Whatever does not go out at once (a socket with a full send buffer, a
// write already in progress) is left to the connection's writer goroutine,
// which waits on the socket under the write deadline; the publisher never
// waits, so a slow overlay slows no other.
type conn struct {
	hub     *Hub
	creator *creatorHub
	ws      *websocket.Conn
	nc      net.Conn
	raw     syscall.RawConn // nil: every frame goes through the writer

	primed bool // a state was queued; guarded by creator.mu

	// wmu is held by whoever writes to the socket: frames are written
	// whole, one after the other, and only by its holder.
	wmu sync.Mutex

	mu   sync.Mutex
	rest []byte // the end of a frame the publisher could not write
	next frame  // the queued state frame
	ping bool
	err  error // the publisher's write failed: the writer closes

	wake      chan struct{} // capacity 1: "the queue changed"
	done      chan struct{}
	closeOnce sync.Once
}

func newConn(h *Hub, c *creatorHub, ws *websocket.Conn) *conn {
	nc := ws.NetConn()
	// The server's own write deadline for the handshake must not fail
	// the first frame.
	_ = nc.SetWriteDeadline(time.Time{})
	return &conn{hub: h, creator: c, ws: ws, nc: nc, raw: rawConn(nc),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// send writes f now if the socket takes it whole without waiting, else
// queues it for the writer, replacing a frame not written yet. It never
// blocks. A frame is built once for all the connections it goes to.
func (c *conn) send(f frame) {
	c.primed = true
	if c.raw != nil && c.wmu.TryLock() {
		sent := c.writeDirect(f)
		c.wmu.Unlock()
		if sent {
			c.hub.metrics.frames.Inc()
			return
		}
	} else {
		c.mu.Lock()
		c.next = f
		c.mu.Unlock()
	}
	c.signal()
}

// writeDirect tries f in one non-blocking write and reports whether it
// went out whole; if not, it leaves the queue to the writer: the rest of
// a frame begun, or f as the next state. c.wmu is held.
func (c *conn) writeDirect(f frame) bool {
	c.mu.Lock()
	if c.rest != nil || c.err != nil {
		c.next = f
		c.mu.Unlock()
		return false
	}
	c.next = nil // f supersedes it
	c.mu.Unlock()
	n, err := writeNow(c.raw, f)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil // a deadline left set: the writer sets its own
	}
	if err == nil && n == len(f) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		c.err = err
	case n > 0:
		c.rest = f[n:] // a frame begun must be finished
	default:
		c.next = f // a newer state may still replace it
	}
	return false
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes what send could not, and the pings.
func (c *conn) writeLoop() {
	defer c.hub.wg.Done()
	defer c.close()
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-ping.C:
			c.mu.Lock()
			c.ping = true
			c.mu.Unlock()
		case <-c.wake:
		}
		c.wmu.Lock()
		err := c.flush()
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// flush writes the queue until it is empty, waiting on the socket as
// long as the write deadline allows. c.wmu is held.
func (c *conn) flush() error {
	// A deadline left set would fail the publisher's next write.
	defer func() { _ = c.nc.SetWriteDeadline(time.Time{}) }()
	for {
		c.mu.Lock()
		rest, next, ping, err := c.rest, c.next, c.ping, c.err
		c.rest, c.next, c.ping = nil, nil, false
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if rest == nil && next == nil && !ping {
			return nil
		}
		for _, f := range [][]byte{rest, next} {
			if f == nil {
				continue
			}
			if err := c.write(f); err != nil {
				return err
			}
			c.hub.metrics.frames.Inc()
		}
		if ping {
			if err := c.write(pingFrame); err != nil {
				return err
			}
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
				return err
			}
		}
	}
}

// write writes b whole, dropping a client that takes longer than the
// write timeout. c.wmu is held.
func (c *conn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	if err != nil && isTimeout(err) {
		c.hub.metrics.slow.Inc()
		c.hub.log.Info().Str("creator", c.creator.id).Msg("overlay: slow client dropped")
	}
	return err
}

// control writes a control frame (pong, close) under c.wmu.
func (c *conn) control(kind int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	defer func() { _ = c.nc.SetWriteDeadline(time.Time{}) }()
	return c.ws.WriteControl(kind, data, time.Now().Add(c.hub.cfg.WriteTimeout))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// readLoop reads (and discards) what the peer sends, so pongs and close
// frames are processed, and notices a dead peer by its silence.
func (c *conn) readLoop() {
	defer c.hub.wg.Done()
	defer c.close()
	wait := c.hub.cfg.PongWait
	c.ws.SetReadLimit(readLimit)
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(wait)) })
	// gorilla's own handlers would answer outside c.wmu, between the bytes
	// of a frame.
	c.ws.SetPingHandler(func(data string) error {
		if err := c.control(websocket.PongMessage, []byte(data)); err != nil && !errors.Is(err, websocket.ErrCloseSent) && !isTimeout(err) {
			return err
		}
		return nil
	})
	c.ws.SetCloseHandler(func(code int, _ string) error {
		msg := []byte{}
		if code != websocket.CloseNoStatusReceived {
			msg = websocket.FormatCloseMessage(code, "")
		}
		_ = c.control(websocket.CloseMessage, msg)
		return nil
	})
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	}
}

// close ends the connection once: the writer stops, the socket closes (so
// the reader returns), and the hub forgets it.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
		c.hub.detach(c.creator, c)
	})
}

// goAway tells the peer the server is going away, then closes. A peer
// being written to (a slow one) is closed without the message.
func (c *conn) goAway() {
	if c.wmu.TryLock() {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
		c.wmu.Unlock()
	}
	c.close()
}
