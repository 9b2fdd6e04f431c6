package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/logging"
	"github.com/dropwire/dropwire/internal/server"
	"github.com/dropwire/dropwire/internal/store"
)

// processFlags are the flags of serve and demo that override the file.
type processFlags struct {
	listen, config, redisURL, publicURL, logLevel, logFormat, debugListen string
}

func (f *processFlags) register(env *environ, fs *flag.FlagSet, withRedis bool) {
	fs.StringVar(&f.listen, "listen", "", "listen address, e.g. 127.0.0.1:8080 (env DROPWIRE_LISTEN; default from the file, else :8080)")
	fs.StringVar(&f.config, "config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file (env DROPWIRE_CONFIG)")
	fs.StringVar(&f.publicURL, "public-url", "", "base URL of QR codes and receipts (env DROPWIRE_PUBLIC_URL)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (env DROPWIRE_LOG_LEVEL)")
	fs.StringVar(&f.logFormat, "log-format", "", "json or console (env DROPWIRE_LOG_FORMAT; default: console on a terminal, else json)")
	fs.StringVar(&f.debugListen, "debug-listen", "", "serve Go's pprof profiles on this address, e.g. 127.0.0.1:6060 (keep it private)")
	if withRedis {
		fs.StringVar(&f.redisURL, "redis-url", "", "Redis URL, e.g. redis://127.0.0.1:6379/0, or redis+cluster://host:port,host:port for a Redis Cluster (env DROPWIRE_REDIS_URL; absent: the volatile in-memory store)")
	}
}

// apply lays the flags over cfg (the file and DROPWIRE_* already applied):
// flags win.
func (f *processFlags) apply(cfg *config.Config) {
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.redisURL != "" {
		cfg.SetRedisURL(f.redisURL, "--redis-url")
	}
	if f.publicURL != "" {
		cfg.PublicURL = f.publicURL
	}
	if f.logLevel != "" {
		cfg.LogLevel = f.logLevel
	}
	if f.logFormat != "" {
		cfg.LogFormat = f.logFormat
	}
}

func runServe(ctx context.Context, env *environ, args []string) error {
	var pf processFlags
	fs := newFlagSet(env, "serve", "serve --config FILE [flags]")
	pf.register(env, fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if pf.config == "" {
		fmt.Fprintln(env.stderr, "serve needs --config FILE (or DROPWIRE_CONFIG); try 'dropwire demo' for a built-in one")
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(env, pf.config)
	if err != nil {
		return err
	}
	pf.apply(cfg)
	tuneGC(env)
	log, err := logging.New(env.stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if pf.debugListen != "" {
		stop, err := serveOps(pf.debugListen, "profiling endpoints", server.ProfileHandler(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return serveApp(ctx, cfg, log, nil, nil)
}

// serveApp listens, lets prepare adjust cfg to the bound address, builds the
// App, calls ready, and serves until ctx is done.
func serveApp(ctx context.Context, cfg *config.Config, log zerolog.Logger,
	prepare func(cfg *config.Config, addr net.Addr), ready func(a *app.App, addr net.Addr) error) error {
	store.SetRedisLogger(log)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if prepare != nil {
		prepare(cfg, ln.Addr())
	}
	a, err := app.New(app.Options{Config: cfg, Logger: log})
	if err != nil {
		_ = ln.Close()
		return err
	}
	if cfg.MetricsListen != "" {
		stop, err := serveOps(cfg.MetricsListen, "metrics and profiling endpoints", a.Server().OpsHandler(), log)
		if err != nil {
			_ = ln.Close()
			_ = a.Shutdown(context.Background())
			return err
		}
		defer stop()
	}
	if ready != nil {
		if err := ready(a, ln.Addr()); err != nil {
			_ = ln.Close()
			_ = a.Shutdown(context.Background())
			return err
		}
	}
	return a.Serve(ctx, ln)
}
