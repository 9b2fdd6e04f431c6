package sdkhooks

import (
	"errors"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// Sentinel errors. Verify and DecodeEnvelope wrap one of them (with %w) and
// a detail that names the offending header, claim or field but never a
// secret; check them with errors.Is and turn them into problem codes with
// Code.
var (
	// ErrMissingSignature means a header the scheme requires (signature,
	// id, timestamp, Authorization) is absent or empty. Problem code
	// "missing_signature" (401).
	ErrMissingSignature = stdwebhooks.ErrMissingSignature

	// ErrBadSignature means no signature or token verified: a wrong or
	// truncated signature, a tampered body, an unknown version only, an
	// algorithm the source does not allow, an unknown key id, a
	// non-canonical timestamp header or a token without the claims the
	// scheme requires. Problem code "bad_signature" (401).
	ErrBadSignature = stdwebhooks.ErrBadSignature

	// ErrStaleTimestamp means the signature verified but its timestamp (or
	// the token's exp, nbf or iat) lies outside the source's tolerance, in
	// the past or in the future. Problem code "stale_timestamp" (401).
	ErrStaleTimestamp = stdwebhooks.ErrStaleTimestamp

	// ErrMalformedEvent means the signed body or an id is not what the
	// capture event envelope (or the Twitch payload) requires; the message
	// names the field. Problem code "malformed_event" (400).
	ErrMalformedEvent = stdwebhooks.ErrMalformedEvent

	// ErrPayloadTooLarge means the body is over the limit. This package
	// does not read bodies; the HTTP handler that enforces the limit
	// returns it so that the code stays in one place. Problem code
	// "payload_too_large" (413).
	ErrPayloadTooLarge = errors.New("payload too large")

	// ErrUnknownScheme means a source names a signature scheme this
	// package does not implement. It is a configuration error: NewVerifier
	// returns it, Verify never does.
	ErrUnknownScheme = errors.New("unknown signature scheme")

	// ErrInvalidKey means a configured secret, public key, JWKS or
	// algorithm list is unusable. It is a configuration error returned by
	// the constructors; the message names the entry by index, never by
	// value.
	ErrInvalidKey = stdwebhooks.ErrInvalidKey
)

// Problem codes returned by Code. They are part of the HTTP contract.
const (
	CodeMissingSignature = "missing_signature"
	CodeBadSignature     = "bad_signature"
	CodeStaleTimestamp   = "stale_timestamp"
	CodeMalformedEvent   = "malformed_event"
	CodePayloadTooLarge  = "payload_too_large"
	CodeInternal         = "internal"
)

// Code returns the stable problem code for err: "" for nil, one of the Code…
// constants for an error that wraps a sentinel of this package that crosses
// the wire, and CodeInternal for anything else (configuration errors
// included).
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingSignature):
		return CodeMissingSignature
	case errors.Is(err, ErrBadSignature):
		return CodeBadSignature
	case errors.Is(err, ErrStaleTimestamp):
		return CodeStaleTimestamp
	case errors.Is(err, ErrMalformedEvent):
		return CodeMalformedEvent
	case errors.Is(err, ErrPayloadTooLarge):
		return CodePayloadTooLarge
	default:
		return CodeInternal
	}
}
