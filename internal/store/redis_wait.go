package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replicated scripts (see Script.Replicated) are answered only once
// RedisConfig.WaitReplicas replicas of their master hold their writes.
// Redis's WAIT counts the replicas that acknowledged every write the
// connection it is sent on has made, so the scripts, then a fence, then
// WAIT go out as one pipeline on one connection to the master of their
// slot. The fence is a small write (SET of a key in the scripts' slot):
// a script that wrote nothing (a retry answered with the claim it made
// before, on another connection) still waits for everything the master
// had written before it, that earlier claim included.

// fenceTTL is how long a fence key lives: one per drop, rewritten by
// every pipeline of its replicated scripts.
const fenceTTL = time.Minute

// checkWait checks WaitTimeout against the read timeout the WAIT's reply
// is read within.
func (r *Redis) checkWait(read time.Duration) error {
	if r.waitN > 0 && read > 0 && r.waitFor > read/2 {
		return fmt.Errorf("%w: the replica wait timeout (%s) must be at most half the read timeout (%s)", ErrInvalid, r.waitFor, read)
	}
	return nil
}

// WaitReplicas returns how many replicas must hold a Replicated script's
// writes before it is answered (0: none).
func (r *Redis) WaitReplicas() int { return r.waitN }

// runReplicated runs calls of Replicated scripts, grouped by the master of
// their slot, each group as EVALSHA…, the fence, WAIT on one connection,
// and sets each call's result. A call is answered with the script's reply
// only when WAIT reports enough replicas; else with ErrNotReplicated.
func (r *Redis) runReplicated(ctx context.Context, calls []*batchCall) {
	if r.cluster == nil {
		r.replicateOn(ctx, r.single, calls)
		return
	}
	groups := make(map[*redis.Client][]*batchCall)
	for _, c := range calls {
		if len(c.keys) == 0 {
			c.err = fmt.Errorf("%w: a replicated script needs a key to find its master", ErrInvalid)
			continue
		}
		node, err := r.cluster.MasterForKey(ctx, c.keys[0])
		if err != nil {
			c.err = err
			r.cluster.ReloadState(ctx)
			continue
		}
		groups[node] = append(groups[node], c)
	}
	if len(groups) == 1 {
		for node, g := range groups {
			r.replicateOn(ctx, node, g)
		}
		return
	}
	var wg sync.WaitGroup
	for node, g := range groups {
		wg.Go(func() { r.replicateOn(ctx, node, g) })
	}
	wg.Wait()
}

// replicateOn runs calls on node, a master, as one pipeline ending in the
// fence and WAIT. Scripts the master does not know yet go again as EVAL,
// with their own fence and WAIT.
func (r *Redis) replicateOn(ctx context.Context, node *redis.Client, calls []*batchCall) {
	cmds := r.sendReplicated(ctx, node, calls, func(pipe redis.Pipeliner, c *batchCall) *redis.Cmd {
		return pipe.EvalSha(ctx, c.sha, c.keys, c.args...)
	})
	var again []*batchCall
	for i, c := range calls {
		if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) > 0 {
		r.sendReplicated(ctx, node, again, func(pipe redis.Pipeliner, c *batchCall) *redis.Cmd {
			return pipe.Eval(ctx, c.lua, c.keys, c.args...)
		})
	}
}

// sendReplicated sends the calls through send, then the fence and WAIT,
// as one pipeline on node, and sets each call's result. It returns the
// scripts' commands, for the caller to look for NOSCRIPT.
func (r *Redis) sendReplicated(ctx context.Context, node *redis.Client, calls []*batchCall,
	send func(redis.Pipeliner, *batchCall) *redis.Cmd) []*redis.Cmd {
	pipe := node.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = send(pipe, c)
	}
	pipe.Set(ctx, r.fenceKey(calls[0].keys[0]), "1", fenceTTL)
	// Pipeliner has no Wait: the command as Client.Wait builds it.
	wait := redis.NewIntCmd(ctx, "wait", r.waitN, r.waitFor.Milliseconds())
	_ = pipe.Process(ctx, wait)
	_, _ = pipe.Exec(ctx) // each command carries its own result
	acked, werr := wait.Result()
	if werr == nil && acked < int64(r.waitN) {
		werr = fmt.Errorf("%w: %w: %d of %d replicas acknowledged within %s", ErrUnavailable, ErrNotReplicated, acked, r.waitN, r.waitFor)
	}
	for i, c := range calls {
		c.val, c.err = cmds[i].Result()
		if redis.HasErrorPrefix(c.err, "NOSCRIPT") {
			continue // sent again as EVAL
		}
		if werr != nil && c.err == nil || errors.Is(werr, ErrNotReplicated) {
			// Too few replicas, or WAIT's connection broke: whatever the
			// script answered, it cannot be acknowledged.
			c.val, c.err = nil, werr
		}
	}
	if r.cluster != nil && (werr != nil && !errors.Is(werr, ErrNotReplicated) || redirected(cmds)) {
		// The master went away or the slot moved: learn the cluster's
		// new layout before the next call.
		r.cluster.ReloadState(ctx)
	}
	return cmds
}

// redirected reports whether a command was answered MOVED or ASK: the
// store's view of the cluster is out of date.
func redirected(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && (redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK")) {
			return true
		}
	}
	return false
}

// fenceKey returns the fence key of the slot of full, a full key: the
// prefix, then "fence:", then full's hash tag (or full itself, when it has
// none) as the hash tag, so the fence lives in full's slot.
func (r *Redis) fenceKey(full string) string {
	tag := full
	if i := strings.IndexByte(full, '{'); i >= 0 {
		if j := strings.IndexByte(full[i+1:], '}'); j > 0 {
			tag = full[i+1 : i+1+j]
		}
	}
	return r.prefix + "fence:{" + tag + "}"
}
