package stdwebhooks

import "errors"

// Sentinel errors. Verify and the constructors wrap one of them (with %w)
// and a detail that names the offending header or entry, never a secret;
// check them with errors.Is.
var (
	// ErrMissingSignature means webhook-id, webhook-timestamp or
	// webhook-signature is absent or empty.
	ErrMissingSignature = errors.New("missing signature")

	// ErrBadSignature means no entry of webhook-signature verified: a
	// wrong or truncated signature, a tampered body or id, unknown
	// versions only, or a webhook-timestamp that is not canonical integer
	// seconds.
	ErrBadSignature = errors.New("bad signature")

	// ErrStaleTimestamp means the signature verified but webhook-timestamp
	// lies outside the tolerance, in the past or in the future.
	ErrStaleTimestamp = errors.New("stale timestamp")

	// ErrMalformedEvent means a signed webhook-id is not a usable id (1 to
	// 128 bytes of printable ASCII without spaces).
	ErrMalformedEvent = errors.New("malformed event")

	// ErrInvalidKey means a secret or public key is unusable, or none was
	// given. The constructors return it; Verify never does.
	ErrInvalidKey = errors.New("invalid signing key configuration")
)
