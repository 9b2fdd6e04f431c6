package config

import (
	"fmt"
	"time"

	"github.com/dropwire/dropwire/internal/schedule"
)

// Tier is a class of stock (a stock line's tier) with its own pickup SLA
// and pace.
type Tier struct {
	ID string `yaml:"id" json:"id"`
	// PickupSLA, when set, is the pickup deadline of the tier's claims,
	// over the node's pickup_sla.
	PickupSLA Duration `yaml:"pickup_sla" json:"pickup_sla,omitempty"`
	// MaxReadyPerHour, when above zero, caps how many claims of the tier
	// one node is asked to prepare per hour.
	MaxReadyPerHour int `yaml:"max_ready_per_hour" json:"max_ready_per_hour,omitempty"`
}

// Campaign is an announced run of drops: it opens on their triggers only
// between StartsAt and EndsAt, and takes claims for stock at a node of a
// region only inside that region's windows.
type Campaign struct {
	ID      string `yaml:"id" json:"id"`
	Creator string `yaml:"creator" json:"creator"`
	Title   string `yaml:"title" json:"title"`
	// StartsAt and EndsAt are RFC 3339 instants with their offset, e.g.
	// "2026-12-05T00:00:00+01:00".
	StartsAt string   `yaml:"starts_at" json:"starts_at"`
	EndsAt   string   `yaml:"ends_at" json:"ends_at"`
	Drops    []string `yaml:"drops" json:"drops"`
	Regions  []Region `yaml:"regions" json:"regions"`

	// sched is the parsed schedule, set by Validate.
	sched *CampaignSchedule
}

// Region is a campaign's claim windows for the nodes of one region (a
// node's region), written in local time of Timezone: "2026-12-05T18:00/
// 2026-12-05T20:00". A region without windows is open while the campaign
// runs.
type Region struct {
	ID       string   `yaml:"id" json:"id"`
	Timezone string   `yaml:"timezone" json:"timezone"`
	Windows  []string `yaml:"windows" json:"windows"`
}

// CampaignSchedule is a campaign's times, parsed.
type CampaignSchedule struct {
	Starts, Ends time.Time
	Regions      map[string]*RegionSchedule
}

// RegionSchedule is one region's windows, parsed and sorted.
type RegionSchedule struct {
	ID       string
	Location *time.Location
	Windows  schedule.Windows
}

// Running reports whether the campaign runs at t.
func (s *CampaignSchedule) Running(t time.Time) bool {
	return !t.Before(s.Starts) && t.Before(s.Ends)
}

// RegionOpen reports whether claims for stock in region are taken at t,
// and if not, the next window that opens (ok false: none is left). A
// region the campaign does not list, or lists without windows, is open
// while the campaign runs.
func (s *CampaignSchedule) RegionOpen(region string, t time.Time) (open bool, next schedule.Window, ok bool) {
	r := s.Regions[region]
	if r == nil || len(r.Windows) == 0 {
		if s.Running(t) {
			return true, schedule.Window{}, false
		}
		if t.Before(s.Starts) {
			return false, schedule.Window{Start: s.Starts, End: s.Ends}, true
		}
		return false, schedule.Window{}, false
	}
	if _, in := r.Windows.At(t); in && s.Running(t) {
		return true, schedule.Window{}, false
	}
	next, ok = r.Windows.Next(t)
	return false, next, ok
}

// Schedule returns the campaign's times, parsed: Validate (or
// CheckCampaign) has checked them, and this only reads them again when
// the campaign was built in code.
func (c *Campaign) Schedule() (*CampaignSchedule, error) {
	if c.sched != nil {
		return c.sched, nil
	}
	return c.parse()
}

// Prepare parses the campaign's times once, so that Schedule does not
// read them again on every call.
func (c *Campaign) Prepare() error {
	s, err := c.parse()
	if err == nil {
		c.sched = s
	}
	return err
}

func (c *Campaign) parse() (*CampaignSchedule, error) {
	s := &CampaignSchedule{Regions: make(map[string]*RegionSchedule, len(c.Regions))}
	var err error
	if s.Starts, err = time.Parse(time.RFC3339, c.StartsAt); err != nil {
		return nil, fmt.Errorf("campaign %s: starts_at: %w", c.ID, err)
	}
	if s.Ends, err = time.Parse(time.RFC3339, c.EndsAt); err != nil {
		return nil, fmt.Errorf("campaign %s: ends_at: %w", c.ID, err)
	}
	for _, r := range c.Regions {
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: region %s: %w", c.ID, r.ID, err)
		}
		rs := &RegionSchedule{ID: r.ID, Location: loc}
		ws := make([]schedule.Window, 0, len(r.Windows))
		for _, w := range r.Windows {
			pw, err := schedule.ParseWindow(w, loc)
			if err != nil {
				return nil, fmt.Errorf("campaign %s: region %s: %w", c.ID, r.ID, err)
			}
			ws = append(ws, pw)
		}
		rs.Windows = schedule.Sorted(ws)
		s.Regions[r.ID] = rs
	}
	return s, nil
}

// OpenHours returns the node's opening hours; always open when it has no
// open entries (or they do not read: Validate refuses those).
func (n *Node) OpenHours() schedule.Hours {
	if n.hours != nil {
		return *n.hours
	}
	h, _ := n.parseHours()
	return h
}

func (n *Node) parseHours() (schedule.Hours, error) {
	if len(n.Open) == 0 {
		return schedule.Hours{}, nil
	}
	loc, err := time.LoadLocation(n.Timezone)
	if err != nil || n.Timezone == "" {
		return schedule.Hours{}, fmt.Errorf("node %s: timezone %q", n.ID, n.Timezone)
	}
	return schedule.ParseHours(n.Open, loc)
}

// Tier returns the tier with the given id.
func (c *Config) Tier(id string) (*Tier, bool) {
	return lookup(c.Tiers, nil, id, func(v *Tier) string { return v.ID })
}

// Campaign returns the campaign of the file with the given id.
func (c *Config) Campaign(id string) (*Campaign, bool) {
	return lookup(c.Campaigns, nil, id, func(v *Campaign) string { return v.ID })
}

// PickupSLA is the pickup SLA of a claim of tier at node n: the tier's,
// else the node's, else DefaultPickupSLA. n may be nil.
func (c *Config) PickupSLA(n *Node, tier string) time.Duration {
	t, _ := c.Tier(tier)
	return PickupSLA(n, t)
}

// PickupSLA is the pickup SLA of a claim of tier t at node n: the tier's,
// else the node's, else DefaultPickupSLA. n and t may be nil.
func PickupSLA(n *Node, t *Tier) time.Duration {
	if t != nil && t.PickupSLA > 0 {
		return t.PickupSLA.D()
	}
	if n != nil && n.PickupSLA > 0 {
		return n.PickupSLA.D()
	}
	return DefaultPickupSLA
}

// PickupDeadline is when a claim of tier at node n, whose SLA clock starts
// at from, must be picked up: the SLA counted in the node's open time.
func (c *Config) PickupDeadline(n *Node, tier string, from time.Time) time.Time {
	t, _ := c.Tier(tier)
	return PickupDeadline(n, t, from)
}

// PickupDeadline is when a claim of tier t at node n, whose SLA clock
// starts at from, must be picked up: the SLA counted in the node's open
// time. n and t may be nil.
func PickupDeadline(n *Node, t *Tier, from time.Time) time.Time {
	sla := PickupSLA(n, t)
	if n == nil {
		return from.Add(sla)
	}
	return n.OpenHours().AddOpen(from, sla)
}

// cacheSchedules parses the campaigns' and nodes' times once, after
// validation.
func (c *Config) cacheSchedules() {
	for i := range c.Campaigns {
		if s, err := c.Campaigns[i].parse(); err == nil {
			c.Campaigns[i].sched = s
		}
	}
	for i := range c.Nodes {
		if h, err := c.Nodes[i].parseHours(); err == nil {
			c.Nodes[i].hours = &h
		}
	}
}
