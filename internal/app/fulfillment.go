package app

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/dropwire/dropwire/fulfillment"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

// wireFulfillment builds forwarding to fulfillment nodes, their callback
// endpoint, the pickup SLA and the dead-letter admin API, and starts the
// forwarder and SLA loops (stopped on shutdown).
func (a *App) wireFulfillment() error {
	cfg := a.cfg
	// Receipt keys live in the store: this instance signs with the same
	// keys as the claims API.
	receipts, err := verifier.NewReceipts(verifier.ReceiptsConfig{
		Store: a.store, TTL: cfg.ReceiptTTL.D(), Rotate: cfg.ReceiptKeyRotate.D(), Issuer: cfg.PublicURL,
	})
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	svc, err := fulfillment.New(fulfillment.Config{
		Store:       a.store,
		Drops:       a.drops,
		Nodes:       cfg.Nodes,
		Tiers:       cfg.Tiers,
		CampaignOf:  a.campaignOf,
		Receipts:    receipts,
		CampaignLog: a.campaignLog,
		Consumer:    fmt.Sprintf("%s-%d", host, os.Getpid()),
		Workers:     cfg.ForwardWorkers,
		Tick:        cfg.ForwardTick.D(),
		Takeover:    cfg.ForwardTakeover.D(),
		SLATick:     cfg.SLATick.D(),
		DedupeTTL:   cfg.DedupeTTL.D(),
		MaxBody:     cfg.MaxBody,
		ResolvePath: cfg.ResolvePath,
		AdminToken:  cfg.AdminToken,
		Logger:      a.log.With().Str("component", "fulfillment").Logger(),
		Registerer:  a.server.Registry(),
	})
	if err != nil {
		return err
	}
	a.pools = svc
	a.server.Handle("POST /v1/fulfillment/{node}/events", svc.CallbackHandler())
	for pattern, h := range svc.AdminHandlers() {
		a.server.Handle(pattern, h)
	}
	if err := a.wireConsole(svc); err != nil {
		return err
	}
	if err := svc.Run(); err != nil {
		return err
	}
	a.server.OnShutdown("fulfillment", svc.Shutdown)
	return nil
}

// wireConsole builds the pickup console of hosted nodes (/n/{node}) and
// the admin API of their console keys.
func (a *App) wireConsole(svc *fulfillment.Service) error {
	page, err := fs.ReadFile(web.FS, "console.html")
	if err != nil {
		return err
	}
	console, err := fulfillment.NewConsole(fulfillment.ConsoleConfig{
		Service:      svc,
		PublicURL:    a.cfg.PublicURL,
		Page:         page,
		Asset:        web.AssetURL,
		SecureCookie: strings.HasPrefix(a.cfg.PublicURL, "https://"),
		Logger:       a.log.With().Str("component", "console").Logger(),
	})
	if err != nil {
		return err
	}
	for pattern, h := range console.Routes() {
		a.server.Handle(pattern, h)
	}
	return nil
}
