package loadgen

import (
	"errors"
	"net"
	"runtime"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// takeFD moves a TCP socket from nc to a duplicate descriptor for a
// poller and closes nc, which leaves Go's own poller; the socket stays
// non-blocking and without Nagle.
func takeFD(nc net.Conn) (int, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("loadgen: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// closeFDs closes the connections the poller owns.
func (s *Sockets) closeFDs() {
	for _, c := range s.conns {
		if c.fd >= 0 {
			unix.Close(c.fd)
			c.fd = -1
		}
	}
}

// readPolled reads every connection on one thread over epoll.
func (s *Sockets) readPolled(onMessage func(int, []byte, time.Time)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s.tid.Store(int64(unix.Gettid()))
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.reading = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reading = false
		s.closeFDs()
	}()
	open := 0
	for i, c := range s.conns {
		if c.fd >= 0 {
			if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}); err != nil {
				return err
			}
			open++
		}
	}
	end := func(c *wsConn) {
		_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, c.fd, nil)
		unix.Close(c.fd)
		c.fd = -1
		open--
	}
	for i, c := range s.conns {
		// The first messages may have come with the handshake.
		if c.fd >= 0 && c.parse(func(m []byte, at time.Time) { onMessage(i, m, at) }, time.Now()) != nil {
			end(c)
		}
	}
	events := make([]unix.EpollEvent, min(len(s.conns), 1024))
	for open > 0 && !s.closed.Load() {
		n, err := unix.EpollWait(ep, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		for _, ev := range events[:max(n, 0)] {
			i := int(ev.Fd)
			c := s.conns[i]
			if c.fd < 0 {
				continue
			}
			if len(c.buf) == cap(c.buf) {
				c.buf = slices.Grow(c.buf, cap(c.buf))
			}
			k, err := unix.Read(c.fd, c.buf[len(c.buf):cap(c.buf)])
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			if err != nil || k == 0 {
				end(c)
				continue
			}
			c.buf = c.buf[:len(c.buf)+k]
			// Level-triggered: what this read left is reported again.
			if c.parse(func(m []byte, at time.Time) { onMessage(i, m, at) }, time.Now()) != nil {
				end(c)
			}
		}
	}
	return nil
}

// writeFD writes all of b to a non-blocking socket.
func writeFD(fd int, b []byte) error {
	for len(b) > 0 {
		k, err := unix.Write(fd, b)
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// ReaderCPU returns the processor time the reader's thread has used, so
// that a benchmark whose readers share its process can leave them out of
// the process's time; false before Read runs or off the poller.
func (s *Sockets) ReaderCPU() (time.Duration, bool) {
	tid := s.tid.Load()
	if tid == 0 {
		return 0, false
	}
	// The thread's CPU-time clock (clock_getcpuclockid(3) for a thread:
	// CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED with the thread id, inverted).
	clock := int32(^uint32(tid)<<3 | 6)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// ProcessCPU returns the processor time this process has used, all
// threads together.
func ProcessCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
