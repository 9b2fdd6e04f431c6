// Package nodekit is for the developers of fulfillment nodes: the shop,
// pop-up or locker system that receives Dropwire's claims and reports
// their pickup.
//
// A node does three things, and this package has one type for each:
//
//   - [Receiver] verifies an incoming claim webhook (Standard Webhooks,
//     signed with the node's secret; timestamp tolerance; a body limit)
//     before it parses the body into an [Event]. Its [Receiver.Handler]
//     is a ready http.Handler.
//   - [Receipts] verifies the receipt a viewer shows (an ES256 JWT) offline
//     against Dropwire's /.well-known/jwks.json, fetched over HTTP, cached,
//     and fetched again when a receipt names a key id the cache lacks (key
//     rotation), at most once per MinRefresh.
//   - [Client] signs a [Callback] (claim.accepted, claim.ready, ...) with the
//     node's secret and posts it to POST /v1/fulfillment/{node}/events.
//     Retrying is the caller's choice: [Client.Send] tries once,
//     [Client.SendRetry] retries what may succeed later, with the same
//     webhook-id, so Dropwire applies the callback once.
//
// The package imports nothing of Dropwire but [stdwebhooks], so a node's
// module can use it without the server's dependencies.
//
// Concurrency: a Receiver, a Receipts and a Client are safe for concurrent
// use by any number of goroutines once built. None of them starts a
// goroutine: a JWKS fetch runs on the goroutine that needs it, one at a
// time (the others wait for its result rather than fetching too), under
// that caller's context. Errors wrap the sentinels in errors.go; check them
// with errors.Is.
package nodekit
