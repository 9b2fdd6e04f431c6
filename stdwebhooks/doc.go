// Package stdwebhooks signs and verifies Standard Webhooks
// (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp and webhook-signature over id.timestamp.body, with
// "v1,<base64 HMAC-SHA256>" entries for whsec_ secrets and
// "v1a,<base64 ed25519>" entries for whpk_ public keys.
//
// Dropwire uses it on every side of a Standard Webhook: capture-SDK
// ingest (sdkhooks), claims forwarded to fulfillment nodes and their
// callbacks (fulfillment), and node integrators (nodekit). It is public
// so that code outside this module, such as a node's, can import it; it
// imports nothing of Dropwire.
//
// A [Verifier] checks the signature over the raw body bytes before
// anything is parsed, compares in constant time, skips unknown versions,
// and fails closed. Errors wrap the sentinels in errors.go and never
// contain a secret.
//
// Concurrency: a [Verifier] and a [Signer] are immutable once built and
// safe for concurrent use by any number of goroutines. The package starts
// no goroutine.
package stdwebhooks
