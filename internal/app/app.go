// Package app wires one Dropwire process from its configuration: the store,
// the HTTP server and every component the server routes to. cmd/dropwire and
// the end-to-end tests build processes through it, so both run the same
// wiring.
package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/server"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

// Options configures an App.
type Options struct {
	Config *config.Config
	Logger zerolog.Logger
	// Store, when set, is used instead of one built from Config.RedisURL
	// (or RedisCluster);
	// the App does not close it.
	Store store.Store
}

// App is one running Dropwire process.
type App struct {
	cfg    *config.Config
	log    zerolog.Logger
	store  store.Store
	server *server.Server

	drops     *verifier.Catalog
	campaigns *verifier.CampaignBook
	// campaignLog records campaign outcomes; set by wireClaims.
	campaignLog *verifier.CampaignLog
	verifier    *verifier.Verifier
	pools       admin.Pools          // compensation code pools; set by wireFulfillment
	keys        *admin.KeyRing       // overlay keys (rotation); set by wireAdmin
	codes       *overlay.Codes       // claim codes, shared by the overlay and claims; set by wireOverlay
	states      *verifier.StateCache // drop states for resolving claim codes; set by wireOverlay
	claims      *verifier.Claims     // set by wireClaims
	hub         *overlay.Hub         // set by wireOverlay
}

// New builds the App: it opens the store and registers every route.
func New(opts Options) (*App, error) {
	if opts.Config == nil {
		return nil, fmt.Errorf("app: no configuration")
	}
	a := &App{cfg: opts.Config, log: opts.Logger}

	st, ownStore, err := openStore(opts)
	if err != nil {
		return nil, err
	}
	a.store = st

	srv, err := server.New(server.Config{
		Logger:         opts.Logger,
		Ready:          st.Ping,
		TrustedProxies: opts.Config.TrustedProxyPrefixes(),
		ReadTimeout:    opts.Config.ReadTimeout.D(),
		PrivateMetrics: opts.Config.MetricsListen != "",
	})
	if err != nil {
		if ownStore {
			_ = st.Close()
		}
		return nil, err
	}
	a.server = srv
	if ownStore {
		// Registered first, so it is closed last: everything else may still
		// need the store while it stops.
		srv.OnShutdown("store", func(context.Context) error { return st.Close() })
	}
	if err := registerStoreMetrics(srv.Registry(), st); err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, err
	}
	if err := registerStoreHealth(srv.Registry(), st); err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, err
	}
	if err := a.wire(); err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, err
	}
	return a, nil
}

// wire builds the components and registers their routes, one file of
// this package per component.
func (a *App) wire() error {
	for _, w := range []func() error{a.wireIngest, a.wireOverlay, a.wireRTC, a.wireClaims, a.wireFulfillment, a.wireAdmin,
		a.wireCampaigns} {
		if err := w(); err != nil {
			return err
		}
	}
	return nil
}

// wireIngest builds the domain core and the webhook endpoint.
func (a *App) wireIngest() error {
	cfg, reg := a.cfg, a.server.Registry()
	a.drops = verifier.NewCatalog(cfg.Drops)
	a.campaigns = verifier.NewCampaignBook(cfg.Campaigns)
	v, err := verifier.New(verifier.Config{
		Store:      a.store,
		Drops:      a.drops,
		Campaigns:  a.campaigns,
		Logger:     a.log.With().Str("component", "verifier").Logger(),
		DedupeTTL:  cfg.DedupeTTL.D(),
		Registerer: reg,
	})
	if err != nil {
		return err
	}
	a.verifier = v
	// A jwks file is read relative to the configuration file, as
	// check-config reads it.
	sources := append([]config.Source(nil), cfg.Sources...)
	for i := range sources {
		sources[i].JWKS = cfg.ResolvePath(sources[i].JWKS)
	}
	hooks, err := sdkhooks.NewHooks(sdkhooks.HooksConfig{
		Sources:    sources,
		Ingester:   v,
		MaxBody:    cfg.MaxBody,
		Logger:     a.log.With().Str("component", "hooks").Logger(),
		Registerer: reg,
	})
	if err != nil {
		return err
	}
	a.server.Handle("POST /v1/hooks/{source}", hooks)
	return nil
}

// Verifier returns the domain core.
func (a *App) Verifier() *verifier.Verifier { return a.verifier }

func openStore(opts Options) (store.Store, bool, error) {
	if opts.Store != nil {
		return opts.Store, false, nil
	}
	cfg := opts.Config
	if !cfg.UsesRedis() {
		opts.Logger.Warn().Msg("no redis_url: using the in-memory store; everything is lost when the process stops and replicas share nothing")
		m, err := store.NewMemory(store.MemoryConfig{Prefix: cfg.KeyPrefix})
		return m, true, err
	}
	tlsc, err := cfg.RedisTLSConfig()
	if err != nil {
		return nil, false, fmt.Errorf("app: redis: %w", err)
	}
	r, err := store.NewRedis(store.RedisConfig{
		URL: cfg.RedisURL, Cluster: cfg.RedisCluster, Prefix: cfg.KeyPrefix,
		Username: cfg.RedisUsername, Password: cfg.RedisPassword, TLS: tlsc,
		PubSubPartitions: cfg.PubSubPartitions,
		WaitReplicas:     cfg.RedisWaitReplicas, WaitTimeout: cfg.RedisWaitTimeout.D(),
	})
	if err != nil {
		return nil, false, fmt.Errorf("app: redis: %w", err)
	}
	if r.Cluster() {
		opts.Logger.Info().Int("pubsub_partitions", r.Partitions()).Msg("redis cluster: announcements go over sharded pub/sub")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		// Start anyway: /readyz says why until Redis answers.
		opts.Logger.Warn().Err(err).Msg("redis does not answer yet; not ready until it does")
		return r, true, nil
	}
	// Where CONFIG is not allowed (managed Redis), there is nothing to
	// say: the provider decides.
	if ao, err := r.AppendOnly(ctx); err == nil && !ao {
		opts.Logger.Warn().Msg("redis runs with appendonly no: a restart reloads the last snapshot and loses every write since, acknowledged claims included; run production Redis with appendonly yes (appendfsync everysec)")
	}
	return r, true, nil
}

// Server returns the HTTP server (for tests and the route list).
func (a *App) Server() *server.Server { return a.server }

// Store returns the store the App uses.
func (a *App) Store() store.Store { return a.store }

// Config returns the App's configuration.
func (a *App) Config() *config.Config { return a.cfg }

// Serve serves on ln until ctx is done, then shuts down gracefully within
// the configured shutdown timeout.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(ln) }()
	select {
	case err := <-errc:
		// The listener failed before any shutdown was asked for.
		sctx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout())
		defer cancel()
		_ = a.server.Shutdown(sctx)
		return err
	case <-ctx.Done():
	}
	a.log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout())
	defer cancel()
	err := a.server.Shutdown(sctx)
	if serr := <-errc; err == nil {
		err = serr
	}
	return err
}

// Shutdown stops the App; Serve returns once it has.
func (a *App) Shutdown(ctx context.Context) error { return a.server.Shutdown(ctx) }

func (a *App) shutdownTimeout() time.Duration {
	if d := a.cfg.ShutdownTimeout.D(); d > 0 {
		return d
	}
	return 10 * time.Second
}

// registerStoreMetrics exports how many pub/sub messages the store dropped
// because a subscriber fell behind. Each consumer recovers on its own (the
// overlay resyncs, the claim cache ages out, the forwarder sweeps), but a
// growing count says a replica is too slow for its announcements.
func registerStoreMetrics(reg prometheus.Registerer, st store.Store) error {
	d, ok := st.(interface{ Dropped() uint64 })
	if !ok {
		return nil
	}
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dropwire_pubsub_dropped_total",
		Help: "Pub/sub messages dropped because a subscriber's buffer was full.",
	}, func() float64 { return float64(d.Dropped()) })); err != nil {
		return err
	}
	// On a Redis Cluster a script's announcement leaves after the script;
	// one that could not be sent is repaired by the subscribers' resyncs.
	if r, ok := st.(*store.Redis); ok && r.Cluster() {
		return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dropwire_pubsub_unsent_total",
			Help: "Announcements of changes made on a Redis Cluster that could not be published.",
		}, func() float64 { return float64(r.Unsent()) }))
	}
	return nil
}
