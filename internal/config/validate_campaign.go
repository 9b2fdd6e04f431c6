package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/schedule"
)

// tiers checks the tiers section and returns the set of tier ids.
func (k *checker) tiers() map[string]bool {
	c := k.c
	ids := k.ids("tiers", len(c.Tiers), func(i int) string { return c.Tiers[i].ID })
	for i := range c.Tiers {
		t, path := &c.Tiers[i], fmt.Sprintf("tiers[%d]", i)
		if t.PickupSLA < 0 || t.PickupSLA == 0 && k.c.written(path+".pickup_sla") {
			k.add(path+".pickup_sla", "must be greater than 0 (leave it out to use the node's)")
		}
		if t.MaxReadyPerHour < 0 {
			k.add(path+".max_ready_per_hour", "must not be negative (leave it out for no cap)")
		}
	}
	return ids
}

// stockTiers checks that every stock line of a drop names a defined tier,
// once the file defines any: before that, a tier is only a label.
func (k *checker) stockTiers(path string, d *Drop) {
	if len(k.c.Tiers) == 0 {
		return
	}
	for i, l := range d.Stock {
		if _, ok := k.c.Tier(l.Tier); !ok {
			k.add(fmt.Sprintf("%s.stock[%d].tier", path, i), "unknown tier %q: define it under tiers (id, pickup_sla, max_ready_per_hour)", clip(l.Tier))
		}
	}
}

// nodeHours checks a node's opening hours and time zone.
func (k *checker) nodeHours(path string, n *Node) {
	var loc *time.Location
	if n.Timezone != "" {
		l, err := time.LoadLocation(n.Timezone)
		if err != nil {
			k.add(path+".timezone", "unknown time zone %q: use an IANA name such as Europe/Berlin or America/New_York", clip(n.Timezone))
		} else {
			loc = l
		}
	} else if len(n.Open) > 0 {
		k.add(path+".timezone", "is required with open: the time zone the hours are written in, e.g. Europe/Berlin")
	}
	if loc == nil {
		return
	}
	for i, s := range n.Open {
		if _, err := schedule.ParseRule(s, loc); err != nil {
			k.add(fmt.Sprintf("%s.open[%d]", path, i), "%v", err)
		}
	}
}

// campaigns checks the campaigns section: times, drops (each in one
// campaign at most, of the campaign's creator), regions and their windows,
// and that every node a campaign's drops have stock at is in one of its
// regions.
func (k *checker) campaigns(creators map[string]bool) {
	c := k.c
	k.ids("campaigns", len(c.Campaigns), func(i int) string { return c.Campaigns[i].ID })
	owner := make(map[string]string) // drop → path of its first listing
	for i := range c.Campaigns {
		k.campaign(fmt.Sprintf("campaigns[%d]", i), &c.Campaigns[i], creators, owner)
	}
}

func (k *checker) campaign(path string, cp *Campaign, creators map[string]bool, owner map[string]string) {
	k.creatorRef(path+".creator", cp.Creator, creators)
	if cp.Title == "" {
		k.add(path+".title", "is required: the announcement page's heading")
	} else if msg := DescriptionProblem(cp.Title); msg != "" || len(cp.Title) > 200 {
		k.add(path+".title", "must be plain text of at most 200 bytes")
	}
	starts, okS := k.instant(path+".starts_at", cp.StartsAt)
	ends, okE := k.instant(path+".ends_at", cp.EndsAt)
	running := okS && okE
	if running && !ends.After(starts) {
		k.add(path+".ends_at", "ends before it starts (starts_at %s)", cp.StartsAt)
		running = false
	}
	if len(cp.Drops) == 0 {
		k.add(path+".drops", "at least one drop is required")
	}
	regions := make(map[string]bool)
	for i := range cp.Regions {
		r, rp := &cp.Regions[i], fmt.Sprintf("%s.regions[%d]", path, i)
		if k.id(rp+".id", r.ID) {
			if regions[r.ID] {
				k.add(rp+".id", "duplicate region %q in this campaign", r.ID)
			}
			regions[r.ID] = true
		}
		if r.Timezone == "" {
			k.add(rp+".timezone", "is required: the time zone the windows are written in, e.g. Europe/Berlin")
			continue
		}
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil {
			k.add(rp+".timezone", "unknown time zone %q: use an IANA name such as Europe/Berlin or America/New_York", clip(r.Timezone))
			continue
		}
		var parsed []schedule.Window
		for j, s := range r.Windows {
			wp := fmt.Sprintf("%s.windows[%d]", rp, j)
			w, err := schedule.ParseWindow(s, loc)
			switch {
			case err != nil:
				k.add(wp, "%v", err)
				continue
			case running && (w.Start.Before(starts) || w.End.After(ends)):
				k.add(wp, "lies outside the campaign (%s to %s): no claim could use it", cp.StartsAt, cp.EndsAt)
			}
			for _, o := range parsed {
				if w.Start.Before(o.End) && o.Start.Before(w.End) {
					k.add(wp, "overlaps another window of this region")
					break
				}
			}
			parsed = append(parsed, w)
		}
	}
	for i, id := range cp.Drops {
		dp := fmt.Sprintf("%s.drops[%d]", path, i)
		d, ok := k.c.dropByScan(id)
		if !ok {
			k.add(dp, "unknown drop %q", clip(id))
			continue
		}
		if first, dup := owner[id]; dup {
			if other, api := strings.CutPrefix(first, "campaign:"); api {
				k.add(dp, "drop %q is already in campaign %q: a drop belongs to one campaign at most", id, other)
			} else {
				_, line := k.c.at(first)
				k.add(dp, "drop %q is already in a campaign (line %d): a drop belongs to one campaign at most", id, line)
			}
			continue
		}
		owner[id] = dp
		if cp.Creator != "" && d.Creator != cp.Creator {
			k.add(dp, "drop %q belongs to creator %q, not to the campaign's creator %q", id, d.Creator, cp.Creator)
		}
		for _, l := range d.Stock {
			n, ok := k.c.nodeByScan(l.Node)
			if ok && n.Region == "" {
				k.add(dp, "drop %q has stock at node %q, which has no region: give it one of this campaign's regions", id, n.ID)
				break
			}
			if ok && !regions[n.Region] {
				k.add(dp, "drop %q has stock at node %q of region %q, which this campaign has no entry for in regions", id, n.ID, n.Region)
				break
			}
		}
	}
}

// instant checks an RFC 3339 instant with its offset.
func (k *checker) instant(path, s string) (time.Time, bool) {
	if s == "" {
		k.add(path, "is required: an RFC 3339 time with its offset, e.g. 2026-12-05T00:00:00+01:00")
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		k.add(path, "%q is not an RFC 3339 time with its offset, e.g. 2026-12-05T00:00:00+01:00", clip(s))
		return time.Time{}, false
	}
	return t, true
}

func (c *Config) nodeByScan(id string) (*Node, bool) {
	return lookup(c.Nodes, nil, id, func(v *Node) string { return v.ID })
}

// CheckCampaign validates a campaign created or changed through the admin
// API, as Validate would one of the file, against c's creators and nodes,
// the drops there are (drops, the file's and the API's) and the other
// campaigns (a drop belongs to one at most). Problems have Path
// "campaign…" and no line. It does not check that cp.ID is unused. On
// success cp's schedule is parsed once for its lookups.
func (c *Config) CheckCampaign(cp *Campaign, drops []Drop, others []Campaign) error {
	k := &checker{c: &Config{Creators: c.Creators, Nodes: c.Nodes, Drops: drops}, api: true}
	owner := make(map[string]string)
	for _, o := range others {
		if o.ID == cp.ID {
			continue
		}
		for _, d := range o.Drops {
			owner[d] = "campaign:" + o.ID
		}
	}
	k.id("campaign.id", cp.ID)
	k.campaign("campaign", cp, nil, owner)
	if len(k.problems) > 0 {
		return &Error{Problems: k.problems}
	}
	if s, err := cp.parse(); err == nil {
		cp.sched = s
	}
	return nil
}
