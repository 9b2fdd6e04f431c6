package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/sdkhooks"
)

// signFlags are shared by sign and send.
type signFlags struct {
	config, source, secret, file, id, drop, moment string
}

func (f *signFlags) register(env *environ, fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file with the source's secret (env DROPWIRE_CONFIG)")
	fs.StringVar(&f.source, "source", "", "source id to sign as (required)")
	fs.StringVar(&f.secret, "secret", env.envDefault("DROPWIRE_SOURCE_SECRET", ""), "whsec_ secret to sign with, as the vendor holds it: a standard source, no --config needed (env DROPWIRE_SOURCE_SECRET)")
	fs.StringVar(&f.file, "file", "", "body to sign (\"-\": stdin; default: a drop.trigger of the source's first drop)")
	fs.StringVar(&f.id, "id", "", "event id (default: a fresh evt_… id)")
	fs.StringVar(&f.drop, "drop", "", "drop of the default body (default: the creator's first drop)")
	fs.StringVar(&f.moment, "moment", "", "moment of the default body (default: the event id)")
}

// prepare loads the source and builds the signed request parts. With
// --secret and no --config, the source is a standard one holding only that
// secret, as a vendor knows it; the body then needs --drop or --file.
func (f *signFlags) prepare(env *environ) (*config.Config, config.Source, []byte, http.Header, error) {
	if f.source == "" || (f.config == "" && f.secret == "") {
		return nil, config.Source{}, nil, nil, fmt.Errorf("--source is required, with --config or --secret")
	}
	cfg := &config.Config{}
	src := &config.Source{ID: f.source, Scheme: config.SchemeStandard}
	if f.config != "" {
		var err error
		if cfg, err = loadConfig(env, f.config); err != nil {
			return nil, config.Source{}, nil, nil, err
		}
		var ok bool
		if src, ok = cfg.Source(f.source); !ok {
			return nil, config.Source{}, nil, nil, fmt.Errorf("no source %q in %s", f.source, f.config)
		}
	}
	if f.secret != "" {
		s := *src
		s.Secrets = []string{f.secret}
		src = &s
	}
	id := f.id
	if id == "" {
		id = "evt_" + strings.ToLower(rand.Text())
	}
	var body []byte
	var err error
	switch f.file {
	case "":
		drop := f.drop
		if drop == "" {
			for _, d := range cfg.Drops {
				if d.Creator == src.Creator {
					drop = d.ID
					break
				}
			}
		}
		switch {
		case drop == "" && f.config == "":
			return nil, config.Source{}, nil, nil, fmt.Errorf("--drop or --file is required without --config")
		case drop == "":
			return nil, config.Source{}, nil, nil, fmt.Errorf("creator %q has no drop; pass --file or --drop", src.Creator)
		}
		moment := f.moment
		if moment == "" {
			moment = id
		}
		body = fmt.Appendf(nil, `{"id":%q,"type":"drop.trigger","drop":%q,"moment":%q,"occurred_at":%q}`,
			id, drop, moment, time.Now().UTC().Format(time.RFC3339Nano))
	case "-":
		body, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	default:
		body, err = os.ReadFile(f.file)
	}
	if err != nil {
		return nil, config.Source{}, nil, nil, err
	}
	h, err := sdkhooks.SignRequest(*src, id, time.Now(), body)
	if err != nil {
		return nil, config.Source{}, nil, nil, err
	}
	return cfg, *src, body, h, nil
}

// hookURL returns the webhook URL of source under base (a Dropwire base
// URL, or already the full hook URL).
func hookURL(base, source string) string {
	u, err := url.Parse(base)
	if err == nil && (u.Path == "" || u.Path == "/") {
		return strings.TrimSuffix(base, "/") + "/v1/hooks/" + source
	}
	return base
}

func runSign(_ context.Context, env *environ, args []string) error {
	var sf signFlags
	fs := newFlagSet(env, "sign", "sign (--config FILE | --secret whsec_…) --source ID [--drop ID | --file body.json] [--curl URL]")
	sf.register(env, fs)
	curl := fs.String("curl", "", "print a complete curl command posting to this Dropwire base URL")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, src, body, h, err := sf.prepare(env)
	if err != nil {
		return err
	}
	if *curl != "" {
		fmt.Fprintln(env.stdout, curlCommand(hookURL(*curl, src.ID), h, string(body)))
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(env.stdout, "%s: %s\n", strings.ToLower(k), h.Get(k))
	}
	if sf.file == "" {
		fmt.Fprintf(env.stdout, "\n%s\n", body)
	}
	return nil
}

func runSend(ctx context.Context, env *environ, args []string) error {
	var sf signFlags
	fs := newFlagSet(env, "send", "send (--config FILE | --secret whsec_…) --source ID [--drop ID | --file body.json] [--url URL]")
	sf.register(env, fs)
	base := fs.String("url", "", "Dropwire base URL (default: the configuration's public_url)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, src, body, h, err := sf.prepare(env)
	if err != nil {
		return err
	}
	if *base == "" && cfg.PublicURL == "" {
		return fmt.Errorf("--url is required without a configuration's public_url")
	}
	if *base == "" {
		*base = cfg.PublicURL
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL(*base, src.ID), strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Fprintf(env.stdout, "%s\n%s", resp.Status, out)
	if resp.StatusCode/100 != 2 {
		return &exitError{code: 1, err: fmt.Errorf("%s answered %s", req.URL, resp.Status)}
	}
	return nil
}
