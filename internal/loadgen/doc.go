// Package loadgen is the engine of `dropwire bench`: a light HTTP/1.1
// client that replays pre-built requests over keep-alive connections, at a
// fixed rate (open loop: a request that has to wait for a free connection
// is measured from its scheduled time, so a stalled server is not hidden)
// or closed loop at a fixed concurrency, with a live progress line and a
// latency report.
//
// It is deliberately light so that a load generator on the same 2-core
// machine as the server leaves the cores to the server: requests are
// serialised once before the run, and responses are parsed only as far as
// the status line and Content-Length. On Linux one thread serves every
// connection over epoll, as wrk does, with a timerfd pacing the open loop;
// elsewhere each connection has its goroutine.
//
// Sockets does the same for WebSocket clients that only listen, such as
// overlays: many connections, one reader.
package loadgen
