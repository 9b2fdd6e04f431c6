package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/sdkhooks"
)

// runToken mints a data-channel bearer token for a source: HS256 with the
// source's newest secret, sub = the source id, exp = now + ttl.
func runToken(_ context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "token", "token --config FILE --source ID [--ttl 1h]")
	path := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file (env DROPWIRE_CONFIG)")
	source := fs.String("source", "", "source id (must have webrtc: true)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *source == "" {
		fmt.Fprintln(env.stderr, "token needs --config FILE and --source ID")
		fs.Usage()
		return errUsage
	}
	if *ttl <= 0 {
		fmt.Fprintln(env.stderr, "--ttl must be positive")
		return errUsage
	}
	cfg, err := loadConfig(env, *path)
	if err != nil {
		return err
	}
	tok, err := mintFor(cfg, *source, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, tok)
	return nil
}

// mintFor mints a token for a source of cfg that may open data channels.
func mintFor(cfg *config.Config, source string, ttl time.Duration) (string, error) {
	src, ok := cfg.Source(source)
	if !ok {
		return "", fmt.Errorf("no source %q in %s", source, cfg.File)
	}
	if !src.WebRTC {
		return "", fmt.Errorf("source %q has webrtc: false; the server would refuse its data channels", source)
	}
	return sdkhooks.MintToken(*src, ttl, time.Now())
}
