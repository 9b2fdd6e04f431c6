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

// ReaderCPU is not measured off Linux.
func (s *Sockets) ReaderCPU() (time.Duration, bool) { return 0, false }

// ProcessCPU is not measured off Linux.
func ProcessCPU() (time.Duration, bool) { return 0, false }
