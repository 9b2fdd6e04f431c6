package store

import (
	"context"
	"errors"
	"testing"
)

// replyErr is an error reply as go-redis reports one.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

// What a cluster answers while it reshards or fails over is an outage
// (503 store_unavailable upstream), not a bug; keys of several slots are
// a bug, not an outage.
func TestRedisErrClusterReplies(t *testing.T) {
	ctx := context.Background()
	for _, msg := range []string{
		"CLUSTERDOWN The cluster is down",
		"CLUSTERDOWN Hash slot not served",
		"TRYAGAIN Multiple keys request during rehashing of slot",
		"MOVED 3999 127.0.0.1:7102",
		"ASK 3999 127.0.0.1:7102",
		"MASTERDOWN Link with MASTER is down",
		"READONLY You can't write against a read only replica.",
	} {
		if err := redisErr(ctx, replyErr(msg)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", msg, err)
		}
		if err := scriptErr(ctx, "claim", replyErr(msg)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("script, %s: %v, want ErrUnavailable", msg, err)
		}
	}
	const cross = "CROSSSLOT Keys in request don't hash to the same slot"
	for _, err := range []error{redisErr(ctx, replyErr(cross)), scriptErr(ctx, "claim", replyErr(cross))} {
		var se *ScriptError
		if !errors.Is(err, ErrCrossSlot) || errors.Is(err, ErrUnavailable) || errors.As(err, &se) {
			t.Errorf("CROSSSLOT: %v, want ErrCrossSlot only", err)
		}
	}
	// A domain outcome that merely starts like a word of those is still
	// the script's answer.
	var se *ScriptError
	if err := scriptErr(ctx, "claim", replyErr("ASKED_TWICE")); !errors.As(err, &se) || se.Code != "ASKED_TWICE" {
		t.Errorf("ASKED_TWICE: %v, want a ScriptError", err)
	}
}
