package verifier

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/schedule"
)

// MomentOutsideWindow is what a drop.trigger of a campaign's drop does
// outside the campaign's run: it is recorded and opens nothing.
const MomentOutsideWindow = "outside_window"

// Campaigns finds the campaign a drop belongs to, if any.
type Campaigns interface {
	CampaignOf(drop string) (*config.Campaign, bool)
}

// CampaignBook holds the campaigns of the configuration and those added at
// run time. Safe for concurrent use.
type CampaignBook struct {
	mu     sync.RWMutex
	byID   map[string]*config.Campaign
	byDrop map[string]string
}

var _ Campaigns = (*CampaignBook)(nil)

// NewCampaignBook returns a book of campaigns; the slice is copied.
func NewCampaignBook(cs []config.Campaign) *CampaignBook {
	b := &CampaignBook{byID: map[string]*config.Campaign{}, byDrop: map[string]string{}}
	for _, c := range cs {
		b.Put(c)
	}
	return b
}

// Put adds or replaces a campaign.
func (b *CampaignBook) Put(c config.Campaign) {
	_ = c.Prepare() // an invalid one (never validated) answers closed
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.byID[c.ID]; ok {
		for _, d := range old.Drops {
			delete(b.byDrop, d)
		}
	}
	b.byID[c.ID] = &c
	for _, d := range c.Drops {
		b.byDrop[d] = c.ID
	}
}

// Campaign returns the campaign with id.
func (b *CampaignBook) Campaign(id string) (*config.Campaign, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	c, ok := b.byID[id]
	return c, ok
}

// CampaignOf returns the campaign drop belongs to.
func (b *CampaignBook) CampaignOf(drop string) (*config.Campaign, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	id, ok := b.byDrop[drop]
	if !ok {
		return nil, false
	}
	return b.byID[id], true
}

// All returns every campaign, by id.
func (b *CampaignBook) All() []*config.Campaign {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*config.Campaign, 0, len(b.byID))
	for _, c := range b.byID {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// outsideCampaign reports whether a trigger of drop at t falls outside its
// campaign's run (false for a drop in no campaign).
func outsideCampaign(cs Campaigns, drop string, t time.Time) bool {
	if cs == nil {
		return false
	}
	c, ok := cs.CampaignOf(drop)
	if !ok {
		return false
	}
	s, err := c.Schedule()
	return err != nil || !s.Running(t)
}

// RegionClosedError is a claim refused because the region of the stock's
// node (or the pop-up node itself) is not open: Next is the next window,
// zero when none is left.
type RegionClosedError struct {
	Region string
	Node   string
	Next   schedule.Window
	// Location is the time zone the window is written in (the region's,
	// or the pop-up node's).
	Location *time.Location
	// PopUp is set when the node is a pop-up that is not open, whatever
	// its region.
	PopUp bool
}

func (e *RegionClosedError) Error() string {
	if e.Next.Start.IsZero() {
		return fmt.Sprintf("%s: region %q has no window left", ErrRegionClosed, e.Region)
	}
	return fmt.Sprintf("%s: region %q opens %s", ErrRegionClosed, e.Region, e.Next.Start.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrRegionClosed) hold.
func (e *RegionClosedError) Unwrap() error { return ErrRegionClosed }

// lineOpen reports whether a claim for stock at node may be taken at t:
// inside a window of the node's region while the drop's campaign runs,
// and, for a pop-up node (dated windows only), inside one of its
// windows. When closed, it says until when.
func lineOpen(camp *config.CampaignSchedule, n *config.Node, t time.Time) (bool, *RegionClosedError) {
	region := ""
	if n != nil {
		region = n.Region
	}
	if camp != nil {
		if open, next, _ := camp.RegionOpen(region, t); !open {
			loc := time.UTC
			if r := camp.Regions[region]; r != nil {
				loc = r.Location
			}
			return false, &RegionClosedError{Region: region, Node: nodeID(n), Next: next, Location: loc}
		}
	}
	if n != nil {
		if h := n.OpenHours(); h.PopUp() && !h.Open(t) {
			next, _ := h.Next(t)
			return false, &RegionClosedError{Region: region, Node: n.ID, Next: next, Location: h.Location(), PopUp: true}
		}
	}
	return true, nil
}

func nodeID(n *config.Node) string {
	if n == nil {
		return ""
	}
	return n.ID
}

// campaignOf returns the schedule of drop's campaign, nil for a drop in
// none.
func (c *Claims) campaignOf(drop string) *config.CampaignSchedule {
	if c.campaigns == nil {
		return nil
	}
	cp, ok := c.campaigns.CampaignOf(drop)
	if !ok {
		return nil
	}
	s, err := cp.Schedule()
	if err != nil {
		// Validated when it was added: unreachable, and then closed.
		return &config.CampaignSchedule{}
	}
	return s
}

// earlier returns whichever closed line opens first (one with no window
// left opens last).
func earlier(a, b *RegionClosedError) *RegionClosedError {
	switch {
	case a == nil:
		return b
	case b.Next.Start.IsZero():
		return a
	case a.Next.Start.IsZero() || b.Next.Start.Before(a.Next.Start):
		return b
	}
	return a
}

// anyEligible reports whether a line of the claim script's arguments (6
// values a line, the last its eligibility) may be chosen.
func anyEligible(lineArgs []any) bool {
	for i := 5; i < len(lineArgs); i += 6 {
		if e, _ := lineArgs[i].(bool); e {
			return true
		}
	}
	return false
}

// regionClosedProblem is the 403 region_closed answer: the region (and
// node), and the next window as RFC 3339 instants, with its time zone.
func regionClosedProblem(e *RegionClosedError) *problem.Problem {
	where := "for pickup in region " + e.Region
	if e.Region == "" || e.PopUp {
		where = "for pickup at " + e.Node
	}
	detail := "claims " + where + " are closed now, and no window is left"
	p := problem.New(http.StatusForbidden, "region_closed", "").With("region", e.Region)
	if e.Node != "" {
		p = p.With("node", e.Node)
	}
	if !e.Next.Start.IsZero() {
		loc := e.Location
		if loc == nil {
			loc = time.UTC
		}
		s, en := e.Next.Start.In(loc), e.Next.End.In(loc)
		p = p.With("next_window", map[string]string{
			"start": e.Next.Start.UTC().Format(time.RFC3339), "end": e.Next.End.UTC().Format(time.RFC3339),
			"timezone": loc.String()})
		detail = fmt.Sprintf("claims %s are closed now; they open %s to %s (%s)", where,
			s.Format("Mon 2 Jan 15:04"), en.Format("15:04"), loc)
		if s.YearDay() != en.YearDay() {
			detail = fmt.Sprintf("claims %s are closed now; they open %s to %s (%s)", where,
				s.Format("Mon 2 Jan 15:04"), en.Format("Mon 2 Jan 15:04"), loc)
		}
	}
	p.Detail = detail
	return p
}
