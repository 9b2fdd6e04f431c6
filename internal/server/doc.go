// Package server is Dropwire's HTTP front: the standard library mux behind
// request ids, access logs, metrics by route pattern and panic recovery; the
// operator endpoints /healthz, /readyz and /metrics; and the one place where
// everything the process started is stopped on shutdown.
//
// The middleware resolves each request's client address once (the TCP
// peer, or behind Config.TrustedProxies the address they forwarded; see
// ClientIP), and bounds the arrival of a request body by
// Config.ReadTimeout, answering 408 for a body that is too slow.
//
// Lifecycle: New, then Handle and OnShutdown while wiring, then Serve (which
// blocks). Shutdown stops accepting, lets in-flight requests finish, then
// runs the registered shutdown functions in reverse order of registration.
// Shutdown is idempotent and safe to call from any goroutine.
package server
