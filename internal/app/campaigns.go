package app

import (
	"io/fs"
	"net/url"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

// wireCampaigns serves the announcement page of every campaign and the
// calendars of its regions.
func (a *App) wireCampaigns() error {
	cfg := a.cfg
	page, err := fs.ReadFile(web.FS, "campaign.html")
	if err != nil {
		return err
	}
	signIn := ""
	if u, err := url.Parse(cfg.ViewerIssuer); err == nil && u.Host != "" {
		signIn = u.Host
	}
	pages, err := verifier.NewCampaignPages(verifier.CampaignPagesConfig{
		Campaigns: a.campaigns,
		Drops:     a.drops,
		Nodes:     func(id string) (*config.Node, bool) { return cfg.Node(id) },
		Tiers:     cfg.Tier,
		Page:      page,
		Asset:     web.AssetURL,
		PublicURL: cfg.PublicURL,
		SignIn:    signIn,
		Logger:    a.log.With().Str("component", "campaigns").Logger(),
	})
	if err != nil {
		return err
	}
	pages.Register(a.server.Handle)
	return nil
}

// campaignOf names a drop's campaign.
func (a *App) campaignOf(drop string) (string, bool) {
	c, ok := a.campaigns.CampaignOf(drop)
	if !ok {
		return "", false
	}
	return c.ID, true
}
