package verifier

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/schedule"
)

// The announcement page of a campaign (GET /a/{campaign}) and the
// calendar of each of its regions (GET /a/{campaign}/{region}.ics): the
// link a creator posts before the stream. The page says what the drops
// are, when and where each region's claims open (in the region's time
// zone, and in the viewer's, which its script works out from the UTC
// instants), where to pick up and how fast, what a claim asks of the
// viewer, how long an on-stream code works and what happens when a pickup
// fails.

// CampaignPagesConfig configures CampaignPages.
type CampaignPagesConfig struct {
	Campaigns interface {
		Campaign(id string) (*config.Campaign, bool)
	}
	Drops Drops
	Nodes func(id string) (*config.Node, bool)
	Tiers func(id string) (*config.Tier, bool)
	// Page is the html/template of the page; Asset names a static file.
	Page      []byte
	Asset     func(name string) string
	PublicURL string
	// SignIn names the login viewers of identity-token drops use.
	SignIn string
	Now    func() time.Time
	Logger zerolog.Logger
}

// CampaignPages serves announcement pages and calendars. Safe for
// concurrent use.
type CampaignPages struct {
	cfg  CampaignPagesConfig
	page *template.Template
}

// NewCampaignPages returns the pages.
func NewCampaignPages(cfg CampaignPagesConfig) (*CampaignPages, error) {
	if cfg.Campaigns == nil || cfg.Drops == nil || len(cfg.Page) == 0 {
		return nil, errors.New("verifier: CampaignPagesConfig needs Campaigns, Drops and Page")
	}
	if cfg.Nodes == nil {
		cfg.Nodes = func(string) (*config.Node, bool) { return nil, false }
	}
	if cfg.Tiers == nil {
		cfg.Tiers = func(string) (*config.Tier, bool) { return nil, false }
	}
	if cfg.Asset == nil {
		cfg.Asset = func(n string) string { return "/static/" + n }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SignIn == "" {
		cfg.SignIn = "your account"
	}
	page, err := template.New("campaign").Parse(string(cfg.Page))
	if err != nil {
		return nil, fmt.Errorf("verifier: campaign page: %w", err)
	}
	return &CampaignPages{cfg: cfg, page: page}, nil
}

// Register adds the routes.
func (p *CampaignPages) Register(handle func(pattern string, h http.Handler)) {
	handle("GET /a/{campaign}", http.HandlerFunc(p.servePage))
	handle("GET /a/{campaign}/{file}", http.HandlerFunc(p.serveCalendar))
}

type windowView struct {
	Start, End string // RFC 3339, UTC
	Local      string // in the region's time zone, in words
}

type campaignDropView struct {
	ID, Title, Description, Image string
	Verification, CodeTTL, Window string
	Policy                        string
	PerViewer                     int
}

type campaignNodeView struct {
	ID, Name, Address, Hours, Timezone, PickupSLA string
	Open                                          []string
	PopUp                                         bool
}

type campaignRegionView struct {
	ID, Timezone, ICS string
	Windows           []windowView
	Nodes             []campaignNodeView
}

type tierView struct {
	ID, SLA string
	Cap     int
}

type campaignView struct {
	ID, Title, Creator string
	Run                windowView
	Status             string // upcoming, running, ended
	Drops              []campaignDropView
	Regions            []campaignRegionView
	Tiers              []tierView
	CSS, JS            string
}

func (p *CampaignPages) campaign(w http.ResponseWriter, r *http.Request) (*config.Campaign, *config.CampaignSchedule, bool) {
	c, ok := p.cfg.Campaigns.Campaign(r.PathValue("campaign"))
	if !ok {
		problem.Respond(w, http.StatusNotFound, "unknown_campaign", "no campaign has this id")
		return nil, nil, false
	}
	s, err := c.Schedule()
	if err != nil {
		p.cfg.Logger.Error().Err(err).Str("campaign", c.ID).Msg("campaign page: schedule")
		problem.Respond(w, http.StatusInternalServerError, "internal", "the campaign's schedule could not be read")
		return nil, nil, false
	}
	return c, s, true
}

func (p *CampaignPages) servePage(w http.ResponseWriter, r *http.Request) {
	c, s, ok := p.campaign(w, r)
	if !ok {
		return
	}
	v, images := p.view(r, c, s)
	var b bytes.Buffer
	if err := p.page.Execute(&b, v); err != nil {
		p.cfg.Logger.Error().Err(err).Msg("campaign page: render")
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", campaignPageCSP(images))
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}

var identityText = map[string]string{
	config.IdentityDevice: "No sign-up: the phone you claim with is your ticket.",
	config.IdentityEmail:  "Your email address, to keep it to one claim per person (only a one-way fingerprint of it is kept).",
}

func (p *CampaignPages) view(r *http.Request, c *config.Campaign, s *config.CampaignSchedule) (*campaignView, []string) {
	now := p.cfg.Now()
	v := &campaignView{ID: c.ID, Title: c.Title, Creator: c.Creator, CSS: p.cfg.Asset("campaign.css"), JS: p.cfg.Asset("campaign.js"),
		Run: windowOf(schedule.Window{Start: s.Starts, End: s.Ends}, time.UTC)}
	switch {
	case now.Before(s.Starts):
		v.Status = "upcoming"
	case s.Running(now):
		v.Status = "running"
	default:
		v.Status = "ended"
	}
	var images []string
	nodes := map[string][]string{} // region → node ids, in stock order
	tiers := []string{}
	for _, id := range c.Drops {
		d, err := p.cfg.Drops.Drop(r.Context(), id)
		if err != nil {
			continue
		}
		dv := campaignDropView{ID: d.ID, Title: d.Title, Description: d.Description, Image: d.Image,
			Verification: identityText[d.Identity], Policy: pagePolicy[d.Compensation.Kind], PerViewer: max(d.PerViewer, 1),
			CodeTTL: humanDuration(d.QRRotate.D() + d.ScanGrace.D()), Window: humanDuration(d.Window.D())}
		if dv.Title == "" {
			dv.Title = d.ID
		}
		if d.Identity == config.IdentityToken {
			dv.Verification = "Sign in with " + p.cfg.SignIn + " to claim."
		}
		if d.Image != "" {
			images = append(images, d.Image)
		}
		v.Drops = append(v.Drops, dv)
		for _, l := range d.Stock {
			region := ""
			if n, ok := p.cfg.Nodes(l.Node); ok {
				region = n.Region
			}
			if !slices.Contains(nodes[region], l.Node) {
				nodes[region] = append(nodes[region], l.Node)
			}
			if !slices.Contains(tiers, l.Tier) {
				tiers = append(tiers, l.Tier)
			}
		}
	}
	for _, id := range tiers {
		tv := tierView{ID: id, SLA: "as each pickup point says below"}
		if t, ok := p.cfg.Tiers(id); ok {
			if t.PickupSLA > 0 {
				tv.SLA = "within " + humanDuration(t.PickupSLA.D()) + " of opening hours"
			}
			tv.Cap = t.MaxReadyPerHour
		}
		v.Tiers = append(v.Tiers, tv)
	}
	for _, reg := range c.Regions {
		rs := s.Regions[reg.ID]
		if rs == nil {
			continue
		}
		rv := campaignRegionView{ID: reg.ID, Timezone: reg.Timezone, ICS: "/a/" + url.PathEscape(c.ID) + "/" + url.PathEscape(reg.ID) + ".ics"}
		for _, win := range regionWindows(s, rs) {
			rv.Windows = append(rv.Windows, windowOf(win, rs.Location))
		}
		for _, id := range nodes[reg.ID] {
			n, ok := p.cfg.Nodes(id)
			if !ok {
				continue
			}
			nv := campaignNodeView{ID: n.ID, Name: n.Name, Address: n.Address, Hours: n.Hours, Timezone: n.Timezone,
				Open: n.Open, PopUp: n.OpenHours().PopUp()}
			if nv.Name == "" {
				nv.Name = n.ID
			}
			sla := n.PickupSLA.D()
			if sla <= 0 {
				sla = config.DefaultPickupSLA
			}
			nv.PickupSLA = humanDuration(sla)
			rv.Nodes = append(rv.Nodes, nv)
		}
		v.Regions = append(v.Regions, rv)
	}
	return v, images
}

// regionWindows are a region's claim windows; a region without windows
// takes claims for the whole campaign.
func regionWindows(s *config.CampaignSchedule, rs *config.RegionSchedule) []schedule.Window {
	if len(rs.Windows) == 0 {
		return []schedule.Window{{Start: s.Starts, End: s.Ends}}
	}
	return rs.Windows
}

func windowOf(w schedule.Window, loc *time.Location) windowView {
	s, e := w.Start.In(loc), w.End.In(loc)
	local := s.Format("Mon 2 Jan 2006, 15:04") + "–" + e.Format("15:04")
	if s.Year() != e.Year() || s.YearDay() != e.YearDay() {
		local = s.Format("Mon 2 Jan 2006, 15:04") + " – " + e.Format("Mon 2 Jan 2006, 15:04")
	}
	return windowView{Start: w.Start.UTC().Format(time.RFC3339), End: w.End.UTC().Format(time.RFC3339),
		Local: local + " " + e.Format("MST")}
}

func (p *CampaignPages) serveCalendar(w http.ResponseWriter, r *http.Request) {
	region, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
	if !ok {
		problem.Respond(w, http.StatusNotFound, "not_found", "calendars are /a/{campaign}/{region}.ics")
		return
	}
	c, s, ok := p.campaign(w, r)
	if !ok {
		return
	}
	rs := s.Regions[region]
	if rs == nil {
		problem.Respond(w, http.StatusNotFound, "unknown_region", "this campaign has no such region")
		return
	}
	page := strings.TrimRight(p.cfg.PublicURL, "/") + "/a/" + url.PathEscape(c.ID)
	host := "dropwire"
	if u, err := url.Parse(p.cfg.PublicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	cal := Calendar{
		Name:        c.Title + " · " + region,
		Summary:     c.Title + ": claims open (" + region + ")",
		Description: "Claims for pickup in " + region + " are open in this window. Details: " + page,
		URL:         page,
		UIDDomain:   host,
		UIDPrefix:   c.ID + "-" + region,
		Windows:     regionWindows(s, rs),
		Stamp:       p.cfg.Now(),
	}
	body := cal.Bytes()
	h := w.Header()
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+c.ID+"-"+region+`.ics"`)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// campaignPageCSP is the claim page's policy, with the hosts of the
// drops' images.
func campaignPageCSP(images []string) string {
	img := []string{"'self'"}
	for _, im := range images {
		if u, err := url.Parse(im); err == nil && u.Scheme == "https" && u.Host != "" && config.ImageProblem(im) == "" {
			if h := "https://" + u.Host; !slices.Contains(img, h) {
				img = append(img, h)
			}
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + strings.Join(img, " ") +
		"; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}
