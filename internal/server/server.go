package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/problem"
)

// Config configures a Server. Zero values get the defaults noted.
type Config struct {
	Logger zerolog.Logger
	// Ready reports whether the process can serve (the store answers).
	// Nil: always ready.
	Ready func(ctx context.Context) error
	// Registry collects the process metrics. Nil: a new registry with the
	// Go and process collectors.
	Registry *prometheus.Registry
	// ReadHeaderTimeout defaults to 5 s, IdleTimeout to 120 s,
	// MaxHeaderBytes to 32 KiB.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ReadTimeout bounds how long a request body may take to arrive after
	// its headers; a slower one is answered 408 (see readtimeout.go).
	// Default 10 s; requests without a body (WebSocket upgrades) are not
	// bound by it.
	ReadTimeout time.Duration
	// ReadyTimeout bounds one readiness probe of the store; default 1 s.
	ReadyTimeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client (see ClientIP). None: the client
	// is always the TCP peer and those headers are ignored.
	TrustedProxies []netip.Prefix
	// PrivateMetrics leaves /metrics off the public mux: it is served by
	// OpsHandler on the operators' own listener.
	PrivateMetrics bool
}

// Server is the HTTP server and the owner of the process's lifecycle.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	mux     *http.ServeMux
	handler http.Handler
	http    *http.Server
	metrics *httpMetrics

	mu       sync.Mutex
	routes   []string
	closers  []closer
	shutdown bool
	done     chan struct{}
	err      error
}

type closer struct {
	name string
	fn   func(ctx context.Context) error
}

// New returns a Server with the operator endpoints registered.
func New(cfg Config) (*Server, error) {
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 32 << 10
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		metrics: m,
		done:    make(chan struct{}),
	}
	s.handler = s.middleware(s.mux)
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		// net/http answers headers over its limit before any handler, in
		// plain text. Its limit is set above ours so that the middleware
		// answers most oversized headers itself, as problem+json (see
		// headerSize); only the grossly oversized get net/http's answer.
		MaxHeaderBytes: 2 * cfg.MaxHeaderBytes,
		ErrorLog:       newStdLogger(cfg.Logger),
	}
	s.HandleFunc("GET /healthz", s.healthz)
	s.HandleFunc("GET /readyz", s.readyz)
	if !cfg.PrivateMetrics {
		s.Handle("GET /metrics", s.metricsHandler())
	}
	// A catch-all, so that a miss is answered as problem+json; it works
	// out the 405 the mux would have given itself (see unmatched).
	s.mux.HandleFunc("/", s.unmatched)
	return s, nil
}

// Handle registers h for pattern (a Go 1.22 mux pattern, e.g.
// "POST /v1/hooks/{source}").
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mu.Lock()
	s.routes = append(s.routes, pattern)
	s.mu.Unlock()
	s.mux.Handle(pattern, h)
}

// HandleFunc registers fn for pattern.
func (s *Server) HandleFunc(pattern string, fn http.HandlerFunc) { s.Handle(pattern, fn) }

// Routes returns the registered patterns, sorted.
func (s *Server) Routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := append([]string(nil), s.routes...)
	sort.Strings(r)
	return r
}

// Handler returns the whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the metrics registry components register with.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// OnShutdown registers fn to run on Shutdown after in-flight requests have
// finished. Functions run in reverse order of registration, so a component
// registered after what it depends on is stopped before it.
func (s *Server) OnShutdown(name string, fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, closer{name: name, fn: fn})
}

// Serve accepts connections on ln until Shutdown; it returns nil after a
// clean shutdown and the error that stopped it otherwise.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-s.done
		return s.err
	}
	return err
}

// Shutdown stops accepting connections, waits for in-flight requests, then
// stops every registered component. It is idempotent: later calls wait for
// the first and return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		select {
		case <-s.done:
			return s.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.shutdown = true
	closers := append([]closer(nil), s.closers...)
	s.mu.Unlock()

	start := time.Now()
	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	for i := len(closers) - 1; i >= 0; i-- {
		c := closers[i]
		if err := c.fn(ctx); err != nil {
			s.log.Error().Err(err).Str("component", c.name).Msg("shutdown failed")
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	s.err = errors.Join(errs...)
	s.log.Info().Dur("took", time.Since(start)).Msg("shut down")
	close(s.done)
	return s.err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", "store does not answer: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}
