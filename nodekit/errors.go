package nodekit

import (
	"errors"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// Errors of a claim webhook, from Receiver.Verify and Receiver.Read. The
// signature errors are stdwebhooks' own values.
var (
	// ErrMissingSignature means a Standard Webhooks header is missing.
	ErrMissingSignature = stdwebhooks.ErrMissingSignature
	// ErrBadSignature means the signature does not verify with the node's
	// secret: not from Dropwire, or the body was changed.
	ErrBadSignature = stdwebhooks.ErrBadSignature
	// ErrStaleTimestamp means the signature verified but webhook-timestamp
	// is outside the tolerance: a replay, or a clock far off.
	ErrStaleTimestamp = stdwebhooks.ErrStaleTimestamp
	// ErrMalformedEvent means the signed body (or webhook-id) is not a
	// claim event; the message names the field.
	ErrMalformedEvent = stdwebhooks.ErrMalformedEvent
	// ErrBodyTooLarge means the body is over ReceiverConfig.MaxBody.
	ErrBodyTooLarge = errors.New("nodekit: body too large")
	// ErrInvalidConfig means a constructor was given an unusable secret,
	// URL or setting; the message names which, never a secret's value.
	ErrInvalidConfig = errors.New("nodekit: invalid configuration")
)

// Errors of a receipt, from Receipts.Verify.
var (
	// ErrBadReceipt means the receipt is not a well-formed ES256 JWT whose
	// signature verifies with a published key.
	ErrBadReceipt = errors.New("nodekit: bad receipt")
	// ErrUnknownKey means the receipt names a key id that the JWKS does
	// not hold, even after fetching it again (or a fetch was not allowed
	// yet: see ReceiptsConfig.MinRefresh). It matches ErrBadReceipt.
	ErrUnknownKey = &receiptError{"nodekit: receipt signed with an unknown key"}
	// ErrReceiptExpired means the receipt verified but has expired. It
	// matches ErrBadReceipt.
	ErrReceiptExpired = &receiptError{"nodekit: receipt expired"}
	// ErrOtherNode means the receipt verified but is for another node than
	// ReceiptsConfig.Node. It matches ErrBadReceipt.
	ErrOtherNode = &receiptError{"nodekit: receipt for another node"}
	// ErrJWKS means the key set could not be fetched or read.
	ErrJWKS = errors.New("nodekit: JWKS unavailable")
)

// receiptError is a refusal of a receipt that is also an ErrBadReceipt.
type receiptError struct{ msg string }

func (e *receiptError) Error() string        { return e.msg }
func (e *receiptError) Is(target error) bool { return target == ErrBadReceipt }

// Errors of a callback, from Client.Send.
var (
	// ErrRefused means Dropwire refused the callback for good (a 4xx other
	// than 408 and 429): sending it again changes nothing. The
	// *CallbackError says why.
	ErrRefused = errors.New("nodekit: callback refused")
	// ErrUnavailable means the callback may succeed later: Dropwire could
	// not be reached, or answered 408, 429 or 5xx. SendRetry retries it.
	ErrUnavailable = errors.New("nodekit: Dropwire unavailable")
)

// CallbackError is Dropwire's answer to a callback that was not accepted:
// the status and, from its problem details, the stable code ("unknown_claim",
// "illegal_transition", ...) and detail. It matches ErrRefused or
// ErrUnavailable.
type CallbackError struct {
	Status int
	Code   string
	Detail string
	// State is the claim's state, for an illegal_transition.
	State string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
}

func (e *CallbackError) Error() string {
	s := "nodekit: callback answered " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is matches ErrUnavailable for answers worth retrying, ErrRefused for
// the others.
func (e *CallbackError) Is(target error) bool {
	retry := e.Status == 408 || e.Status == 429 || e.Status >= 500
	return (target == ErrUnavailable && retry) || (target == ErrRefused && !retry)
}
