package sdkhooks

import "errors"

// Sentinel errors of the WebRTC data-channel ingest. Errors returned by the
// token functions and the signaling handlers wrap one of them with a detail
// that never contains a token or a secret; RTCCode maps them to the stable
// problem codes of the HTTP contract.
var (
	// ErrMissingToken means the signaling request has no bearer token.
	// Problem code "missing_token" (401).
	ErrMissingToken = errors.New("missing bearer token")

	// ErrBadToken means the token is not a compact JWT, its signature does
	// not verify with any of the source's secrets or keys, its algorithm is
	// not allowed, or its claims are wrong (sub is not the source, exp
	// absent). Problem code "bad_token" (401).
	ErrBadToken = errors.New("bad token")

	// ErrExpiredToken means the token verified but its exp has passed (or
	// its nbf is still ahead). Problem code "expired_token" (401).
	ErrExpiredToken = errors.New("expired token")

	// ErrNoTokenKey means MintToken was asked for a source without an
	// HS256 secret: tokens signed with a private key are minted by the
	// vendor, not by Dropwire. A configuration error.
	ErrNoTokenKey = errors.New("source has no secret to sign tokens with")

	// ErrBadSDP means the offer does not parse, is not an offer, or has no
	// data channel (m=application … webrtc-datachannel). Problem code
	// "bad_sdp" (400).
	ErrBadSDP = errors.New("bad SDP offer")

	// ErrPeerCap means the per-source or the global cap of open peers is
	// reached. Problem code "peer_cap_reached" (503).
	ErrPeerCap = errors.New("peer cap reached")

	// ErrRTCClosed means the ingest is shutting down: no new peer is
	// accepted. Problem code "shutting_down" (503).
	ErrRTCClosed = errors.New("data-channel ingest is shutting down")
)

// Problem codes of the data-channel signaling, besides the ones Code
// returns. They are part of the HTTP contract.
const (
	CodeMissingToken         = "missing_token"
	CodeBadToken             = "bad_token"
	CodeExpiredToken         = "expired_token"
	CodeBadSDP               = "bad_sdp"
	CodePeerCap              = "peer_cap_reached"
	CodeShuttingDown         = "shutting_down"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeUnknownSource        = "unknown_source"
	CodeUnknownSession       = "unknown_session"
	CodeWebRTCDisabled       = "webrtc_disabled"
	CodeMethodNotAllowed     = "method_not_allowed"
)

// RTCCode returns the problem code for an error of the data-channel
// ingest: one of the Code… constants above, else what Code returns.
func RTCCode(err error) string {
	switch {
	case errors.Is(err, ErrMissingToken):
		return CodeMissingToken
	case errors.Is(err, ErrBadToken):
		return CodeBadToken
	case errors.Is(err, ErrExpiredToken):
		return CodeExpiredToken
	case errors.Is(err, ErrBadSDP):
		return CodeBadSDP
	case errors.Is(err, ErrPeerCap):
		return CodePeerCap
	case errors.Is(err, ErrRTCClosed):
		return CodeShuttingDown
	}
	return Code(err)
}
