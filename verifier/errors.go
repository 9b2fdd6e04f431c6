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

// Claim errors.
var (
	// ErrUnknownCode is returned for a claim code no open drop has shown.
	ErrUnknownCode = errors.New("verifier: unknown claim code")
	// ErrCodeExpired is returned for a claim code rotated out more than the
	// drop's scan_grace ago.
	ErrCodeExpired = errors.New("verifier: claim code expired")
	// ErrDropClosed is returned for a claim on a drop that has closed or
	// is not open.
	ErrDropClosed = errors.New("verifier: drop closed")
	// ErrSoldOut is returned for a claim on a drop (or the chosen node)
	// without stock left.
	ErrSoldOut = errors.New("verifier: sold out")
	// ErrAlreadyClaimed is returned when the viewer has claimed per_viewer
	// times already; see AlreadyClaimedError for the claim.
	ErrAlreadyClaimed = errors.New("verifier: already claimed")
	// ErrInvalidClaim is returned for a claim request missing what it
	// needs or naming a node the drop has no stock at.
	ErrInvalidClaim = errors.New("verifier: invalid claim request")
	// ErrUnknownClaim is returned for a claim id that does not exist.
	ErrUnknownClaim = errors.New("verifier: unknown claim")
	// ErrBadReceipt is returned for a receipt that does not verify or has
	// expired.
	ErrBadReceipt = errors.New("verifier: bad receipt")
	// ErrReceiptExpired is returned, with ErrBadReceipt, for a receipt
	// that verifies but has expired.
	ErrReceiptExpired = errors.New("verifier: receipt expired")
	// ErrBadViewer is returned for a viewer identity that is malformed or
	// does not verify.
	ErrBadViewer = errors.New("verifier: bad viewer identity")
	// ErrDeviceRequired is returned for a claim on a drop that identifies
	// viewers by device or email, sent without the signed device cookie
	// that the claim page sets.
	ErrDeviceRequired = errors.New("verifier: device cookie required")
	// ErrProofRequired is returned for a claim sent without the proof of
	// work that claim_pow_bits asks for; ErrBadProof for one that does not
	// verify (wrong nonce, another device or drop, or too old).
	ErrProofRequired = errors.New("verifier: proof of work required")
	ErrBadProof      = errors.New("verifier: proof of work does not verify")
	// ErrRegionClosed is returned for a claim for stock at a node whose
	// campaign region has no window open (or a pop-up node that is not
	// open); see RegionClosedError for the next window.
	ErrRegionClosed = errors.New("verifier: region closed")
)

// AlreadyClaimedError names the viewer's existing claim.
type AlreadyClaimedError struct{ ClaimID string }

func (e *AlreadyClaimedError) Error() string { return ErrAlreadyClaimed.Error() + ": " + e.ClaimID }

// Unwrap makes errors.Is(err, ErrAlreadyClaimed) hold.
func (e *AlreadyClaimedError) Unwrap() error { return ErrAlreadyClaimed }

// Campaign log errors.
var (
	// ErrBadSale is returned for a sale with a malformed amount, currency
	// or id.
	ErrBadSale = errors.New("verifier: bad sale")
	// ErrNoCampaign is returned for a sale of a claim whose drop is in no
	// campaign.
	ErrNoCampaign = errors.New("verifier: the claim's drop is in no campaign")
	// ErrSaleOutside is returned for a sale dated outside its campaign.
	ErrSaleOutside = errors.New("verifier: sale outside the campaign")
	// ErrSaleDuplicate is returned for a sale id already recorded.
	ErrSaleDuplicate = errors.New("verifier: sale already recorded")
)
