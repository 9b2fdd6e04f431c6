package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/logging"
	"github.com/dropwire/dropwire/sdkhooks"
)

func runDemo(ctx context.Context, env *environ, args []string) error {
	var pf processFlags
	fs := newFlagSet(env, "demo", "demo [--listen ADDR] [--config FILE] [--pickup-after 8s] [--qr-terminal]")
	pf.register(env, fs, false)
	pickupAfter := fs.Duration("pickup-after", 8*time.Second, "how long after a claim the built-in demo node confirms its pickup")
	qrTerminal := fs.Bool("qr-terminal", false, "draw the claim QR in the terminal when a drop opens and when its code rotates (default: print the claim URL)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var cfg *config.Config
	var err error
	if pf.config != "" {
		cfg, err = loadConfig(env, pf.config)
	} else {
		cfg, err = config.Demo()
		if err == nil {
			err = cfg.ApplyEnv(env.lookupEnv)
		}
	}
	if err != nil {
		return err
	}
	pf.apply(cfg)
	// The demo is the in-memory store by definition.
	cfg.RedisURL, cfg.RedisCluster = "", nil
	publicSet := pf.publicURL != "" || env.envDefault("DROPWIRE_PUBLIC_URL", "") != ""
	log, err := logging.New(env.stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	// The built-in demo node takes the claims of every node without a URL
	// on a loopback port of its own, and calls back like a real node; a
	// node with console keys (or no secret to sign with) stays hosted, for
	// its operator's pickup console.
	var nodes []*demoNode
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	var prepErr error
	prepare := func(cfg *config.Config, addr net.Addr) {
		if !publicSet {
			cfg.PublicURL = "http://" + reachableHostPort(addr)
		}
		for i := range cfg.Nodes {
			n := &cfg.Nodes[i]
			if n.URL != "" || len(n.ConsoleKeys) > 0 || n.Secret == "" {
				continue
			}
			dn, url, err := startDemoNode(*n, "http://"+reachableHostPort(addr), *pickupAfter, log.With().Str("component", "demo-node").Logger())
			if err != nil {
				prepErr = err
				return
			}
			n.URL = url
			nodes = append(nodes, dn)
		}
	}
	qctx, stopQR := context.WithCancel(ctx)
	var qrDone sync.WaitGroup
	defer func() { stopQR(); qrDone.Wait() }()
	return serveApp(ctx, cfg, log, prepare, func(a *app.App, _ net.Addr) error {
		if prepErr != nil {
			return prepErr
		}
		if err := printDemo(env, a.Config()); err != nil {
			return err
		}
		qrDone.Add(1)
		go func() { defer qrDone.Done(); watchClaimQR(qctx, env.stdout, a, *qrTerminal) }()
		return nil
	})
}

// reachableHostPort turns a bound address into one a browser on this
// machine can open (":8080" → "127.0.0.1:8080").
func reachableHostPort(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func printDemo(env *environ, cfg *config.Config) error {
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	w := env.stdout
	fmt.Fprintln(w, "Dropwire demo is running (in-memory store: nothing is kept when it stops).")
	fmt.Fprintln(w)
	for _, c := range cfg.Creators {
		if len(c.OverlayKeys) > 0 {
			fmt.Fprintf(w, "  Overlay (OBS browser source, 1920x1080): %s/overlay/%s?key=%s\n", base, c.ID, c.OverlayKeys[0])
		}
	}
	for _, n := range cfg.Nodes {
		if n.Hosted() && len(n.ConsoleKeys) > 0 {
			fmt.Fprintf(w, "  Pickup console of %s: %s/n/%s?key=%s\n", n.ID, base, n.ID, url.QueryEscape(n.ConsoleKeys[0]))
		}
	}
	fmt.Fprintf(w, "  Dashboard:                               %s/dashboard\n", base)
	if cfg.AdminToken != "" {
		fmt.Fprintf(w, "  Admin token:                             %s\n", cfg.AdminToken)
	}
	if curl, src, drop, ok, err := demoTriggerCurl(cfg, base); err != nil {
		return err
	} else if ok {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  Capture source:                          %s (scheme standard)\n", src.ID)
		fmt.Fprintf(w, "  Its secret:                              %s\n", src.Secrets[0])
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Trigger the drop with a signed webhook, as a capture SDK would (the signature is good for %s, as on a real server):\n", shortDuration(src.Tolerance.D()))
		fmt.Fprintln(w)
		fmt.Fprintln(w, curl)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Sign a fresh one at any time:")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "dropwire send --url %s --source %s --secret %s --drop %s\n", shellQuote(base), src.ID, shellQuote(src.Secrets[0]), drop)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Or sign in to the dashboard with the admin token and press \"Test drop\".")
	fmt.Fprintln(w, "When the drop opens, its claim link is printed here; a built-in demo node confirms each pickup.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Stop with Ctrl-C.")
	return nil
}

// demoTriggerCurl builds a complete curl command, signed with the first
// standard source's secret, that triggers the first drop of its creator,
// and returns the source and drop it used.
func demoTriggerCurl(cfg *config.Config, base string) (string, config.Source, string, bool, error) {
	for _, src := range cfg.Sources {
		if src.Scheme != config.SchemeStandard || len(src.Secrets) == 0 {
			continue
		}
		for _, d := range cfg.Drops {
			if d.Creator != src.Creator {
				continue
			}
			signer, err := sdkhooks.NewSigner(src.Secrets[0])
			if err != nil {
				return "", config.Source{}, "", false, fmt.Errorf("demo source %s: %w", src.ID, err)
			}
			now := time.Now()
			id := "evt_demo_" + strconv.FormatInt(now.UnixNano(), 36)
			body := fmt.Sprintf(`{"type":"drop.trigger","drop":%q,"moment":"demo-moment-1"}`, d.ID)
			h := signer.Headers(id, now, []byte(body))
			return curlCommand(base+"/v1/hooks/"+src.ID, h, body), src, d.ID, true, nil
		}
	}
	return "", config.Source{}, "", false, nil
}

// curlCommand renders a POST as a copyable shell command.
func curlCommand(url string, h http.Header, body string) string {
	var b strings.Builder
	b.WriteString("curl -sS -X POST " + shellQuote(url))
	keys := make([]string, 0, len(h))
	for k := range h {
		if k != "Content-Type" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(" \\\n  -H " + shellQuote(strings.ToLower(k)+": "+h.Get(k)))
	}
	b.WriteString(" \\\n  -H 'content-type: application/json'")
	b.WriteString(" \\\n  --data " + shellQuote(body))
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shortDuration writes d without its zero tails: "5m", not "5m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
