package verifier

import (
	"errors"
	"time"
)

var (
	// ErrUnknownDrop is returned for an event naming a drop that does not
	// exist.
	ErrUnknownDrop = errors.New("verifier: unknown drop")
	// ErrForbiddenDrop is returned for an event naming a drop of another
	// creator than the source's.
	ErrForbiddenDrop = errors.New("verifier: drop belongs to another creator")
	// ErrRateLimited is returned when the source is over its rate; see
	// RateLimitError for when to retry.
	ErrRateLimited = errors.New("verifier: rate limited")
	// ErrInvalidEvent is returned for an event missing what its type needs.
	ErrInvalidEvent = errors.New("verifier: invalid event")
)

// RateLimitError says how long the source should wait.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return ErrRateLimited.Error() }

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }
