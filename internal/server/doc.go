// Package server is Dropwire's HTTP front: the standard library mux behind
// request ids, access logs, metrics by route pattern and panic recovery; the
// operator endpoints /healthz, /readyz and /metrics; and the one place where
// everything the process started is stopped on shutdown.
//
// Lifecycle: New, then Handle and OnShutdown while wiring, then Serve (which
// blocks). Shutdown stops accepting, lets in-flight requests finish, then
// runs the registered shutdown functions in reverse order of registration.
// Shutdown is idempotent and safe to call from any goroutine.
package server
