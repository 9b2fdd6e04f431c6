package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the scripts one pipeline carries.
const maxBatch = 128

// batcher coalesces concurrent script runs into pipelines. When no
// pipeline is out, a call goes to Redis at once from the caller's own
// goroutine, with no hand-off. Calls that arrive while pipelines are out
// queue, and the next pipeline carries all of them, so under load one
// write and one read carry many scripts. On a small machine the system
// calls per round trip, not Redis, bound throughput, so this is what lets
// one replica keep up with a burst.
type batcher struct {
	c redis.UniversalClient // on a cluster, a pipeline goes to each master it touches
	n int                   // pipelines that may be out at once
	// replicated, when set, runs the calls of Replicated scripts (see
	// Redis.runReplicated) and sets their results.
	replicated func(ctx context.Context, calls []*batchCall)

	mu       sync.Mutex
	inflight int
	queue    []*batchCall
	closed   bool
	wg       sync.WaitGroup
}

type batchCall struct {
	ctx  context.Context
	sha  string
	lua  string
	keys []string
	args []any
	// replicated: answered only once enough replicas hold the writes.
	replicated bool
	done       chan struct{}
	val        any
	err        error
}

// newBatcher returns a batcher with at most n pipelines out at once.
func newBatcher(c redis.UniversalClient, n int) *batcher {
	return &batcher{c: c, n: max(n, 1)}
}

// close fails the queued calls with ErrClosed and waits for the pipelines
// that are out.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	queued := b.queue
	b.queue = nil
	b.mu.Unlock()
	for _, c := range queued {
		c.err = ErrClosed
		close(c.done)
	}
	b.wg.Wait()
}

// run sends one EVALSHA (falling back to EVAL) and waits for its reply.
func (b *batcher) run(ctx context.Context, sha, lua string, keys []string, args []any, replicated bool) (any, error) {
	c := &batchCall{ctx: ctx, sha: sha, lua: lua, keys: keys, args: args, replicated: replicated}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if b.inflight < b.n {
		// Idle: go now, on this goroutine.
		b.inflight++
		b.wg.Add(1)
		b.mu.Unlock()
		b.exec([]*batchCall{c})
		b.release()
		return c.val, c.err
	}
	c.done = make(chan struct{})
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		// The call may still be sent; its result is dropped. Scripts are
		// atomic, so the caller sees a failure and the effect is whole or
		// absent, as with any timed-out round trip.
		return nil, ctx.Err()
	}
}

// release ends a pipeline. Calls queued meanwhile leave at once as the
// next pipeline, sent by a new goroutine so the caller gets its answer.
func (b *batcher) release() {
	b.mu.Lock()
	if len(b.queue) == 0 || b.closed {
		b.inflight--
		b.mu.Unlock()
		b.wg.Done()
		return
	}
	batch := b.take()
	b.mu.Unlock()
	go b.drain(batch)
}

// take removes up to maxBatch calls from the queue; b.mu is held.
func (b *batcher) take() []*batchCall {
	n := min(len(b.queue), maxBatch)
	batch := make([]*batchCall, n)
	copy(batch, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// drain sends batch, then whatever queued meanwhile, until the queue is
// empty.
func (b *batcher) drain(batch []*batchCall) {
	for {
		b.exec(batch)
		b.mu.Lock()
		if len(b.queue) == 0 || b.closed {
			b.inflight--
			b.mu.Unlock()
			b.wg.Done()
			return
		}
		batch = b.take()
		b.mu.Unlock()
	}
}

// exec sends the live calls of batch, alone or as one pipeline, and
// releases the queued callers. It runs under the first live call's
// context without its cancellation: the callers wait on their own
// contexts, and the client's timeouts bound the round trip.
func (b *batcher) exec(batch []*batchCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			c.finish()
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.WithoutCancel(live[0].ctx)
	if len(live) == 1 && live[0].done == nil {
		ctx = live[0].ctx // a direct call: its caller is the one waiting
	}
	if b.replicated != nil {
		var rest []*batchCall
		live, rest = splitReplicated(live)
		if len(rest) > 0 {
			b.replicated(ctx, rest)
			for _, c := range rest {
				c.finish()
			}
		}
		if len(live) == 0 {
			return
		}
	}
	if len(live) == 1 {
		c := live[0]
		c.val, c.err = b.c.EvalSha(ctx, c.sha, c.keys, c.args...).Result()
		b.finish(ctx, c)
		return
	}
	pipe := b.c.Pipeline()
	cmds := make([]*redis.Cmd, len(live))
	for i, c := range live {
		cmds[i] = pipe.EvalSha(ctx, c.sha, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own result
	for i, c := range live {
		c.val, c.err = cmds[i].Result()
		b.finish(ctx, c)
	}
}

// finish loads the script when Redis does not know it yet, then releases
// the caller.
func (b *batcher) finish(ctx context.Context, c *batchCall) {
	if c.err != nil && redis.HasErrorPrefix(c.err, "NOSCRIPT") {
		c.val, c.err = b.c.Eval(ctx, c.lua, c.keys, c.args...).Result()
	}
	c.finish()
}

// finish wakes a queued caller; a direct call has no one to wake.
func (c *batchCall) finish() {
	if c.done != nil {
		close(c.done)
	}
}

// splitReplicated returns the calls of batch that are not replicated, then
// those that are.
func splitReplicated(batch []*batchCall) (plain, replicated []*batchCall) {
	for _, c := range batch {
		if c.replicated {
			replicated = append(replicated, c)
		} else {
			plain = append(plain, c)
		}
	}
	return plain, replicated
}
