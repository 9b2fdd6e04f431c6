package store

import (
	"context"
	"fmt"
)

// AppendOnly reports whether Redis logs every write to its append-only
// file (CONFIG GET appendonly). Without it, a restart reloads the last
// snapshot and loses every write since, acknowledged claims included.
//
// On a cluster it reports whether every node does, replicas included: a
// replica becomes the master on a failover.
//
// It fails where CONFIG is not allowed (managed Redis, an ACL, a renamed
// command): then the caller cannot know, and should not guess.
func (r *Redis) AppendOnly(ctx context.Context) (bool, error) {
	if r.cluster != nil {
		return r.appendOnlyCluster(ctx)
	}
	v, err := r.c.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		return false, redisErr(ctx, err)
	}
	ao, ok := v["appendonly"]
	if !ok {
		return false, fmt.Errorf("%w: CONFIG GET appendonly answered nothing", ErrNotFound)
	}
	return ao == "yes", nil
}
