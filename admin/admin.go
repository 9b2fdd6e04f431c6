package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/httpauth"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Catalog is the process's drop catalog (*verifier.Catalog).
type Catalog interface {
	Drop(ctx context.Context, id string) (*config.Drop, error)
	Put(d config.Drop)
	Delete(id string)
	All(creator string) []*config.Drop
}

// Verifier is what the admin API needs of the domain core
// (*verifier.Verifier).
type Verifier interface {
	State(ctx context.Context, drop string) (verifier.DropState, error)
	Reports(ctx context.Context, drop, moment string) ([]verifier.Report, error)
	Ingest(ctx context.Context, src verifier.Source, ev verifier.Event) (verifier.Result, error)
	// Changed tells this process's caches that a drop changed through the
	// API, before the API answers (see verifier.Verifier.Changed).
	Changed(drop string)
}

// Pools is the compensation code pools of the drops
// (*fulfillment.Service).
type Pools interface {
	// LoadPool loads a drop's codes_file, once ever.
	LoadPool(ctx context.Context, drop, file string) (int, error)
	// AddCodes adds the codes the pool never held.
	AddCodes(ctx context.Context, drop string, codes []string) (added int, available int64, err error)
	// PoolStatus is how many codes d's pool holds, and whether that is low.
	PoolStatus(ctx context.Context, d *config.Drop) (left int64, low bool, err error)
}

// Defaults of Config.
const (
	DefaultKeyGrace  = 10 * time.Minute
	DefaultSync      = 30 * time.Second
	DefaultHeartbeat = 2 * time.Second
	// maxBody limits admin request bodies.
	maxBody = 64 << 10
)

// Config configures an Admin.
type Config struct {
	Store    store.Store
	Config   *config.Config // creators, sources, nodes, admin token, public URL
	Drops    Catalog
	Verifier Verifier
	// Pools, when set, loads the codes_file of drops created with
	// compensation kind code, takes code uploads and shows pool levels;
	// without it the upload answers 503.
	Pools Pools
	// Campaigns, when set, serves /v1/admin/campaigns and keeps the
	// campaigns created through it on every replica.
	Campaigns CampaignBook
	// CampaignLog, with Campaigns, serves campaign reports.
	CampaignLog CampaignLog
	// Ingress is the server's whole HTTP handler: the test drop posts its
	// signed trigger through it, exactly as a capture SDK would.
	Ingress http.Handler
	// Overlays returns this replica's connected overlays by creator
	// (*overlay.Hub.Overlays); nil: counts are 0.
	Overlays func() map[string]int
	// Replica names this process in the overlay-count heartbeat; default
	// random.
	Replica string
	// KeyGrace is how long a rotated-out overlay key keeps working.
	KeyGrace time.Duration
	// Sync is how often the catalog is re-read from the store (repairing a
	// lost announcement); Heartbeat how often this replica's overlay counts
	// are written.
	Sync      time.Duration
	Heartbeat time.Duration
	Logger    zerolog.Logger
	Now       func() time.Time
}

// Admin serves the admin API. See the package doc.
type Admin struct {
	cfg   Config
	st    store.Store
	log   zerolog.Logger
	now   func() time.Time
	keys  *KeyRing
	token [32]byte

	runOnce  sync.Once
	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	stopped bool          // Shutdown has begun: no new goroutine
	stop    chan struct{} // closed by Shutdown
}

// New returns an Admin; Run starts its loops.
func New(cfg Config) (*Admin, error) {
	if cfg.Store == nil || cfg.Config == nil || cfg.Drops == nil || cfg.Verifier == nil {
		return nil, errors.New("admin: Config needs Store, Config, Drops and Verifier")
	}
	if cfg.KeyGrace <= 0 {
		cfg.KeyGrace = DefaultKeyGrace
	}
	if cfg.Sync <= 0 {
		cfg.Sync = DefaultSync
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Replica == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Replica = "replica-" + hex.EncodeToString(b[:])
	}
	a := &Admin{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now,
		token: sha256.Sum256([]byte(cfg.Config.AdminToken)), stop: make(chan struct{})}
	a.keys = NewKeyRing(KeyRingConfig{Store: cfg.Store, Config: cfg.Config, Grace: cfg.KeyGrace, Now: cfg.Now})
	return a, nil
}

// Keys returns the overlay key ring: the overlay hub's key check.
func (a *Admin) Keys() *KeyRing { return a.keys }

// Routes lists the admin API's patterns with their handlers.
func (a *Admin) Routes() map[string]http.Handler {
	routes := map[string]http.Handler{
		"GET /v1/admin/drops":                                  a.guard(a.listDrops),
		"POST /v1/admin/drops":                                 a.guard(a.createDrop),
		"GET /v1/admin/drops/{id}":                             a.guard(a.getDrop),
		"DELETE /v1/admin/drops/{id}":                          a.guard(a.deleteDrop),
		"POST /v1/admin/drops/{id}/close":                      a.guard(a.closeDrop),
		"POST /v1/admin/drops/{id}/stock":                      a.guard(a.addStock),
		"PUT /v1/admin/drops/{id}/compensation-codes":          a.guard(a.putCompensationCodes),
		"PUT /v1/admin/drops/{id}/image":                       a.guard(a.putImage),
		"POST /v1/admin/drops/{id}/test":                       a.guard(a.testDrop),
		"GET /v1/admin/drops/{id}/stats":                       a.guard(a.dropStats),
		"GET /v1/admin/creators":                               a.guard(a.listCreators),
		"POST /v1/admin/creators/{creator}/overlay-key/rotate": a.guard(a.rotateKey),
		"GET /v1/admin/overview":                               a.guard(a.overview),
		"GET /v1/admin/creators/{creator}/overlay-settings":    a.guard(a.getOverlaySettings),
		"PUT /v1/admin/creators/{creator}/overlay-settings":    a.guard(a.putOverlaySettings),
	}
	for p, h := range a.campaignRoutes() {
		routes[p] = h
	}
	return routes
}

// Register registers every admin route with handle.
func (a *Admin) Register(handle func(pattern string, h http.Handler)) {
	for p, h := range a.Routes() {
		handle(p, h)
	}
}

// Run starts the catalog sync (after loading the stored drops once) and
// the overlay-count heartbeat. Idempotent.
func (a *Admin) Run() {
	a.runOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		a.cancel = cancel
		lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
		if err := a.loadDrops(lctx); err != nil {
			a.log.Warn().Err(err).Msg("admin: stored drops not loaded yet; retried by the sync loop")
		}
		if err := a.loadCampaigns(lctx); err != nil {
			a.log.Warn().Err(err).Msg("admin: stored campaigns not loaded yet; retried by the sync loop")
		}
		lcancel()
		a.wg.Add(3)
		go func() { defer a.wg.Done(); a.syncLoop(ctx) }()
		go func() { defer a.wg.Done(); a.campaignLoop(ctx) }()
		go func() { defer a.wg.Done(); a.heartbeatLoop(ctx) }()
	})
}

// Shutdown stops the loops and waits for them, or for ctx. Idempotent.
func (a *Admin) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		a.stopped = true
		close(a.stop)
		a.mu.Unlock()
		if a.cancel != nil {
			a.cancel()
		}
	})
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("admin: shutdown: %w", ctx.Err())
	}
}

// goroutine admits one more goroutine unless Shutdown has begun.
func (a *Admin) goroutine() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return false
	}
	a.wg.Add(1)
	return true
}

// guard checks the admin bearer token in constant time (of SHA-256
// hashes, so the token's length does not leak either). No configured
// token: every request is refused.
func (a *Admin) guard(next http.HandlerFunc) http.Handler {
	return Guard(a.cfg.Config.AdminToken, next)
}

// Guard wraps next with the admin bearer-token check.
func Guard(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := httpauth.Bearer(r.Header.Get("Authorization"))
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dropwire-admin"`)
			problem.Respond(w, http.StatusUnauthorized, "unauthorized", "a valid admin bearer token is required")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// decode reads a size-limited JSON body into v, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) *problem.Problem {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.New(http.StatusRequestEntityTooLarge, "payload_too_large", "body is over 64 KiB")
		}
		return problem.New(http.StatusBadRequest, "malformed_request", "could not read the body")
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.New(http.StatusBadRequest, "malformed_request", "body is not the expected JSON object: "+err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// storeProblem answers a store failure.
func (a *Admin) storeProblem(w http.ResponseWriter, what string, err error) {
	a.log.Error().Err(err).Msg("admin: " + what)
	problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", what+": the store does not answer")
}
