package main

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// serveDebug serves Go's profiling endpoints on their own listener, away
// from the public mux, for operators sizing or tuning a deployment.
func serveDebug(addr string, log zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("profiling endpoints listening")
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
