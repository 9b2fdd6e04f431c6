//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
)

// Elsewhere than Linux every connection has its goroutine.
const polled = false

func runPolled(context.Context, Config, *atomic.Int64, *atomic.Int64) (*worker, error) {
	return nil, errors.New("loadgen: no poller on this system")
}
