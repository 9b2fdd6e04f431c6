package fulfillment

import "errors"

var (
	// ErrUnknownNode is returned for a node id that is not configured.
	ErrUnknownNode = errors.New("fulfillment: unknown node")
	// ErrUnknownClaim is returned when no claim matches a callback (or the
	// claim belongs to another node).
	ErrUnknownClaim = errors.New("fulfillment: unknown claim")
	// ErrIllegalTransition is returned for a state change the claim's
	// current state does not allow; the claim is left as it was.
	ErrIllegalTransition = errors.New("fulfillment: illegal transition")
	// ErrUnknownEvent is returned for a callback type this package does
	// not know.
	ErrUnknownEvent = errors.New("fulfillment: unknown event type")
	// ErrMalformedEvent is returned for a callback body that is not the
	// documented JSON.
	ErrMalformedEvent = errors.New("fulfillment: malformed event")
	// ErrNotFound is returned for a dead-letter id that does not exist.
	ErrNotFound = errors.New("fulfillment: not found")
	// ErrClaimSettled is returned for a dead letter whose claim has
	// settled (picked up, rejected, failed or compensated, or a
	// compensation on its way): sending it again could give the viewer the
	// reward and the compensation both.
	ErrClaimSettled = errors.New("fulfillment: claim settled")
	// ErrNodeDisabled is the delivery outcome of a node that answered 410
	// Gone: nothing more is sent to it.
	ErrNodeDisabled = errors.New("fulfillment: node disabled")
)

// IllegalTransitionError names the state that refused a transition. It
// matches ErrIllegalTransition.
type IllegalTransitionError struct{ From, To string }

func (e *IllegalTransitionError) Error() string {
	return "fulfillment: illegal transition " + e.From + " → " + e.To
}

// Is makes errors.Is(err, ErrIllegalTransition) hold.
func (e *IllegalTransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// FieldError is a callback whose field is missing or of the wrong type; the
// problem names Field. It matches ErrMalformedEvent.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string {
	return ErrMalformedEvent.Error() + ": \"" + e.Field + "\" " + e.Msg
}

// Is makes errors.Is(err, ErrMalformedEvent) hold.
func (e *FieldError) Is(target error) bool { return target == ErrMalformedEvent }
