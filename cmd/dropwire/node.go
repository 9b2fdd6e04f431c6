package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/logging"
	"github.com/dropwire/dropwire/nodekit"
)

const nodeSynopsis = "node --dropwire-url URL --node ID [--secret whsec_… | $DROPWIRE_NODE_SECRET] [flags]"

const nodeHelp = `
node is a small fulfillment node for a locker or shop system to sit behind. It
receives Dropwire's signed claim webhooks at POST /dropwire on --listen
(verified with the node's secret; give Dropwire this URL as the node's url),
keeps the claims, and shows them to the local system on --api-listen, which
reports each claim's progress; node signs each report and posts it to Dropwire.

Local API (JSON; errors are problem details with a "code"):
  GET  /claims                     claims, newest first; ?state=ready (repeatable),
                                   ?pickup_code=K7Q2M9XA
  GET  /claims/{id}                one claim
  POST /claims/{id}/accept         claim.accepted (done at once with --auto-accept)
  POST /claims/{id}/reject         claim.rejected  {"reason": "..."}
  POST /claims/{id}/ready          claim.ready     {"slot": "B-14", "pin": "482913"} (both optional)
  POST /claims/{id}/picked-up      claim.picked_up
  POST /claims/{id}/failed         claim.failed    {"reason": "..."}
  POST /receipts/verify            {"receipt": "..."}: verifies a viewer's receipt
                                   against Dropwire's keys; answers the claim
A report answers 200 with the claim once Dropwire took it (its state as
Dropwire says); 409 when Dropwire refuses the step (the claim's state is in
the problem); 502 when Dropwire cannot be reached (send the same report
again: Dropwire applies it once).

Claims live in memory; with --state FILE every change is also written to FILE
(JSON, replaced atomically), and FILE is read at start, so a restart keeps
them. A claim webhook is acknowledged only once it is kept.

The local API has no authentication: keep --api-listen on a loopback or
private address.`

func runNode(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "node", nodeSynopsis)
	listen := fs.String("listen", ":8090", "address of the webhook receiver (POST /dropwire), which Dropwire must reach")
	apiListen := fs.String("api-listen", "127.0.0.1:8091", "address of the local API")
	dropwireURL := fs.String("dropwire-url", env.envDefault("DROPWIRE_URL", ""), "Dropwire's public URL (env DROPWIRE_URL)")
	nodeID := fs.String("node", env.envDefault("DROPWIRE_NODE", ""), "the node's id in Dropwire's configuration (env DROPWIRE_NODE)")
	secret := fs.String("secret", "", "the node's whsec_ secret (default: env DROPWIRE_NODE_SECRET; the flag shows in ps)")
	stateFile := fs.String("state", "", "keep the claims in this JSON file too, across restarts (default: memory only)")
	autoAccept := fs.Bool("auto-accept", true, "report claim.accepted as soon as a claim is kept")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "", "json or console (default: console on a terminal, else json)")
	usage := fs.Usage
	fs.Usage = func() { usage(); fmt.Fprintln(env.stderr, nodeHelp) }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = env.envDefault("DROPWIRE_NODE_SECRET", "")
	}
	var missing []string
	for name, v := range map[string]string{"--dropwire-url": *dropwireURL, "--node": *nodeID, "--secret (or DROPWIRE_NODE_SECRET)": *secret} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(env.stderr, "node needs %v\n", missing)
		fs.Usage()
		return errUsage
	}
	log, err := logging.New(env.stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	n, err := newStandaloneNode(standaloneConfig{DropwireURL: *dropwireURL, Node: *nodeID, Secret: *secret,
		StateFile: *stateFile, AutoAccept: *autoAccept, Logger: log})
	if err != nil {
		return err
	}
	return n.serve(ctx, *listen, *apiListen)
}

// standaloneConfig configures a standaloneNode.
type standaloneConfig struct {
	DropwireURL, Node, Secret, StateFile string
	AutoAccept                           bool
	Logger                               zerolog.Logger
	// Client talks to Dropwire (default: 10 s timeout).
	Client *http.Client
}

// standaloneNode is `dropwire node`: the webhook receiver, the claims and
// the local API.
type standaloneNode struct {
	cfg      standaloneConfig
	log      zerolog.Logger
	receiver *nodekit.Receiver
	client   *nodekit.Client
	receipts *nodekit.Receipts
	claims   *nodeClaims

	accept chan string // claims to report accepted
	wg     sync.WaitGroup
}

func newStandaloneNode(cfg standaloneConfig) (*standaloneNode, error) {
	if u, err := url.Parse(cfg.DropwireURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--dropwire-url %q is not an http(s) URL", cfg.DropwireURL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	receiver, err := nodekit.NewReceiver(nodekit.ReceiverConfig{Secrets: []string{cfg.Secret}})
	if err != nil {
		return nil, fmt.Errorf("--secret: %w", err)
	}
	client, err := nodekit.NewClient(nodekit.ClientConfig{BaseURL: cfg.DropwireURL, Node: cfg.Node, Secret: cfg.Secret, HTTPClient: cfg.Client})
	if err != nil {
		return nil, err
	}
	receipts, err := nodekit.NewReceipts(nodekit.ReceiptsConfig{BaseURL: cfg.DropwireURL, Node: cfg.Node, Client: cfg.Client})
	if err != nil {
		return nil, err
	}
	claims, err := openNodeClaims(cfg.StateFile)
	if err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	return &standaloneNode{cfg: cfg, log: cfg.Logger, receiver: receiver, client: client, receipts: receipts,
		claims: claims, accept: make(chan string, 256)}, nil
}

// serve listens on both addresses until ctx is done, then shuts both
// down and waits for the reports in flight.
func (n *standaloneNode) serve(ctx context.Context, listen, apiListen string) error {
	hookLn, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	apiLn, err := net.Listen("tcp", apiListen)
	if err != nil {
		_ = hookLn.Close()
		return err
	}
	hooks := http.NewServeMux()
	hooks.Handle("POST /dropwire", n.receiver.Handler(n.take))
	servers := []*http.Server{
		{Handler: hooks, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second},
		{Handler: n.api(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second},
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.acceptLoop(wctx) }()

	errc := make(chan error, 2)
	for i, ln := range []net.Listener{hookLn, apiLn} {
		go func() {
			if err := servers[i].Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	n.log.Info().Str("addr", hookLn.Addr().String()).Str("node", n.cfg.Node).Msg("listening")
	n.log.Info().Str("addr", apiLn.Addr().String()).Msg("local API listening")
	if n.cfg.StateFile == "" {
		n.log.Warn().Msg("claims are kept in memory only: a restart forgets them (use --state FILE)")
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	stopWorker()
	n.wg.Wait()
	n.log.Info().Msg("stopped")
	return serveErr
}

// take keeps a verified claim webhook; a retry of one kept is
// acknowledged again.
func (n *standaloneNode) take(_ context.Context, ev nodekit.Event) error {
	if ev.Type != nodekit.TypeClaimCreated {
		return nil
	}
	if ev.Claim.Node != "" && ev.Claim.Node != n.cfg.Node {
		n.log.Warn().Str("claim", ev.Claim.ID).Str("for", ev.Claim.Node).Msg("claim of another node acknowledged and ignored")
		return nil
	}
	added, err := n.claims.add(ev, time.Now())
	if err != nil {
		n.log.Error().Err(err).Str("claim", ev.Claim.ID).Msg("claim not kept; Dropwire will send it again")
		return err
	}
	if !added {
		return nil
	}
	n.log.Info().Str("claim", ev.Claim.ID).Str("drop", ev.Claim.Drop).Str("sku", ev.Claim.SKU).
		Bool("sandbox", ev.Claim.Sandbox).Msg("claim received")
	if n.cfg.AutoAccept {
		select {
		case n.accept <- ev.Claim.ID:
		default:
			n.log.Warn().Str("claim", ev.Claim.ID).Msg("auto-accept queue full; accept it through the local API")
		}
	}
	return nil
}

// acceptLoop reports the queued claims accepted.
func (n *standaloneNode) acceptLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-n.accept:
			if _, err := n.report(ctx, id, nodekit.Accepted(id)); err != nil {
				n.log.Warn().Err(err).Str("claim", id).Msg("could not report the claim accepted")
			}
		}
	}
}

// report posts cb about claim id and records what Dropwire answered.
func (n *standaloneNode) report(ctx context.Context, id string, cb nodekit.Callback) (nodeClaim, error) {
	res, err := n.client.SendRetry(ctx, cb, nodekit.Retry{Attempts: 3})
	if err != nil {
		var ce *nodekit.CallbackError
		if errors.As(err, &ce) && ce.State != "" {
			// Dropwire refused and said where the claim is: keep that.
			_, _ = n.claims.update(id, time.Now(), func(c *nodeClaim) { c.State = ce.State })
		}
		return nodeClaim{}, err
	}
	cl, err := n.claims.update(id, time.Now(), func(c *nodeClaim) {
		c.State = res.State
		switch cb.Type {
		case nodekit.TypeReady:
			c.Locker = cb.Locker
		case nodekit.TypeFailed, nodekit.TypeRejected:
			c.Reason = cb.Reason
		}
	})
	if err == nil {
		n.log.Info().Str("claim", id).Str("type", cb.Type).Str("result", res.Status).Str("state", res.State).Msg("reported")
	}
	return cl, err
}
