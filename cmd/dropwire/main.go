// Command dropwire is the one Dropwire binary: the server, the demo, and the
// tools operators and capture-SDK vendors use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environ, args []string) error
}

// environ is what a command sees of the process, so tests can run commands
// in-process.
type environ struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

func commands() []command {
	return []command{
		{"serve", "serve the API, overlays and pages from a configuration file", runServe},
		{"demo", "serve a built-in demo on the in-memory store, no setup needed", runDemo},
		{"check-config", "validate a configuration file and explain each error", runCheckConfig},
		{"token", "mint a data-channel bearer token for a source (--config F --source ID --ttl 1h)", runToken},
		{"keygen", "make a webhook secret, an ed25519 key pair, an overlay or console key, or the admin token", runKeygen},
		{"sign", "print the signed headers (or a curl command) of a capture webhook", runSign},
		{"send", "sign a capture webhook and post it to a running server", runSend},
		{"bench", "load-test a running server (scenarios: dropwire bench --help)", runBench},
		{"node", "run a small fulfillment node for a locker or shop system to sit behind", runNode},
		{"dlq", "list or replay dead-lettered deliveries to fulfillment nodes", runDLQ},
		{"healthcheck", "probe a running server's /healthz (for container health checks)", runHealthcheck},
		{"version", "print the version", runVersion},
	}
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environ{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv}
	os.Exit(run(ctx, env, os.Args[1:]))
}

func run(ctx context.Context, env *environ, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		var ee *exitError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, &ee):
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintln(env.stderr, "dropwire "+c.name+":", ee.err)
			}
			return ee.code
		default:
			fmt.Fprintln(env.stderr, "dropwire "+c.name+":", err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "dropwire: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Dropwire turns a moment on a live stream into a scannable, claimable reward drop.")
	fmt.Fprintln(w, "\nUsage: dropwire <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'dropwire <command> --help' for the flags of a command.")
}

// newFlagSet returns a FlagSet that prints its usage to env.stderr.
func newFlagSet(env *environ, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: dropwire %s\n", synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(env.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, mapping a bad flag to errUsage (the FlagSet has
// already printed why).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 && fs.Name() != "check-config" {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// envDefault returns the value of the environment variable name, or def.
func (env *environ) envDefault(name, def string) string {
	if v, ok := env.lookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
