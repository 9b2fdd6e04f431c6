package fulfillment

import (
	"context"
	"sync"
	"sync/atomic"
)

// sweepWorkers is how many drops the SLA loop works on at once. Each drop
// of the backlog costs a store round trip every tick even when nothing is
// due, and a rush may put many drops in the backlog: on Redis, concurrent
// calls share pipelines (see the store's batcher), so a pass costs a few
// system calls per batch of drops instead of per drop, and ends sooner.
const sweepWorkers = 16

// eachDrop calls f for every drop id, sweepWorkers at a time, and returns
// when all calls have; f returning false, or ctx ending, stops the calls
// not started yet. The calls for one drop are f's: its order within a drop
// is kept.
func eachDrop(ctx context.Context, drops []string, f func(drop string) bool) {
	var (
		next atomic.Int64
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	for range min(sweepWorkers, len(drops)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(drops) {
					return
				}
				if !f(drops[i]) {
					stop.Store(true)
				}
			}
		}()
	}
	wg.Wait()
}
