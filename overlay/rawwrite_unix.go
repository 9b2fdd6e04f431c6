//go:build unix

package overlay

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns the socket under nc for writeNow, nil when there is none
// (a TLS connection, say).
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNow writes what the socket takes of b without waiting: one
// non-blocking write. It returns how much was written; a full send
// buffer is not an error.
func writeNow(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if !errors.Is(werr, syscall.EINTR) {
				break
			}
		}
		return true // never wait for the socket: the writer goroutine does
	})
	if errors.Is(werr, syscall.EAGAIN) {
		n, werr = 0, nil
	}
	if err == nil {
		err = werr
	}
	return max(n, 0), err
}
