package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the scripts one pipeline carries.
const maxBatch = 128

// batcher coalesces concurrent script runs into pipelines. Alone, a call
// goes out at once; under load one write and one read carry many scripts.
// On a small machine the system calls per round trip, not Redis, bound
// throughput, so this is what lets one replica keep up with a burst.
type batcher struct {
	c     *redis.Client
	calls chan *batchCall
	quit  chan struct{}
	wg    sync.WaitGroup
}

type batchCall struct {
	ctx  context.Context
	sha  string
	lua  string
	keys []string
	args []any
	done chan struct{}
	val  any
	err  error
}

// newBatcher starts n pipeline workers; at most n pipelines are in flight.
func newBatcher(c *redis.Client, n int) *batcher {
	b := &batcher{c: c, calls: make(chan *batchCall, n*maxBatch), quit: make(chan struct{})}
	b.wg.Add(n)
	for range n {
		go b.work()
	}
	return b
}

// close stops the workers and waits for them; calls still queued fail
// with ErrClosed.
func (b *batcher) close() {
	close(b.quit)
	b.wg.Wait()
	for {
		select {
		case c := <-b.calls:
			c.err = ErrClosed
			close(c.done)
		default:
			return
		}
	}
}

// run queues one EVALSHA (falling back to EVAL) and waits for its reply.
func (b *batcher) run(ctx context.Context, sha, lua string, keys []string, args []any) (any, error) {
	c := &batchCall{ctx: ctx, sha: sha, lua: lua, keys: keys, args: args, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-b.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.quit:
		return nil, ErrClosed
	}
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*batchCall, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case c := <-b.calls:
			batch = append(batch, c)
		case <-b.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		b.exec(batch)
	}
}

// exec sends the live calls of batch as one pipeline. It runs under the
// first live call's context: the callers wait on their own contexts, and
// the client's timeouts bound the pipeline.
func (b *batcher) exec(batch []*batchCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.WithoutCancel(live[0].ctx)
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
	close(c.done)
}
