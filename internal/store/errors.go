package store

import "errors"

var (
	// ErrNotFound is returned when a key or field does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrUnavailable wraps errors of a backing store that does not answer.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrClosed is returned by a Store or Subscription after Close.
	ErrClosed = errors.New("store: closed")
	// ErrScript is returned when a script fails or returns an error reply.
	ErrScript = errors.New("store: script failed")
	// ErrInvalid is returned for an argument no store accepts: a Limit with
	// no rate or period, a malformed stream id, a script arg of an
	// unsupported type, a script without the body the store runs.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrWrongType is returned when a key holds another kind of value than
	// the operation needs (Redis's WRONGTYPE).
	ErrWrongType = errors.New("store: wrong type")
	// ErrCrossSlot is returned when a Redis Cluster refuses a script or
	// command whose keys span hash slots (CROSSSLOT): a key built without
	// the hash tag its neighbours carry. It is a bug, not an outage.
	ErrCrossSlot = errors.New("store: keys of several cluster slots")
	// ErrNotInteger is returned when a value to increment is not an integer
	// or the result would overflow.
	ErrNotInteger = errors.New("store: not an integer or out of range")
	// ErrNotReplicated is returned, together with ErrUnavailable, when a
	// Replicated script ran but fewer replicas than RedisConfig.WaitReplicas
	// acknowledged its writes in time: its effect is on the master and may
	// or may not survive a failover, so it must not be acknowledged; a
	// retry of an idempotent request finds it.
	ErrNotReplicated = errors.New("store: not acknowledged by enough replicas")
)
