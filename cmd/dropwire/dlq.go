package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/fulfillment"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

const dlqSynopsis = "dlq list|replay [ID | --all] --config FILE [flags]"

// runDLQ lists or replays the dead-lettered outbox entries, straight in
// the store the servers share (no server needs to run).
func runDLQ(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "dlq", dlqSynopsis)
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file (env DROPWIRE_CONFIG)")
	redisURL := fs.String("redis-url", "", "Redis URL (env DROPWIRE_REDIS_URL; default from the file)")
	all := fs.Bool("all", false, "replay: every dead letter")
	asJSON := fs.Bool("json", false, "list: print JSON")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintln(env.stderr, "\nlist prints the dead letters; replay ID puts one back into its outbox with the same\n"+
			"webhook-id (replay --all: every one). Replaying an entry of a node that answered 410 Gone\n"+
			"enables the node again.")
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		fs.Usage()
		return errUsage
	}
	sub, rest := args[0], args[1:]
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	switch {
	case sub != "list" && sub != "replay":
		fmt.Fprintf(env.stderr, "unknown dlq command %q\n", sub)
		fs.Usage()
		return errUsage
	case sub == "replay" && (id == "") == !*all:
		fmt.Fprintln(env.stderr, "replay needs a dead letter id or --all")
		fs.Usage()
		return errUsage
	case sub == "list" && (id != "" || *all):
		fmt.Fprintln(env.stderr, "list takes no id and no --all")
		fs.Usage()
		return errUsage
	case *cfgPath == "":
		fmt.Fprintln(env.stderr, "dlq needs --config FILE (or DROPWIRE_CONFIG)")
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return err
	}
	if *redisURL != "" {
		cfg.RedisURL = *redisURL
	}
	if cfg.RedisURL == "" {
		return &exitError{code: 1, err: errors.New("no redis_url: the dead letters of the in-memory store live only inside its server")}
	}
	st, err := store.NewRedis(store.RedisConfig{URL: cfg.RedisURL, Prefix: cfg.KeyPrefix})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	svc, err := fulfillment.New(fulfillment.Config{Store: st, Drops: verifier.NewCatalog(cfg.Drops), Nodes: cfg.Nodes,
		Logger: zerolog.Nop()})
	if err != nil {
		return &exitError{code: 1, err: err}
	}

	if sub == "list" {
		dls, err := svc.DeadLetters(ctx)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if *asJSON {
			if dls == nil {
				dls = []fulfillment.DeadLetter{}
			}
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(dls)
		}
		if len(dls) == 0 {
			fmt.Fprintln(env.stdout, "no dead letters")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDROP\tNODE\tTYPE\tREASON\tATTEMPTS\tAT\tLAST")
		for _, d := range dls {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Drop, d.Node, d.Type, d.Reason, d.Attempts,
				d.At.Format(time.RFC3339), d.Last)
		}
		return tw.Flush()
	}
	if *all {
		n, err := svc.ReplayAll(ctx)
		fmt.Fprintf(env.stdout, "replayed %d\n", n)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		return nil
	}
	if err := svc.Replay(ctx, id); err != nil {
		if errors.Is(err, fulfillment.ErrNotFound) {
			return &exitError{code: 1, err: fmt.Errorf("no dead letter %q", id)}
		}
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(env.stdout, "replayed %s\n", id)
	return nil
}
