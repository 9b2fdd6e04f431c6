package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/problem"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	// The children of each route, method and status, once looked up:
	// WithLabelValues validates and hashes its labels on every call.
	mu        sync.RWMutex
	counters  map[requestLabels]prometheus.Counter
	observers map[requestLabels]prometheus.Observer // status 0
}

type requestLabels struct {
	route, method string
	status        int
}

// observe counts one request and its latency.
func (m *httpMetrics) observe(route, method string, status int, took time.Duration) {
	k := requestLabels{route, method, status}
	route0 := requestLabels{route, method, 0}
	m.mu.RLock()
	c, ok1 := m.counters[k]
	o, ok2 := m.observers[route0]
	m.mu.RUnlock()
	if !ok1 || !ok2 {
		c = m.requests.WithLabelValues(route, method, strconv.Itoa(status))
		o = m.latency.WithLabelValues(route, method)
		m.mu.Lock()
		m.counters[k], m.observers[route0] = c, o
		m.mu.Unlock()
	}
	c.Inc()
	o.Observe(took.Seconds())
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		counters:  map[requestLabels]prometheus.Counter{},
		observers: map[requestLabels]prometheus.Observer{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dropwire_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// statusWriter records the status code. It keeps http.Hijacker and Flusher
// reachable through Unwrap (http.ResponseController), which WebSocket
// upgrades need.
//
// When the request body's read deadline ended a read, whatever the handler
// answers (it saw only a failed read) is replaced by 408: the one place
// that knows why the read failed answers for every handler.
type statusWriter struct {
	http.ResponseWriter
	status   int
	body     *deadlineBody
	replaced bool // a 408 went out instead of the handler's answer
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && w.body.timedOut() {
		w.requestTimeout()
		return
	}
	if w.replaced {
		return
	}
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 && w.body.timedOut() {
		w.requestTimeout()
	}
	if w.replaced {
		return len(b), nil
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) requestTimeout() {
	w.status, w.replaced = http.StatusRequestTimeout, true
	writeRequestTimeout(w.ResponseWriter)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idPrefix makes request ids unique across replicas; the counter makes them
// unique within the process without a random read per request.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func nextRequestID() string {
	return idPrefix + "-" + strconv.FormatUint(idCounter.Add(1), 36)
}

// validRequestID accepts a caller's id only when it is short and printable,
// so it can be logged as is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = nextRequestID()
		}
		w.Header()[RequestIDHeader] = []string{id}
		client := clientAddr(r.RemoteAddr, r.Header, s.cfg.TrustedProxies)
		// One allocation for what the request keeps.
		held := &struct {
			rc requestContext
			sw statusWriter
		}{rc: requestContext{id: id, client: client, base: &s.log}}
		rc := &held.rc
		r = r.WithContext(context.WithValue(r.Context(), requestContextKey{}, rc))
		sw := &held.sw
		*sw = statusWriter{ResponseWriter: w, body: withReadDeadline(w, r, start, s.cfg.ReadTimeout)}

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("request_id", id).Interface("panic", v).Str("method", r.Method).Str("path", r.URL.Path).
					Str("client", client).Msg("handler panicked")
				if sw.status == 0 {
					problem.Respond(sw, http.StatusInternalServerError, "internal", "internal error; request id "+id)
				}
			}
			if sw.status == 0 && sw.body.timedOut() {
				sw.requestTimeout()
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			s.metrics.observe(route, r.Method, status, elapsed)

			lvl := zerolog.DebugLevel
			switch {
			case status >= 500:
				lvl = zerolog.WarnLevel
			case status >= 400:
				lvl = zerolog.InfoLevel
			}
			// Log the path, never the query: overlay keys travel there.
			s.log.WithLevel(lvl).Str("request_id", id).Str("method", r.Method).Str("route", route).Str("path", r.URL.Path).
				Str("client", client).Int("status", status).Dur("took", elapsed).Msg("request")
		}()
		if headerSize(r) > s.cfg.MaxHeaderBytes {
			writeHeadersTooLarge(sw, s.cfg.MaxHeaderBytes)
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// newStdLogger routes net/http's own error log (TLS handshakes, bad
// requests) through zerolog.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(stdWriter{l}, "", 0)
}

type stdWriter struct{ l zerolog.Logger }

func (w stdWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http").Msg(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// requestContext is what the middleware keeps in a request's context. The
// request's logger is built on first use: most requests never log beyond
// the access line.
type requestContext struct {
	id     string
	client string // see clientAddr
	base   *zerolog.Logger
	once   sync.Once
	logger zerolog.Logger
}

type requestContextKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if rc, ok := ctx.Value(requestContextKey{}).(*requestContext); ok {
		return rc.id
	}
	return ""
}

// Logger returns the request's logger, which carries its request id and client
// address; for a context outside a request it returns a disabled logger.
func Logger(ctx context.Context) *zerolog.Logger {
	rc, ok := ctx.Value(requestContextKey{}).(*requestContext)
	if !ok {
		return zerolog.Ctx(ctx)
	}
	rc.once.Do(func() { rc.logger = rc.base.With().Str("request_id", rc.id).Str("client", rc.client).Logger() })
	return &rc.logger
}
