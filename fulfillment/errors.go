package fulfillment

import (
	"errors"
	"time"

	"github.com/dropwire/dropwire/verifier"
)

var (
	// ErrUnknownNode is returned for a node id that is not configured.
	ErrUnknownNode = errors.New("fulfillment: unknown node")
	// ErrUnknownClaim is returned when no claim matches a callback (or the
	// claim belongs to another node).
	ErrUnknownClaim = errors.New("fulfillment: unknown claim")
	// ErrNoSales is returned for a claim.sale on a service without a
	// campaign log.
	ErrNoSales = errors.New("fulfillment: sales are not recorded")
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

// Pickup console errors.
var (
	// ErrNotHosted is returned for a console of a node with a url: it
	// takes its claims over HTTP, not in a console.
	ErrNotHosted = errors.New("fulfillment: node is not hosted")
	// ErrBadLookup is returned for a console lookup with neither a usable
	// pickup code nor a receipt (or a scanned code that is neither).
	ErrBadLookup = errors.New("fulfillment: nothing to look a claim up by")
	// ErrNoQR is returned for a camera frame with no readable QR code.
	ErrNoQR = errors.New("fulfillment: no QR code in the picture")
	// ErrWrongNode is returned for a receipt of another node's claim; see
	// WrongNodeError.
	ErrWrongNode = errors.New("fulfillment: receipt of another node")
	// ErrPickedUp is returned for a lookup of a claim picked up already.
	ErrPickedUp = errors.New("fulfillment: claim picked up already")
	// ErrClaimClosed is returned for a lookup of a claim that failed,
	// was rejected or compensated: there is nothing to pick up.
	ErrClaimClosed = errors.New("fulfillment: claim can no longer be picked up")
)

// UnknownCodeError is a pickup code no claim of the node has. It matches
// ErrUnknownClaim.
type UnknownCodeError struct{ Code string }

func (e *UnknownCodeError) Error() string { return ErrUnknownClaim.Error() + ": pickup code " + e.Code }

// Is makes errors.Is(err, ErrUnknownClaim) hold.
func (e *UnknownCodeError) Is(target error) bool { return target == ErrUnknownClaim }

// WrongNodeError names the node a receipt is for. It matches ErrWrongNode.
type WrongNodeError struct{ Node, Name string }

func (e *WrongNodeError) Error() string { return ErrWrongNode.Error() + " " + e.Node }

// Is makes errors.Is(err, ErrWrongNode) hold.
func (e *WrongNodeError) Is(target error) bool { return target == ErrWrongNode }

// ReceiptExpiredError says when a receipt expired. It matches
// verifier.ErrReceiptExpired and verifier.ErrBadReceipt.
type ReceiptExpiredError struct{ At time.Time }

func (e *ReceiptExpiredError) Error() string {
	return verifier.ErrReceiptExpired.Error() + " at " + e.At.Format(time.RFC3339)
}

// Is makes errors.Is hold for verifier.ErrReceiptExpired and
// verifier.ErrBadReceipt.
func (e *ReceiptExpiredError) Is(target error) bool {
	return target == verifier.ErrReceiptExpired || target == verifier.ErrBadReceipt
}

// ClaimClosedError is a looked-up claim that cannot be picked up: picked
// up already (it matches ErrPickedUp) or failed (ErrClaimClosed).
type ClaimClosedError struct{ Claim ConsoleClaim }

func (e *ClaimClosedError) Error() string {
	if e.Claim.Status == StatusPickedUp {
		return ErrPickedUp.Error() + ": " + e.Claim.ID
	}
	return ErrClaimClosed.Error() + ": " + e.Claim.ID + " is " + e.Claim.State
}

// Is makes errors.Is hold for ErrPickedUp or ErrClaimClosed.
func (e *ClaimClosedError) Is(target error) bool {
	if e.Claim.Status == StatusPickedUp {
		return target == ErrPickedUp
	}
	return target == ErrClaimClosed
}

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
