package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux every connection of a run is served by one goroutine on its
// own thread, over epoll and non-blocking sockets, as wrk does: a request
// costs a write and a read system call and no goroutine wake-up, so the
// generator leaves the cores to the server it measures.
const polled = true

// pconn is one keep-alive connection of the polled engine.
type pconn struct {
	fd      int
	busy    bool      // a request is out
	from    time.Time // what its latency is measured from
	buf     []byte    // response bytes read so far
	retryAt time.Time // when to dial again after a failed dial
	idx     int       // index of the request out
}

// poller is the state of one polled run.
type poller struct {
	cfg      Config
	ep       int
	conns    []*pconn
	byFD     map[int]*pconn
	idle     []*pconn
	next     int // index of the next request
	done     *atomic.Int64
	failed   *atomic.Int64
	lat      Latencies
	status   map[int]int
	errs     map[string]int
	outgoing int // requests out
}

func runPolled(ctx context.Context, cfg Config, done, failed *atomic.Int64) (w *worker, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	p := &poller{cfg: cfg, byFD: map[int]*pconn{}, done: done, failed: failed, status: map[int]int{}, errs: map[string]int{}}
	if p.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("loadgen: epoll: %w", err)
	}
	defer unix.Close(p.ep)
	defer func() {
		for _, c := range p.conns {
			if c.fd >= 0 {
				unix.Close(c.fd)
			}
		}
	}()
	for range cfg.Concurrency {
		c := &pconn{fd: -1, buf: make([]byte, 0, 4<<10)}
		p.conns = append(p.conns, c)
		p.redial(c, time.Now())
	}

	// Open loop: a timer ticks at each request's due time, request i at
	// start + i×interval. A due request that finds no idle connection
	// waits for one, and the wait counts.
	var (
		timer    = -1
		interval time.Duration
		start    time.Time
		due      int // requests due so far
		starved  bool
	)
	if cfg.Rate > 0 {
		interval = time.Second / time.Duration(cfg.Rate)
		if timer, err = startTicker(p.ep, interval); err != nil {
			return nil, err
		}
		defer unix.Close(timer)
		start, due = time.Now(), 1
	}

	events := make([]unix.EpollEvent, len(p.conns)+1)
	var (
		ticks  [8]byte
		stopAt time.Time
	)
	for {
		if stopAt.IsZero() && (ctx.Err() != nil || (cfg.Max > 0 && p.next >= cfg.Max)) {
			stopAt = time.Now()
		}
		if stopAt.IsZero() {
			if cfg.Rate == 0 {
				due = p.next + len(p.idle)
			}
			if cfg.Max > 0 {
				due = min(due, cfg.Max)
			}
			for p.next < due && len(p.idle) > 0 {
				from := time.Now()
				if starved {
					from = start.Add(time.Duration(p.next) * interval)
				}
				p.send(from)
			}
			starved = p.next < due
		}
		if !stopAt.IsZero() && (p.outgoing == 0 || time.Since(stopAt) > cfg.Timeout) {
			break
		}
		n, err := unix.EpollWait(p.ep, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("loadgen: epoll: %w", err)
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == timer {
				if k, _ := unix.Read(timer, ticks[:]); k == 8 {
					due += int(binary.NativeEndian.Uint64(ticks[:]))
				}
				continue
			}
			if c := p.byFD[int(ev.Fd)]; c != nil {
				p.receive(c, now)
			}
		}
		for _, c := range p.conns {
			switch {
			case c.busy && now.Sub(c.from) > cfg.Timeout:
				p.fail(errors.New("timeout awaiting response"))
				p.close(c)
				p.redial(c, now)
			case c.fd < 0 && now.After(c.retryAt):
				p.redial(c, now)
			}
		}
	}
	return &worker{lat: p.lat, status: p.status, errs: p.errs}, nil
}

// startTicker returns a timerfd that ticks every interval, watched by ep.
func startTicker(ep int, interval time.Duration) (int, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("loadgen: timerfd: %w", err)
	}
	ts := unix.NsecToTimespec(int64(interval))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("loadgen: timerfd: %w", err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("loadgen: epoll: %w", err)
	}
	return fd, nil
}

// redial opens c's connection and hands its socket to the poller; on
// failure it is tried again 10 ms later.
func (p *poller) redial(c *pconn, now time.Time) {
	if err := p.dial(c); err != nil {
		p.fail(err)
		c.retryAt = now.Add(10 * time.Millisecond)
		return
	}
	p.idle = append(p.idle, c)
}

func (p *poller) dial(c *pconn) error {
	nc, err := net.DialTimeout("tcp", p.cfg.Addr, p.cfg.Timeout)
	if err != nil {
		return err
	}
	if c.fd, err = takeFD(nc); err != nil {
		c.fd = -1
		return err
	}
	if err := unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}); err != nil {
		unix.Close(c.fd)
		c.fd = -1
		return err
	}
	p.byFD[c.fd] = c
	return nil
}

// close closes c's connection, ending the request it has out.
func (p *poller) close(c *pconn) {
	if c.busy {
		c.busy = false
		p.outgoing--
	}
	if i := slices.Index(p.idle, c); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
	}
	if c.fd >= 0 {
		delete(p.byFD, c.fd)
		unix.Close(c.fd)
		c.fd = -1
	}
	c.buf = c.buf[:0]
}

func (p *poller) fail(err error) {
	p.errs[shortErr(err)]++
	p.failed.Add(1)
}

// send writes the next request on an idle connection.
func (p *poller) send(from time.Time) {
	c := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	req := p.cfg.Request(p.next)
	c.idx = p.next
	p.next++
	c.busy, c.from = true, from
	p.outgoing++
	// A request fits the socket's buffer unless the server stopped
	// reading, and then the timeout ends it.
	if _, err := unix.Write(c.fd, req); err != nil && !errors.Is(err, unix.EAGAIN) {
		p.fail(err)
		p.close(c)
		p.redial(c, from)
	}
}

// receive reads what c's socket holds and completes its response.
func (p *poller) receive(c *pconn, now time.Time) {
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, cap(c.buf))
		}
		free := cap(c.buf) - len(c.buf)
		k, err := unix.Read(c.fd, c.buf[len(c.buf):cap(c.buf)])
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil || k == 0 {
			if c.busy {
				p.fail(errClosed)
			}
			p.close(c)
			p.redial(c, now)
			return
		}
		c.buf = c.buf[:len(c.buf)+k]
		if k < free {
			break // drained
		}
	}
	if !c.busy {
		return
	}
	status, n, closeConn, err := parseResponse(c.buf)
	if err != nil {
		p.fail(err)
		p.close(c)
		p.redial(c, now)
		return
	}
	if n == 0 {
		return // incomplete
	}
	p.status[status]++
	if p.cfg.OnResponse != nil {
		p.cfg.OnResponse(c.idx, c.buf[:n])
	}
	p.lat.Add(now.Sub(c.from))
	p.done.Add(1)
	c.busy = false
	p.outgoing--
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	if closeConn {
		p.close(c)
		p.redial(c, now)
		return
	}
	p.idle = append(p.idle, c)
}
