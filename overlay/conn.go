package overlay

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// readLimit bounds what an overlay may send: it sends nothing but control
// frames, so anything bigger is an abuse.
const readLimit = 512

// conn is one overlay WebSocket. Its writer goroutine owns every data
// write; the queue is one state frame (a newer one replaces it) and one
// pending ping, so it is bounded and a slow overlay gets the latest state.
type conn struct {
	hub     *Hub
	creator *creatorHub
	ws      *websocket.Conn

	primed bool // a state was queued; guarded by creator.mu

	mu   sync.Mutex
	next *websocket.PreparedMessage // the queued state frame
	ping bool

	wake      chan struct{} // capacity 1: "the queue changed"
	done      chan struct{}
	closeOnce sync.Once
}

func newConn(h *Hub, c *creatorHub, ws *websocket.Conn) *conn {
	return &conn{hub: h, creator: c, ws: ws, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// send queues frame, replacing a frame not written yet. It never blocks.
// A frame is prepared once for all the connections it goes to.
func (c *conn) send(frame *websocket.PreparedMessage) {
	c.primed = true
	c.mu.Lock()
	c.next = frame
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) take() (*websocket.PreparedMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, p := c.next, c.ping
	c.next, c.ping = nil, false
	return f, p
}

// writeLoop is the connection's only data writer.
func (c *conn) writeLoop() {
	defer c.hub.wg.Done()
	defer c.close()
	cfg := &c.hub.cfg
	ping := time.NewTicker(cfg.PingInterval)
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
		frame, p := c.take()
		if frame != nil {
			if err := c.write(frame); err != nil {
				return
			}
			c.hub.metrics.frames.Inc()
		}
		if p {
			if err := c.write(pingFrame); err != nil {
				return
			}
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

func (c *conn) write(m *websocket.PreparedMessage) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	err := c.ws.WritePreparedMessage(m)
	if err != nil && isTimeout(err) {
		c.hub.metrics.slow.Inc()
		c.hub.log.Info().Str("creator", c.creator.id).Msg("overlay: slow client dropped")
	}
	return err
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

// goAway tells the peer the server is going away, then closes.
func (c *conn) goAway() {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
	c.close()
}
