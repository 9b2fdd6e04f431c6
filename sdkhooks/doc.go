// Package sdkhooks verifies the signed webhooks that capture-SDK vendors send
// to Dropwire and decodes the capture event envelope they carry.
//
// Each configured source names one signature scheme (config.Source.Scheme):
//
//   - "standard": Standard Webhooks (webhook-id, webhook-timestamp,
//     webhook-signature; v1 HMAC-SHA256 and v1a ed25519), see [Standard],
//     a source's view of package stdwebhooks, which fulfillment and nodekit
//     use too;
//   - "jwt": a body-hash JWT in the Authorization header (HS256, ES256 or
//     EdDSA, algorithms pinned per source), see [JWT];
//   - "twitch-eventsub": the Twitch EventSub webhook transport, see [Twitch].
//
// [NewVerifier] builds the right [Verifier] for a source; every scheme fails
// closed: an unknown scheme, version, algorithm or key is an error, never a
// pass. Verification always runs over the raw body bytes, before anything in
// the body is parsed, and compares secrets in constant time. Errors wrap the
// sentinels in errors.go; [Code] maps them to the stable problem codes of the
// HTTP contract. No error message ever contains a secret.
//
// This package is the pure verification layer: it reads no request body,
// enforces no size limit and stores nothing. The HTTP handler limits the body
// (answering [ErrPayloadTooLarge]), calls Verify, then [DecodeEnvelope].
//
// Concurrency: every Verifier and [Signer] is safe for concurrent use by many
// goroutines once constructed. The only mutable state is the JWKS cache of a
// jwt source with a URL, which is guarded internally; its fetches run on the
// verifying goroutine with a 5 s timeout and start no goroutine of their own.
package sdkhooks
