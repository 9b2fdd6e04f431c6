package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
)

// Campaigns of the admin API: created, read, and changed until they
// start. A campaign of the configuration file is read-only here.
//
//	admin:campaigns             campaign id → config.Campaign (JSON) of
//	                            campaigns created through the API
//	admin:campaigns (channel)   "<campaign id>" announces a stored one
//
// Like admin:drops, the hash is read by the admin API and by each
// replica's sync (every Sync, and on an announcement), never on a claim
// or an event: campaign lookups on those paths are in memory.
const (
	campaignsKey     = "admin:campaigns"
	campaignsChannel = "admin:campaigns"
)

// CampaignBook is the process's campaigns (*verifier.CampaignBook).
type CampaignBook interface {
	Campaign(id string) (*config.Campaign, bool)
	Put(c config.Campaign)
	All() []*config.Campaign
}

// CampaignView is a campaign as the API shows it.
type CampaignView struct {
	config.Campaign
	// Source is "config" for a campaign of the file, "api" otherwise.
	Source string `json:"source"`
	// Status is upcoming, running or ended.
	Status string `json:"status"`
	// Announcement is the public page's URL.
	Announcement string `json:"announcement"`
}

// Campaign errors.
var (
	ErrCampaignExists   = errors.New("admin: campaign exists")
	ErrUnknownCampaign  = errors.New("admin: unknown campaign")
	ErrCampaignStarted  = errors.New("admin: campaign has started")
	ErrCampaignInConfig = errors.New("admin: campaign of the configuration file")
)

func (a *Admin) campaignRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/admin/campaigns":                 a.guard(a.listCampaigns),
		"POST /v1/admin/campaigns":                a.guard(a.createCampaign),
		"GET /v1/admin/campaigns/{id}":            a.guard(a.getCampaign),
		"PUT /v1/admin/campaigns/{id}":            a.guard(a.putCampaign),
		"GET /v1/admin/campaigns/{id}/report":     a.guard(a.report(false)),
		"GET /v1/admin/campaigns/{id}/report.csv": a.guard(a.report(true)),
	}
}

func (a *Admin) campaignView(c *config.Campaign) CampaignView {
	v := CampaignView{Campaign: *c, Source: "api", Announcement: a.cfg.Config.PublicURL + "/a/" + c.ID}
	if v.Drops == nil {
		v.Drops = []string{}
	}
	if v.Regions == nil {
		v.Regions = []config.Region{}
	}
	if _, ok := a.cfg.Config.Campaign(c.ID); ok {
		v.Source = "config"
	}
	if s, err := c.Schedule(); err == nil {
		switch now := a.now(); {
		case now.Before(s.Starts):
			v.Status = "upcoming"
		case s.Running(now):
			v.Status = "running"
		default:
			v.Status = "ended"
		}
	}
	return v
}

// SaveCampaign checks c and stores it: created when create is set (the id
// must be new), else replacing a stored campaign that has not started.
// Errors: *config.Error, ErrCampaignExists, ErrUnknownCampaign,
// ErrCampaignStarted, ErrCampaignInConfig, store errors.
func (a *Admin) SaveCampaign(ctx context.Context, c config.Campaign, create bool) (*config.Campaign, error) {
	if a.cfg.Campaigns == nil {
		return nil, ErrUnknownCampaign
	}
	// The store decides, not this replica's book, which may not have
	// heard of a campaign another replica just saved.
	if err := a.loadCampaigns(ctx); err != nil {
		return nil, err
	}
	_, inConfig := a.cfg.Config.Campaign(c.ID)
	switch {
	case inConfig && create:
		return nil, ErrCampaignExists
	case inConfig:
		return nil, ErrCampaignInConfig
	case !create:
		js, err := a.st.HGet(ctx, campaignsKey, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnknownCampaign
		}
		if err != nil {
			return nil, err
		}
		var old config.Campaign
		if err := json.Unmarshal([]byte(js), &old); err != nil {
			return nil, err
		}
		if s, err := old.Schedule(); err == nil && !a.now().Before(s.Starts) {
			return nil, ErrCampaignStarted
		}
	}
	var drops []config.Drop
	for _, d := range a.cfg.Drops.All("") {
		drops = append(drops, *d)
	}
	var others []config.Campaign
	for _, o := range a.cfg.Campaigns.All() {
		others = append(others, *o)
	}
	if err := a.cfg.Config.CheckCampaign(&c, drops, others); err != nil {
		return nil, err
	}
	js, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	if create {
		raw, err := a.st.Run(ctx, hsetnxScript, []string{campaignsKey}, c.ID, string(js))
		if err != nil {
			return nil, err
		}
		if n, _ := raw.(int64); n == 0 {
			return nil, ErrCampaignExists
		}
	} else if err := a.st.HSet(ctx, campaignsKey, map[string]string{c.ID: string(js)}); err != nil {
		return nil, err
	}
	a.cfg.Campaigns.Put(c)
	if err := a.st.Publish(ctx, campaignsChannel, []byte(c.ID)); err != nil {
		a.log.Warn().Err(err).Str("campaign", c.ID).Msg("admin: campaign not announced; other replicas see it within the sync period")
	}
	a.log.Info().Str("campaign", c.ID).Bool("created", create).Msg("admin: campaign saved")
	stored, _ := a.cfg.Campaigns.Campaign(c.ID)
	return stored, nil
}

// loadCampaigns puts every stored campaign into the book.
func (a *Admin) loadCampaigns(ctx context.Context) error {
	if a.cfg.Campaigns == nil {
		return nil
	}
	all, err := a.st.HGetAll(ctx, campaignsKey)
	if err != nil {
		return err
	}
	for id, js := range all {
		a.putStoredCampaign(id, js)
	}
	return nil
}

func (a *Admin) putStoredCampaign(id, js string) {
	if _, inConfig := a.cfg.Config.Campaign(id); inConfig {
		return // the file's definition wins
	}
	var c config.Campaign
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		a.log.Error().Err(err).Str("campaign", id).Msg("admin: stored campaign unreadable")
		return
	}
	if err := c.Prepare(); err != nil {
		a.log.Error().Err(err).Str("campaign", id).Msg("admin: stored campaign invalid")
		return
	}
	if old, ok := a.cfg.Campaigns.Campaign(id); ok && sameCampaign(old, &c) {
		return
	}
	a.cfg.Campaigns.Put(c)
}

func sameCampaign(a, b *config.Campaign) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// campaignLoop follows campaign announcements and re-reads every stored
// campaign each Sync.
func (a *Admin) campaignLoop(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Sync)
	defer tick.Stop()
	store.Follow(ctx, a.st, campaignsChannel, nil, func(sub store.Subscription) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := a.loadCampaigns(rctx); err != nil {
			a.log.Warn().Err(err).Msg("admin: campaign sync failed")
		}
		cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if err := a.loadCampaigns(rctx); err != nil {
					a.log.Warn().Err(err).Msg("admin: campaign sync failed")
				}
				cancel()
			case m, ok := <-sub.C():
				if !ok {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if js, err := a.st.HGet(rctx, campaignsKey, string(m.Payload)); err == nil {
					a.putStoredCampaign(string(m.Payload), js)
				}
				cancel()
			}
		}
	})
}

func (a *Admin) listCampaigns(w http.ResponseWriter, _ *http.Request) {
	out := []CampaignView{}
	if a.cfg.Campaigns != nil {
		for _, c := range a.cfg.Campaigns.All() {
			out = append(out, a.campaignView(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
}

func (a *Admin) getCampaign(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Campaigns == nil {
		a.campaignError(w, ErrUnknownCampaign)
		return
	}
	c, ok := a.cfg.Campaigns.Campaign(r.PathValue("id"))
	if !ok {
		a.campaignError(w, ErrUnknownCampaign)
		return
	}
	writeJSON(w, http.StatusOK, a.campaignView(c))
}

func (a *Admin) createCampaign(w http.ResponseWriter, r *http.Request) {
	var c config.Campaign
	if p := decode(w, r, &c); p != nil {
		problem.Write(w, p)
		return
	}
	saved, err := a.SaveCampaign(r.Context(), c, true)
	if err != nil {
		a.campaignError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/admin/campaigns/"+saved.ID)
	writeJSON(w, http.StatusCreated, a.campaignView(saved))
}

func (a *Admin) putCampaign(w http.ResponseWriter, r *http.Request) {
	var c config.Campaign
	if p := decode(w, r, &c); p != nil {
		problem.Write(w, p)
		return
	}
	id := r.PathValue("id")
	if c.ID == "" {
		c.ID = id
	}
	if c.ID != id {
		problem.Respond(w, http.StatusUnprocessableEntity, "invalid_campaign", "the body's id must be the path's (or absent)")
		return
	}
	saved, err := a.SaveCampaign(r.Context(), c, false)
	if err != nil {
		a.campaignError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.campaignView(saved))
}

func (a *Admin) campaignError(w http.ResponseWriter, err error) {
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		problems := make([]map[string]string, 0, len(ce.Problems))
		for _, p := range ce.Problems {
			problems = append(problems, map[string]string{"path": p.Path, "message": p.Msg})
		}
		problem.Write(w, problem.New(http.StatusUnprocessableEntity, "invalid_campaign", ce.Error()).With("problems", problems))
	case errors.Is(err, ErrCampaignExists):
		problem.Respond(w, http.StatusConflict, "campaign_exists", "a campaign with this id exists already")
	case errors.Is(err, ErrUnknownCampaign):
		problem.Respond(w, http.StatusNotFound, "unknown_campaign", "no campaign with this id")
	case errors.Is(err, ErrCampaignStarted):
		problem.Respond(w, http.StatusConflict, "campaign_started", "the campaign has started: it can no longer be changed")
	case errors.Is(err, ErrCampaignInConfig):
		problem.Respond(w, http.StatusConflict, "config_campaign", "this campaign is defined in the configuration file: change it there")
	default:
		a.storeProblem(w, "campaign not saved", err)
	}
}
