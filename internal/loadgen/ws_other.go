//go:build !linux

package loadgen

import (
	"errors"
	"net"
	"time"
)

var errNoPoller = errors.New("loadgen: no poller on this system")

func takeFD(net.Conn) (int, error) { return -1, errNoPoller }

func (s *Sockets) closeFDs() {}

func (s *Sockets) readPolled(func(int, []byte, time.Time)) error { return errNoPoller }

func writeFD(int, []byte) error { return errNoPoller }
