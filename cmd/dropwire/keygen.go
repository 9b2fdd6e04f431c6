package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// keyKinds are the keys `dropwire keygen` makes, each with what it is for.
var keyKinds = []struct {
	kind, use string
	make      func(w io.Writer)
}{
	{"whsec", "a Standard Webhooks secret shared with a vendor or a node (secrets: in a source or node)", func(w io.Writer) {
		fmt.Fprintln(w, stdwebhooks.NewSecret())
	}},
	{"whpk", "an ed25519 key pair for v1a signatures: the signing key for the vendor, the public key for public_keys", func(w io.Writer) {
		signing, public := stdwebhooks.NewKeyPair()
		fmt.Fprintln(w, "signing_key: "+signing)
		fmt.Fprintln(w, "public_key: "+public)
	}},
	{"overlay", "an overlay key for a creator (overlay_keys)", printToken},
	{"console", "a pickup console key for a hosted node (console_keys)", printToken},
	{"admin", "the admin API token (admin_token)", printToken},
}

// printToken prints 128 random bits as 26 base32 characters: URL-safe for
// ?key=, and past the 16 characters the configuration asks for.
func printToken(w io.Writer) { fmt.Fprintln(w, rand.Text()) }

func runKeygen(_ context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "keygen", "keygen whsec|whpk|overlay|console|admin")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "Usage: dropwire keygen <kind>\n\nPrints a new random key (crypto/rand) of one kind:")
		for _, k := range keyKinds {
			fmt.Fprintf(env.stderr, "  %-8s %s\n", k.kind, k.use)
		}
	}
	// The kind is an argument, which parseFlags refuses.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	for _, k := range keyKinds {
		if k.kind == fs.Arg(0) {
			k.make(env.stdout)
			return nil
		}
	}
	fmt.Fprintf(env.stderr, "dropwire keygen: unknown kind %q\n\n", fs.Arg(0))
	fs.Usage()
	return errUsage
}
