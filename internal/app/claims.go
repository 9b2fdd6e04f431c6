package app

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

// wireClaims builds viewer claims: the claim page and API, receipts and
// their keys, and the initial stock of every configured drop.
func (a *App) wireClaims() error {
	cfg := a.cfg
	receipts, err := verifier.NewReceipts(verifier.ReceiptsConfig{
		Store: a.store, TTL: cfg.ReceiptTTL.D(), Rotate: cfg.ReceiptKeyRotate.D(), Issuer: cfg.PublicURL,
	})
	if err != nil {
		return err
	}
	nodes := func(id string) (*config.Node, bool) { return cfg.Node(id) }
	claims, err := verifier.NewClaims(verifier.ClaimsConfig{
		Store:      a.store,
		Drops:      a.drops,
		Codes:      codeResolver{a.codes},
		Receipts:   receipts,
		States:     a.states,
		Nodes:      nodes,
		Tiers:      cfg.Tier,
		Campaigns:  a.campaigns,
		Logger:     a.log.With().Str("component", "claims").Logger(),
		Registerer: a.server.Registry(),
	})
	if err != nil {
		return err
	}
	a.server.OnShutdown("claims", claims.Shutdown)
	a.campaignLog = claims.CampaignLog()
	// What the admin API or an ingest changes here is on the claim page
	// here before it is acknowledged, announcement or not.
	a.verifier.OnChange(claims.Changed)
	a.claims = claims
	viewers, err := verifier.NewViewers(verifier.ViewersConfig{
		Store: a.store, Secret: cfg.ViewerSecret,
		JWKS: cfg.ResolvePath(cfg.ViewerJWKS), Issuer: cfg.ViewerIssuer, Audience: cfg.ViewerAudience,
		SecureCookie: strings.HasPrefix(cfg.PublicURL, "https://"),
	})
	if err != nil {
		return err
	}
	claimPage, err := fs.ReadFile(web.FS, "claim.html")
	if err != nil {
		return err
	}
	receiptPage, err := fs.ReadFile(web.FS, "receipt.html")
	if err != nil {
		return err
	}
	mePage, err := fs.ReadFile(web.FS, "me.html")
	if err != nil {
		return err
	}
	api, err := verifier.NewClaimsAPI(verifier.ClaimsAPIConfig{
		Claims: claims, Viewers: viewers, Nodes: nodes,
		ClaimPage: claimPage, ReceiptPage: receiptPage, MePage: mePage, PublicURL: cfg.PublicURL, Asset: web.AssetURL,
		QRSVG:      overlay.QRSVG,
		RateIP:     claimLimit(cfg.ClaimRateIP),
		RateDevice: claimLimit(cfg.ClaimRateDevice),
		PowBits:    cfg.ClaimPowBits,
		Logger:     a.log.With().Str("component", "claims").Logger(),
	})
	if err != nil {
		return err
	}
	api.Register(a.server.Handle)

	// Every replica writes the configured stock that the store does not
	// have yet (HSETNX): idempotent, and a claim that finds a line missing
	// initialises it the same way, so a store that is down now is no harm.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i := range cfg.Drops {
		if err := claims.InitStock(ctx, &cfg.Drops[i]); err != nil {
			a.log.Warn().Err(err).Str("drop", cfg.Drops[i].ID).Msg("claims: stock not initialised yet; the first claim will")
			break
		}
	}
	return nil
}

// claimLimit is a rate per second with bursts of three times the rate; a
// rate <= 0 (-1 in the configuration) is no limit.
func claimLimit(rate int) store.Limit {
	if rate <= 0 {
		return store.Limit{}
	}
	return store.Limit{Rate: rate, Burst: 3 * rate, Period: time.Second}
}

// codeResolver maps overlay.Codes' errors to the verifier's.
type codeResolver struct{ c *overlay.Codes }

func (r codeResolver) Resolve(ctx context.Context, code string, now time.Time) (string, time.Time, error) {
	drop, at, err := r.c.Resolve(ctx, code, now)
	switch {
	case errors.Is(err, overlay.ErrUnknownCode):
		err = verifier.ErrUnknownCode
	case errors.Is(err, overlay.ErrCodeExpired):
		err = verifier.ErrCodeExpired
	case errors.Is(err, overlay.ErrDropClosed):
		err = verifier.ErrDropClosed
	}
	return drop, at, err
}
