package main

import (
	"context"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// serveOps serves h on its own listener at addr, away from the public mux:
// Go's profiles for --debug-listen, metrics and profiles for
// metrics_listen. what names it in the log.
func serveOps(addr, what string, h http.Handler, log zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg(what + " listening")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// serverGOGC is the garbage collector target of serve when GOGC
// is not set. A webhook or a claim allocates a few kilobytes that die with
// the request while the live heap stays a few megabytes, so Go's default
// of 100 collects many times a second under load; 200 trades some
// megabytes of heap for about a fifth more requests per core (400 gives
// no more, and a third more resident memory per idle overlay).
const serverGOGC = 200

// tuneGC applies serverGOGC unless the operator chose GOGC.
func tuneGC(env *environ) {
	if _, set := env.lookupEnv("GOGC"); !set {
		debug.SetGCPercent(serverGOGC)
	}
}
