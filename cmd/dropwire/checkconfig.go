package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/dropwire/dropwire/internal/config"
)

func runCheckConfig(_ context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "check-config", "check-config FILE")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(env, fs.Arg(0))
	if err != nil {
		return err
	}
	// What the named files hold: serve does not insist (a pool loaded once
	// no longer needs its file), but a creator checking a file does.
	if err := cfg.CheckFiles(); err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintln(env.stderr, cerr.Error())
			return &exitError{code: 1, err: fmt.Errorf("%s: %s", fs.Arg(0), countProblems(len(cerr.Problems)))}
		}
		return &exitError{code: 1, err: err}
	}
	more := ""
	if n := len(cfg.Tiers); n > 0 {
		more += ", " + count(n, "tier")
	}
	if n := len(cfg.Campaigns); n > 0 {
		more += ", " + count(n, "campaign")
	}
	fmt.Fprintf(env.stdout, "%s: ok: %s, %s, %s, %s%s\n", fs.Arg(0), count(len(cfg.Creators), "creator"),
		count(len(cfg.Sources), "source"), count(len(cfg.Nodes), "node"), count(len(cfg.Drops), "drop"), more)
	return nil
}

// loadConfig reads and validates a file with the environment applied; a bad
// file is printed problem by problem (file:line: ...) and exits 1.
func loadConfig(env *environ, path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	cfg, err := config.Parse(path, data, env.lookupEnv)
	if err == nil {
		err = cfg.ApplyEnv(env.lookupEnv)
	}
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintln(env.stderr, cerr.Error())
			return nil, &exitError{code: 1, err: fmt.Errorf("%s: %s", path, countProblems(len(cerr.Problems)))}
		}
		return nil, &exitError{code: 1, err: err}
	}
	return cfg, nil
}

// countProblems says "1 problem" or "n problems".
func countProblems(n int) string { return count(n, "problem") }

// count says "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
